"""star report --x tokens|seconds: STaR and GRPO runs on one axis of work, and GRPO's rows in
the table (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from star import report
from star.report_cli import report_main
from star.rundir import atomic_write_json

PNG = b"\x89PNG\r\n\x1a\n"


def make_run(path: Path, algorithm: str, accs: list[float]) -> Path:
    path.mkdir(parents=True)
    rows = []
    for t, acc in enumerate(accs):
        r = {"iteration": t, "eval/n": 40, "eval/accuracy": acc, "eval/accuracy_lo": acc - 0.1,
             "eval/accuracy_hi": acc + 0.1, "eval/accuracy/digits=3": acc / 2, "eval/tokens": 1000,
             "time/eval_s": 2.0}
        if t and algorithm == "star":
            r |= {"train/problems": 50, "train/solved": 10, "train/rationalized": 2, "train/accepted": 12,
                  "train/tokens": 3000, "train/rationale_tokens": 55.0, "time/generate_s": 4.0, "time/train_s": 20.0}
        if t and algorithm == "grpo":
            r |= {"train/reward": 0.25 * t, "train/tokens": 5000, "train/steps": 10, "time/train_s": 30.0}
        rows.append(r)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    atomic_write_json(path / "manifest.json", {"results_config": {"algorithm.name": algorithm}})
    return path


def test_work_sums_tokens_and_seconds_over_the_iterations_so_far(tmp_path):
    rows = report.load_run(make_run(tmp_path / "s", "star", [0.5, 0.6, 0.7])).rows
    assert report.work(rows) == [0, 1, 2]
    assert report.work(rows, "tokens") == [1000, 5000, 9000]  # eval, then + train + eval each iteration
    assert report.work(rows, "seconds") == [2.0, 28.0, 54.0]  # every time/*_s key
    with pytest.raises(ValueError, match="x-axis"):
        report.work(rows, "epochs")


def test_star_and_grpo_runs_share_a_table_and_a_figure(tmp_path):
    runs = report.load([make_run(tmp_path / "star", "star", [0.5, 0.6]), make_run(tmp_path / "grpo", "grpo", [0.5, 0.7])])
    assert [r.label for r in runs] == ["algorithm.name=star", "algorithm.name=grpo"]
    text = report.render(runs, x="tokens")
    assert "reward: GRPO's mean reward" in text and "tokens: generated tokens so far" in text
    headers = [line.split() for line in text.splitlines() if line.lstrip().startswith("iter")]
    assert headers[0] == ["iter", "tokens", "overall", "digits=3", "solved", "rationalized", "accepted"]
    assert headers[1] == ["iter", "tokens", "overall", "digits=3", "reward"]
    assert "7,000" in text and "0.250" in text  # GRPO: eval + train + eval tokens; round 1 reward
    for x in report.AXES:
        assert report.plot(runs, x=x).startswith(PNG)
    out = tmp_path / "cmp.md"
    assert report_main([str(tmp_path), "--x", "seconds", "--format", "markdown", "-o", str(out)]) == 0
    assert "| iter | seconds | overall |" in out.read_text() and out.with_suffix(".png").read_bytes().startswith(PNG)
