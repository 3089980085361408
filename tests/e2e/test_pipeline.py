"""End to end: algorithm=pipeline on the smoke preset's tiny model: a STaR iteration, GRPO
rounds, then a STaR iteration on the GRPO model, in one run directory (GRPO then STaR is
experiment=r1_recipe's shape; the first STaR stage makes sure the first handoff merges an
adapter that moved, which GRPO's 4 toy steps may not).

Checks the layout (a folder per stage, each a run directory; the merged starting models;
one metrics.jsonl whose rows name their stage), that a stage starts from the previous
stage's final model (its iteration 0 evaluates the same greedy completions as the previous
stage's last iteration, and it trains from the merged model), that `star report --x tokens`
draws the stages on one axis, and resume: a finished run reruns as a no-op, and a run killed
with SIGKILL in its second stage (while merging its starting model, or in its second GRPO
round) finishes with the uninterrupted run's numbers, its first stage untouched.
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

# 1 STaR iteration; 2 GRPO rounds of 2 steps, 2 prompts x 4 completions a step (test_grpo's sizes); 1 STaR iteration
STAGES = ("algorithm.stages=[{algorithm: star, overrides: {loop: {iterations: 1}}},"
          " {algorithm: grpo, overrides: {algorithm: {steps_per_round: 2, num_generations: 4, batch_size: 8, lr: 0.001,"
          " reward: {format: 0.1}}, loop: {iterations: 2}}}, {algorithm: star, overrides: {loop: {iterations: 1}}}]")
ORDER = [("star", 1, 0), ("star", 1, 1), ("grpo", 2, 0), ("grpo", 2, 1), ("grpo", 2, 2), ("star", 3, 0), ("star", 3, 1)]
PIPELINE = [sys.executable, "-m", "star.cli", "run", "experiment=smoke", "algorithm=pipeline", STAGES]


def star_run(tmp: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*PIPELINE, f"out_dir={tmp}", *overrides], capture_output=True, text=True, cwd=tmp,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"star run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def results(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows(run)]


def completions(path: Path) -> list[tuple[str, str]]:
    return [(s["problem_id"], s["completion"]) for s in map(json.loads, path.read_text().splitlines())]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pipeline")
    star_run(tmp, "run_name=ref")
    return tmp / "arithmetic" / "ref"


STAR1, GRPO, STAR3 = "stage_1_star", "stage_2_grpo", "stage_3_star"


def test_layout_and_one_metrics_file(finished: Path):
    stages = [finished / name for name in (STAR1, GRPO, STAR3)]
    for stage in stages:
        for f in ("config.yaml", "manifest.json", "metrics.jsonl", "metrics.csv", "DONE"):
            assert (stage / f).is_file(), stage / f
    assert not (finished / "iter_000").exists()  # every iteration lives in its stage
    assert (finished / GRPO / "iter_002" / "adapter" / "trainer_state.json").is_file()  # TRL's checkpoint: GRPO ran there
    for star in (finished / STAR1, finished / STAR3):
        assert (star / "iter_001" / "train.jsonl").is_file() and (star / "iter_001" / "adapter").is_dir()
    assert [(r["stage"], r["stage_index"], r["iteration"]) for r in rows(finished)] == ORDER
    for index, stage in enumerate(stages, 1):  # the run's rows are its stages' rows, naming their stage
        own = [r for r in rows(finished) if r["stage_index"] == index]
        assert [{k: v for k, v in r.items() if k not in ("stage", "stage_index")} for r in own] == rows(stage)
    assert "train/accepted" in rows(finished)[1] and "train/reward" in rows(finished)[3]
    assert (finished / "accuracy.png").is_file() and (finished / "metrics.csv").is_file()


@pytest.mark.parametrize("previous,stage,weights", [(STAR1, GRPO, "iter_001/adapter"), (GRPO, STAR3, "iter_002/adapter")])
def test_a_stage_starts_from_the_previous_stages_final_model(finished: Path, previous: str, stage: str, weights: str):
    before, after = finished / previous, finished / stage
    start = after / "starting_model"
    assert (start / "config.json").is_file() and (start / "model.safetensors").is_file()
    manifest = json.loads((after / "manifest.json").read_text())
    assert Path(manifest["models"]["starting_model"]["path"]).resolve() == start.resolve()
    assert manifest["started_from"]["weights"] == weights and manifest["started_from"]["stage"] == previous
    assert str(start.resolve()) in (after / "config.yaml").read_text()
    if previous == STAR1:  # a STaR iteration that accepted samples moved its adapter: the merge is no identity
        from safetensors.torch import load_file

        adapter = load_file(before / weights / "adapter_model.safetensors")
        assert any(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k)
    # the merged model is the previous stage's last model: the same greedy completions on the eval split
    last = weights.split("/")[0]
    assert completions(after / "iter_000" / "eval.jsonl") == completions(before / last / "eval.jsonl")
    if stage == STAR3:
        init = json.loads((after / "iter_001" / "adapter" / "train_log.json").read_text())["init"]
        assert Path(init["model"]).resolve() == start.resolve() and init["adapter"] is None  # trainer.init=base
    else:  # GRPO trains its adapter on the merged model, and its KL reference is that model
        assert json.loads((after / "iter_001" / "adapter" / "adapter_config.json").read_text())[
            "base_model_name_or_path"] == str(start.resolve())


def test_report_draws_the_stages_on_one_axis(finished: Path, tmp_path: Path):
    from star import report

    (run,) = report.load([finished])
    xs, raw = report.work(run.rows, "tokens"), rows(finished)
    assert xs[2] == xs[1] and xs[5] == xs[4], "a stage's iteration 0 is the previous stage's last model: not counted again"
    assert xs[-1] == sum(r["train/tokens"] + r["eval/tokens"] for r in raw if r["iteration"]) + raw[0]["eval/tokens"]
    assert report.work(run.rows) == [0, 1, 1, 2, 3, 3, 4]
    out = tmp_path / "report.md"
    proc = subprocess.run([sys.executable, "-m", "star.cli", "report", str(finished), "--x", "tokens",
                           "--format", "markdown", "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "| stage | iter | tokens | overall |" in text and "| 2 grpo | 0 |" in text and "| 3 star | 1 |" in text
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")


def test_rerun_of_finished_run_is_a_no_op(finished: Path):
    before = (finished / "metrics.jsonl").read_bytes()
    start = (finished / GRPO / "starting_model" / "model.safetensors").stat().st_mtime_ns
    star_run(finished.parent.parent, "run_name=ref")
    assert (finished / "metrics.jsonl").read_bytes() == before
    assert (finished / GRPO / "starting_model" / "model.safetensors").stat().st_mtime_ns == start


@pytest.mark.parametrize("point,ready", [
    ("handoff", lambda run: (run / GRPO).is_dir()),
    ("round 2", lambda run: (run / GRPO / "iter_001" / "DONE").exists() and (run / GRPO / "iter_002").is_dir()),
])
def test_killed_in_the_second_stage_resumes_to_the_same_numbers(finished: Path, tmp_path: Path, point: str, ready):
    proc = subprocess.Popen([*PIPELINE, f"out_dir={tmp_path}", "run_name=killed"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / "arithmetic" / "killed"
    deadline = time.time() + 600
    while not ready(run):
        assert proc.poll() is None, "the run ended before the kill point"
        assert time.time() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stage1 = run / STAR1
    assert (stage1 / "DONE").exists() and not (run / GRPO / "DONE").exists()
    kept = {p: p.stat().st_mtime_ns for p in stage1.rglob("*") if p.is_file() and p.name != ".lock"}
    star_run(tmp_path, "run_name=killed")
    assert results(run) == results(finished)
    assert {p: p.stat().st_mtime_ns for p in stage1.rglob("*") if p.is_file() and p.name != ".lock"} == kept, \
        "a finished stage is never redone"
    assert not list((run / GRPO).glob(".starting_model.tmp-*"))
    for stage in (GRPO, STAR3):
        assert completions(run / stage / "iter_000" / "eval.jsonl") == completions(finished / stage / "iter_000" / "eval.jsonl")
