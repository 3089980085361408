"""The out-of-tree example task (examples/letter_count) through `--config-dir`: one STaR
iteration of the smoke preset on the tiny model, end to end. The tiny model scores about
zero here; the point is that a task living outside the repository runs the whole loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml
from task_helpers import ROOT

EXAMPLE = ROOT / "examples" / "letter_count"


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_example_task_runs_one_smoke_iteration(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLE), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "star.cli", "run", "--config-dir", str(EXAMPLE / "conf"),
           "experiment=smoke", "task=letter_count",
           "task.train_size=8", "task.eval_size=4", "model.cold_start.train.steps=10",
           "loop.iterations=1", f"out_dir={tmp_path}", "run_name=example"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "letter_count" / "example"
    assert yaml.safe_load((run / "config.yaml").read_text())["task"]["_target_"] == "letter_count.LetterCount"
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [0, 1]
    assert rows[1]["train/problems"] == 8 and rows[1]["eval/n"] == 4
    assert {"eval/accuracy/length=short", "eval/accuracy/length=long"} & set(rows[0])
    assert len(read_jsonl(run / "iter_001" / "samples.jsonl")) == 8
    for s in read_jsonl(run / "iter_001" / "rationalized.jsonl"):
        assert s["prompt"].startswith("(The answer is ") and not s["train_prompt"].startswith("(")
    assert (run / "iter_001" / "DONE").exists()
