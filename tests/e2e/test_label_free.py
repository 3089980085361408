"""Label-free training (loop.labels=majority), end to end on the smoke preset.

No gold answer of the training split reaches training: the same run with every training
gold replaced by garbage writes byte-identical samples.jsonl and train.jsonl. On a
benchmark whose cold start takes worked solutions from the training split
(task.seed_size > 0), garbling the gold (answers and worked solutions) of the STaR pool's
rows changes nothing either: not the cold-started model, built in a model cache of each
run's own, nor any iteration's samples, train.jsonl or adapter, since the seed rows are
carved out of the pool. A data file without answers trains under majority labels and is
refused, naming the file and the field, under gold labels.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parent / "plugins"
FIXTURES = Path(__file__).resolve().parents[1] / "tasks" / "fixtures"
MAJORITY = ["loop.labels=majority", "generator.num_samples=4", "generator.temperature=0.8", "loop.max_per_problem=2",
            "loop.iterations=1"]


def star_run(tmp: Path, *overrides: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PLUGINS), "PYTHONUNBUFFERED": "1"}
    if cache is not None:  # a model cache of the run's own: nothing built by another run is reused
        env["STAR_CACHE_DIR"] = str(cache)
    return subprocess.run([sys.executable, "-m", "star.cli", "run", "experiment=smoke", f"out_dir={tmp}", *overrides],
                          capture_output=True, text=True, cwd=tmp, env=env, timeout=600)


@pytest.mark.parametrize("voters", [1, 2])
def test_no_gold_answer_reaches_training(tmp_path: Path, voters: int):
    real = star_run(tmp_path, "run_name=real", *MAJORITY, f"loop.voters={voters}")
    assert real.returncode == 0, real.stderr[-3000:]
    garbled = star_run(tmp_path, "run_name=garbled", "task._target_=garbled.GarbledArithmetic", *MAJORITY,
                       f"loop.voters={voters}")
    assert garbled.returncode == 0, garbled.stderr[-3000:]
    a, b = tmp_path / "arithmetic" / "real" / "iter_001", tmp_path / "arithmetic" / "garbled" / "iter_001"
    # each voter's 4 samples per problem, numbered 0..3 under its `voter`; each voter trained its own weights
    indices: dict[str, list[tuple[int, int]]] = {}
    for line in (a / "samples.jsonl").read_text().splitlines():
        indices.setdefault(json.loads(line)["problem_id"], []).append((json.loads(line)["voter"], json.loads(line)["index"]))
    assert set(map(tuple, indices.values())) == {tuple((v, i) for v in range(voters) for i in range(4))}
    assert (a / "adapter").is_dir() and (a / "peer1_adapter").is_dir() == (voters == 2)
    if voters == 2:
        assert (a / "adapter" / "adapter_model.safetensors").read_bytes() != (
            a / "peer1_adapter" / "adapter_model.safetensors").read_bytes()
    train = (a / "train.jsonl").read_bytes()
    assert train and train == (b / "train.jsonl").read_bytes()
    assert (a / "samples.jsonl").read_bytes() == (b / "samples.jsonl").read_bytes()
    row = json.loads((a / "metrics.json").read_text())
    garbled_row = json.loads((b / "metrics.json").read_text())
    assert row["train/pseudo_labeled"] == garbled_row["train/pseudo_labeled"] > 0
    assert row["train/accepted"] == garbled_row["train/accepted"] > 0
    # the pseudo-labels' agreement with each task's own (hidden) gold, recomputed here
    from star.tasks.arithmetic import Arithmetic

    sys.path.insert(0, str(PLUGINS))
    from garbled import GarbledArithmetic

    samples = [json.loads(line) for line in (a / "samples.jsonl").read_text().splitlines()]
    labels = {}
    for s in samples:
        if s["verdict"] == "correct":
            labels.setdefault(s["problem_id"], s["pred"])
    for task, r in ((Arithmetic, row), (GarbledArithmetic, garbled_row)):
        gold = {p.id: p.answer for p in task(train_size=48, eval_size=32, train_digits=(1, 2), eval_digits=(1, 2),
                                             seed_examples=(100, 200)).load("train")}
        agree = sum(int(labels[i]) == int(gold[i]) for i in labels) / len(labels)
        assert r["train/pseudo_label_accuracy"] == pytest.approx(agree, abs=1e-6)  # rounded to 6 places
    assert "train/pseudo_label_accuracy/digits=1" in row and row["train/rationalized"] == 0


def word_problems(n: int, start: int = 0) -> list[dict[str, str]]:
    """GSM8K rows (a worked solution ending `#### N`), easy enough for the smoke model to vote on."""
    rows = []
    for i in range(start, start + n):
        a, b = 3 + i % 17, 2 + (i * 7) % 11
        rows.append({"id": f"q{i}", "question": f"Ann has {a} apples and gets {b} more. How many apples does she have?",
                     "answer": f"{a} + {b} = <<{a}+{b}={a + b}>>{a + b}\n#### {a + b}"})
    return rows


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.slow  # two runs, each with a cold start of its own and two iterations: about 40 s
def test_no_gold_answer_reaches_training_or_the_cold_start_on_a_benchmark_with_seeds(tmp_path: Path):
    from star.tasks.gsm8k import GSM8K

    rows, evals = word_problems(40), write_rows(tmp_path / "eval.jsonl", word_problems(8, 100))
    real = write_rows(tmp_path / "real.jsonl", rows)
    seeded = dict(data_files={"train": str(real), "eval": str(evals)}, seed_size=8, num_fewshot=0)
    pool = {p.id for p in GSM8K(**seeded).load("train")}  # what the loop trains on

    def garble(answer: str) -> str:  # every number of the gold solution, the answer too; as many lines
        return re.sub(r"\d+", lambda m: str(int(m[0]) * 7919 % 1000 + 1), answer)

    garbled = write_rows(tmp_path / "garbled.jsonl", [{**r, "answer": garble(r["answer"])} if r["id"] in pool else r
                                                      for r in rows])
    gold = {p.id: p.answer for p in GSM8K(**seeded).load("train")}
    garbled_gold = {p.id: p.answer for p in GSM8K(**{**seeded, "data_files": {"train": str(garbled),
                                                                              "eval": str(evals)}}).load("train")}
    assert gold.keys() == garbled_gold.keys() and all(gold[i] != garbled_gold[i] for i in gold)
    common = ["task=gsm8k", "task.num_fewshot=0", "task.seed_size=8", "generator.max_new_tokens=32",
              *MAJORITY, "loop.iterations=2"]
    for arm, train in (("real", real), ("garbled", garbled)):
        ran = star_run(tmp_path, f"run_name={arm}", f"task.data_files={{train: {train}, eval: {evals}}}", *common,
                       cache=tmp_path / f"cache-{arm}")
        assert ran.returncode == 0, ran.stderr[-3000:]
    # the cold start: the same examples (the cache key), the same weights, built twice
    models = {arm: sorted((tmp_path / f"cache-{arm}" / "cold_start").glob("*/model.safetensors")) for arm in
              ("real", "garbled")}
    assert len(models["real"]) == 1 and [m.parent.name for m in models["real"]] == [
        m.parent.name for m in models["garbled"]]
    assert models["real"][0].read_bytes() == models["garbled"][0].read_bytes()
    a, b = tmp_path / "gsm8k" / "real", tmp_path / "gsm8k" / "garbled"
    for t in (1, 2):
        it_a, it_b = a / f"iter_{t:03d}", b / f"iter_{t:03d}"
        for name in ("samples.jsonl", "train.jsonl"):
            assert (it_a / name).read_bytes() == (it_b / name).read_bytes(), (t, name)
        assert (it_a / "train.jsonl").read_bytes(), f"iteration {t} accepted nothing: the comparison is empty"
        assert (it_a / "adapter" / "adapter_model.safetensors").read_bytes() == (
            it_b / "adapter" / "adapter_model.safetensors").read_bytes(), t
    rows_a = [json.loads(line) for line in (a / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("train/pseudo_labeled") for r in rows_a] == [r.get("train/pseudo_labeled") for r in rows_b]
    # the garbled gold is measured against, never used: no pseudo-label agrees with it
    assert all(r["train/pseudo_label_accuracy"] == 0 for r in rows_b[1:])


def test_a_train_file_without_answers(tmp_path: Path):
    rows = [json.loads(line) for line in (FIXTURES / "gsm8k.jsonl").read_text().splitlines()]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"question": r["question"]}) + "\n" for r in rows))
    data = f"task.data_files={{train: {tmp_path / 'train.jsonl'}, eval: {FIXTURES / 'gsm8k.jsonl'}}}"
    common = ["task=gsm8k", data, "task.num_fewshot=0", "generator.max_new_tokens=24", "model.cold_start.enabled=false"]
    refused = star_run(tmp_path, "run_name=gold", *common)
    assert refused.returncode != 0
    assert f"{tmp_path / 'train.jsonl'}:1: no 'answer' field" in refused.stderr, refused.stderr[-2000:]
    assert "loop.labels=majority" in refused.stderr and "Traceback" not in refused.stderr
    ran = star_run(tmp_path, "run_name=majority", *common, *MAJORITY)
    assert ran.returncode == 0, ran.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "gsm8k" / "majority" / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1] and "train/pseudo_labeled" in rows[1]
    assert "train/pseudo_label_accuracy" not in rows[1]  # no gold to measure against
