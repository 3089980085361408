"""End to end: `star verifier` on a smoke run (tiny sizes, a few steps), and `star eval
--verifier`: the folder and its key, a PeftModel-loadable adapter, both objectives, cached
scores with bon@k/wmaj@k rows, no eval problem in the data even when the eval files are
garbled and eval samples are planted in the training side, and a training killed with
SIGKILL that, rerun, ends with the weights of an uninterrupted one."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from verifier_helpers import adapter, killed_and_redone, lines, smoke_run, star

pytestmark = pytest.mark.slow  # a smoke run, then several trainings of a tiny verifier: a few minutes on 2 cores

SAMPLES = ["--samples", "4"]  # the smoke run alone has few problems with a right and a wrong sample




@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return smoke_run(tmp_path_factory.mktemp("verifier"))


@pytest.fixture(scope="module")
def trained(run: Path) -> Path:
    proc = star("verifier", str(run), *SAMPLES, "verifier.steps=4", "verifier.batch_size=2")
    folder = Path(proc.stdout.strip().splitlines()[-1])
    assert folder.parent == run / "verifier" and folder.name.startswith("dpo-")
    return folder


def test_a_verifier_trains_on_the_runs_own_samples(run: Path, trained: Path):
    info = json.loads((trained / "verifier.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    assert info["objective"] == "dpo" and info["iterations"] == [1, 2] and info["train"]["steps"] == 4
    assert info["base"]["hash"] == manifest["models"]["starting_model"]["hash"]
    assert trained.name == f"dpo-{info['key'][:12]}" and info["data"]["pairs"] == len(lines(trained / "pairs.jsonl"))
    assert {p.name for p in trained.iterdir()} == {"verifier.json", "pairs.jsonl", "adapter", "train_log.json"}
    # extra samples: 4 per training problem from the model that wrote each iteration's samples, cached
    cached = sorted((run / "verifier" / "samples").glob("k4-T0.7-*/iter_*.jsonl"))
    assert [p.name for p in cached] == ["iter_001.jsonl", "iter_002.jsonl"]
    assert {s["index"] for s in lines(cached[0])} == {0, 1, 2, 3}
    # every pair is a correct and an incorrect completion of one training problem, under its training prompt
    train_prompts = {s["problem_id"]: s["train_prompt"] for s in lines(run / "iter_001" / "samples.jsonl")}
    for p in lines(trained / "pairs.jsonl"):
        assert p["prompt"] == train_prompts[p["problem_id"]] and p["chosen"] != p["rejected"]
    # the same command finds it again, without training
    t0 = time.perf_counter()
    again = star("verifier", str(run), *SAMPLES, "verifier.steps=4", "verifier.batch_size=2")
    assert Path(again.stdout.strip().splitlines()[-1]) == trained and "trained already" in again.stderr
    assert time.perf_counter() - t0 < 120


def test_the_adapter_loads_with_peft_and_scores(run: Path, trained: Path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from star import verifiers
    from star.config import ModelConfig

    info = json.loads((trained / "verifier.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(info["base"]["path"])
    model = PeftModel.from_pretrained(base, str(trained / "adapter"))
    assert any("lora_B" in n and w.abs().sum() > 0 for n, w in model.named_parameters())
    scorer = verifiers.load(trained, Path(info["base"]["path"]), ModelConfig(dtype="float32"), info["base"]["hash"])
    pair = lines(trained / "pairs.jsonl")[0]
    scores = scorer.score([pair["prompt"]] * 2, [pair["chosen"], pair["rejected"]])
    assert all(isinstance(x, float) for x in scores) and scores[0] != scores[1]
    with pytest.raises(ValueError, match="trained on the starting model"):
        verifiers.load(trained, Path(info["base"]["path"]), ModelConfig(dtype="float32"), "another")


def test_star_eval_adds_best_of_k_and_weighted_majority(run: Path, trained: Path):
    args = ["eval", str(run), "--iterations", "0,2", "--verifier", "dpo", "eval.k=1,2"]
    proc = star(*args)
    assert "bon@k" in proc.stdout and "wmaj@k" in proc.stdout and "scoring 64 candidates" in proc.stdout
    settings = next((run / "eval_k").iterdir())
    rows = json.loads((settings / f"scaling-{trained.name}.json").read_text())
    for r in rows:
        assert {"eval/bon@2", "eval/wmaj@2", "eval/bon@2_lo", "eval/wmaj@1/digits=1"} <= set(r)
        assert r["eval/bon@1"] == pytest.approx(r["eval/pass@1"])  # one candidate: nothing to choose
        assert r["eval/score_candidates"] == 64 and r["eval/score_tokens"] > 0
    scores = settings / "scores" / trained.name / "iter_000.jsonl"
    assert len(lines(scores)) == 64 and (settings / f"scaling-{trained.name}_tokens.png").is_file()
    before = scores.stat().st_mtime_ns
    again = json.loads(json.dumps(rows))
    star(*args)  # scored once: the second call reads the scores back
    assert scores.stat().st_mtime_ns == before
    assert json.loads((settings / f"scaling-{trained.name}.json").read_text()) == again


def test_the_orm_objective_trains_a_value_head(run: Path, trained: Path):
    proc = star("verifier", str(run), *SAMPLES, "verifier.objective=orm", "verifier.steps=4", "verifier.batch_size=2")
    folder = Path(proc.stdout.strip().splitlines()[-1])
    assert folder.name.startswith("orm-") and folder.parent == trained.parent
    config = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    assert config["task_type"] == "SEQ_CLS" and "score" in (config.get("modules_to_save") or [])
    assert lines(folder / "pairs.jsonl") == lines(trained / "pairs.jsonl")  # the same data, another objective
    proc = star("eval", str(run), "--iterations", "0", "--verifier", folder.name, "eval.k=1,2")
    assert "bon@k" in proc.stdout


def test_no_eval_problem_or_answer_reaches_the_verifier(run: Path, trained: Path, tmp_path: Path):
    """Garble every eval file (reading one would fail) and plant samples of eval problems in
    the training side (their ids, and their questions under a training id): the verifier's
    data holds none of them."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("eval_k", ".lock", "dpo-*", "orm-*"))
    evals = lines(run / "iter_000" / "eval.jsonl")
    train_prompts = {s["train_prompt"] for s in lines(run / "iter_001" / "samples.jsonl")}
    eval_only = {s["train_prompt"] for s in evals} - train_prompts  # 1-digit sums also appear in training
    assert eval_only
    for f in copy.rglob("eval.jsonl"):
        f.write_text("{ garbled: never read by the verifier\n")
    planted = []
    samples = lines(copy / "iter_001" / "samples.jsonl")
    victim = samples[0]["problem_id"]
    for i, e in enumerate(e for e in evals if e["train_prompt"] in eval_only):
        for verdict in ("correct", "incorrect"):
            planted.append({**e, "index": 10 + i, "completion": f"LEAK {i} {verdict}", "verdict": verdict})
            planted.append({**e, "problem_id": victim, "index": 50 + i, "completion": f"LEAK {i} {verdict}",
                            "verdict": verdict})
    (copy / "iter_001" / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples + planted))
    proc = star("verifier", str(copy), *SAMPLES, "verifier.steps=2", "verifier.batch_size=2")
    assert "not of a training problem" in proc.stderr
    folder = Path(proc.stdout.strip().splitlines()[-1])
    made = lines(folder / "pairs.jsonl")
    assert made and "LEAK" not in (folder / "pairs.jsonl").read_text()
    assert not {p["prompt"] for p in made} & eval_only
    assert not {p["problem_id"] for p in made} & {e["problem_id"] for e in evals}



def test_a_killed_training_is_redone_to_the_same_weights(run: Path, trained: Path, tmp_path: Path):
    args = [*SAMPLES, "verifier.steps=300", "verifier.batch_size=2"]
    reference, redone = killed_and_redone(run, tmp_path, args, "dpo", "pairs.jsonl", settle=4)
    import torch

    a, b = adapter(reference), adapter(redone)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert lines(redone / "pairs.jsonl") == lines(reference / "pairs.jsonl")
