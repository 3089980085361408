"""End to end: algorithm=grpo (TRL's GRPOTrainer) on the smoke preset's tiny model, 2 rounds.

Checks the run directory (each round's adapter is TRL's checkpoint, eval samples, metrics),
the metrics rows (iterations 0, 1, 2 with eval accuracy per group and GRPO's train/* figures),
that round 2 continues round 1's adapter and optimizer, and resume: a finished run reruns as
a no-op, and a run killed with SIGKILL during round 2 finishes, on rerun, with the metrics of
an uninterrupted run and no duplicated row.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# 2 rounds of 2 steps, 2 prompts x 4 completions a step; beta > 0 exercises TRL's KL term
GRPO = [sys.executable, "-m", "star.cli", "run", "experiment=smoke", "algorithm=grpo", "loop.iterations=2",
        "algorithm.steps_per_round=2", "algorithm.num_generations=4", "algorithm.batch_size=8",
        "algorithm.beta=0.01", "algorithm.reward.format=0.1", "algorithm.lr=1e-3"]


def star_run(tmp: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*GRPO, f"out_dir={tmp}", *overrides], capture_output=True, text=True, cwd=tmp,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"star run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def results(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows(run)]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("grpo")
    star_run(tmp, "run_name=ref")
    return tmp / "arithmetic" / "ref"


def test_layout(finished: Path):
    assert json.loads((finished / "manifest.json").read_text())["results_config"]["algorithm.name"] == "grpo"
    assert sorted(p.name for p in (finished / "iter_000").iterdir()) == [
        "DONE", "TRACKED", "eval.jsonl", "metrics.json", "seconds.json"]
    for t in (1, 2):
        it = finished / f"iter_{t:03d}"
        assert {"adapter", "eval.jsonl", "metrics.json", "seconds.json", "DONE"} <= {p.name for p in it.iterdir()}
        adapter = {p.name for p in (it / "adapter").iterdir()}
        assert {"adapter_config.json", "adapter_model.safetensors", "optimizer.pt", "scheduler.pt",
                "rng_state.pth", "trainer_state.json", "train_log.json"} <= adapter
        assert not any(n.startswith("checkpoint-") for n in adapter)
        state = json.loads((it / "adapter" / "trainer_state.json").read_text())
        assert state["global_step"] == 2 * t


def test_metrics_rows(finished: Path):
    rs = rows(finished)
    assert [r["iteration"] for r in rs] == [0, 1, 2]
    for r in rs:
        evals = [json.loads(line) for line in (finished / f"iter_{r['iteration']:03d}" / "eval.jsonl").open()]
        assert len(evals) == r["eval/n"] == 32
        assert r["eval/accuracy"] == pytest.approx(sum(s["verdict"] == "correct" for s in evals) / len(evals))
        assert {"eval/accuracy/digits=1", "eval/accuracy/digits=2", "eval/tokens", "time/eval_s"} <= set(r)
    for r in rs[1:]:
        assert r["train/steps"] == 2 and r["train/completions"] == 2 * 8
        assert r["train/tokens"] > 0 and r["time/train_s"] > 0
        for key in ("train/reward", "train/reward_std", "train/kl", "train/completion_length",
                    "train/frac_reward_zero_std", "train/correct_rate"):
            assert isinstance(r[key], float), key
        assert 0 <= r["train/correct_rate"] <= 1 and 0 <= r["train/reward"] <= 1.1
        log = json.loads((finished / f"iter_{r['iteration']:03d}" / "adapter" / "train_log.json").read_text())
        assert [h["step"] for h in log["log_history"] if "reward" in h] == [2 * r["iteration"] - 1, 2 * r["iteration"]]


def test_round_two_continues_round_one(finished: Path):
    """Round 2 resumes round 1's checkpoint (global steps 3-4, not 1-2 again), and a round with a
    learning signal (a group whose rewards differ, hence a gradient) moves the adapter. Which
    round sees the first signal depends on the cold start, i.e. on the CPU's floats."""
    from safetensors.torch import load_file

    adapters = {t: load_file(finished / f"iter_{t:03d}" / "adapter" / "adapter_model.safetensors") for t in (1, 2)}
    logs = {t: json.loads((finished / f"iter_{t:03d}" / "adapter" / "train_log.json").read_text()) for t in (1, 2)}
    assert [h["step"] for h in logs[2]["log_history"] if "reward" in h] == [3, 4]
    signal = {t: any(h.get("grad_norm", 0) > 0 for h in logs[t]["log_history"]) for t in (1, 2)}
    assert any(signal.values()), "no group with differing rewards in 4 steps: the test cannot see GRPO learn"
    lora_b = [k for k in adapters[1] if "lora_B" in k]
    for t in (1, 2):  # LoRA B starts at zero: only a gradient moves it
        moved = any(adapters[t][k].abs().sum() > 0 for k in lora_b)
        assert moved == (signal[1] or (t == 2 and signal[2])), t
    if signal[2]:
        assert any(not (adapters[1][k] == adapters[2][k]).all() for k in adapters[1])


def test_rerun_of_finished_run_is_a_no_op(finished: Path):
    before = (finished / "metrics.jsonl").read_bytes()
    star_run(finished.parent.parent, "run_name=ref")
    assert (finished / "metrics.jsonl").read_bytes() == before


def test_killed_run_resumes_from_the_last_finished_round(finished: Path, tmp_path: Path):
    """SIGKILL while round 2 trains (round 1 is DONE); the rerun redoes round 2 only, from round
    1's checkpoint, and ends with the uninterrupted run's metrics, without a duplicated row."""
    proc = subprocess.Popen([*GRPO, f"out_dir={tmp_path}", "run_name=killed"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / "arithmetic" / "killed"
    deadline = time.time() + 300
    while not ((run / "iter_001" / "DONE").exists() and (run / "iter_002").is_dir()):
        assert proc.poll() is None, "the run ended before the kill point"
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "iter_002" / "DONE").exists()
    star_run(tmp_path, "run_name=killed")
    assert results(run) == results(finished)


@pytest.mark.slow
def test_rounds_under_accelerate_launch_keep_one_run_directory(tmp_path: Path):
    """trainer.launcher=accelerate: each round runs as 2 processes (DDP over gloo on CPU, the
    shipped ddp config), each with its own checker pool; rank 0 alone writes the round's
    checkpoint, and the round's counts add up both processes' completions."""
    star_run(tmp_path, "run_name=ddp", "loop.iterations=1", "trainer.launcher=accelerate", "trainer.num_processes=2")
    runs = [p for p in (tmp_path / "arithmetic").iterdir() if p.is_dir()]
    assert [p.name for p in runs] == ["ddp"]
    log = json.loads((runs[0] / "iter_001" / "adapter" / "train_log.json").read_text())
    assert log["processes"] == 2 and log["completions"] == 2 * 2 * 8  # steps x processes x batch
    assert [r["iteration"] for r in rows(runs[0])] == [0, 1]
