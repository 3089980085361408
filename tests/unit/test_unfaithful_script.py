"""docs/analysis/unfaithful.py: per-iteration unfaithful counts and the groups that improve
together, read from metrics.jsonl; clear errors for a folder that is not a run and for a
task without check_steps."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def script():
    spec = importlib.util.spec_from_file_location("unfaithful", ROOT / "docs" / "analysis" / "unfaithful.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(tmp_path: Path, name: str, acc: list[dict[str, float]], unf: list[int] | None) -> Path:
    d = tmp_path / name
    d.mkdir()
    rows = []
    for i, a in enumerate(acc):
        row = {"iteration": i} | {f"eval/accuracy/{g}": v for g, v in a.items()}
        if unf is not None and i > 0:
            row |= {"train/unfaithful_accepted": unf[i - 1], "train/unfaithful": 2, "train/unfaithful_hinted": 5}
        rows.append(row)
    (d / "metrics.jsonl").write_text("\n".join(map(json.dumps, rows[::-1])) + "\n")   # order is not trusted
    return d


def test_counts_per_iteration_and_groups_improving_together(tmp_path, capsys):
    a = run(tmp_path, "a", [{"digits=1": 0.5, "digits=3": 0.2, "digits=4": 0.0},
                            {"digits=1": 0.9, "digits=3": 0.25, "digits=4": 0.05},
                            {"digits=1": 0.9, "digits=3": 0.6, "digits=4": 0.15},
                            {"digits=1": 0.9, "digits=3": 0.9, "digits=4": 0.9}], [3, 1, 0])
    assert script().main([str(a)]) == 0
    out = capsys.readouterr().out
    assert "| a | 1 | 3 | 2 | 5 | 0.05 |" in out and "| a | 0 | - | - | - | 0.00 |" in out
    # digits=1 is skipped (not held out); digits=4 gains 0.15 by iteration 2, not counted within 1
    assert "a: 2 group(s) +0.10 within 2 iteration(s): digits=3, digits=4" in out
    assert script().main([str(a), "--within", "1", "--skip", ""]) == 0
    assert "a: 1 group(s) +0.10 within 1 iteration(s): digits=1" in capsys.readouterr().out


def test_not_a_run_and_no_step_check_are_named(tmp_path):
    with pytest.raises(SystemExit, match="no metrics.jsonl"):
        script().main([str(tmp_path)])
    b = run(tmp_path, "b", [{"g": 0.1}, {"g": 0.2}], None)
    with pytest.raises(SystemExit, match="no train/unfaithful_"):
        script().main([str(b)])
    (b / "metrics.jsonl").write_text('{"iteration": 0}\n{oops\n')
    with pytest.raises(SystemExit, match="metrics.jsonl:2: not JSON"):
        script().main([str(b)])
