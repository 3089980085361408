"""`star check`: JSONL in, JSONL out, summary on stderr; 1,000 hostile rows in a row."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from hostile_inputs import HOSTILE

from star.check_cli import main

ROWS = [
    {"id": "a", "gold": "1/2", "pred": "The answer is $0.5$."},
    {"id": "b", "gold": r"\frac{1}{2^{99}}", "pred": r"\frac{1}{2^{98}}"},
    {"gold": "x^2-1", "pred": "(x-1)(x+1)"},
    {"id": 7, "gold": "3", "pred": None},
    {"id": "e", "gold": 42, "pred": 42.0},
]


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_files_in_files_out(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.jsonl"
    assert main([str(_write(tmp_path / "in.jsonl", ROWS)), "-o", str(out), "--workers", "1"]) == 0
    rows = _read(out)
    assert [r["id"] for r in rows] == ["a", "b", 2, 7, "e"]
    assert [r["verdict"] for r in rows] == ["correct", "incorrect", "correct", "incorrect", "correct"]
    assert all(isinstance(r["seconds"], float) and r["seconds"] >= 0 for r in rows)
    err = capsys.readouterr().err
    assert "5 rows: 3 correct, 2 incorrect, 0 unverifiable" in err and "checks/s" in err


def test_stdin_stdout_and_other_checkers(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    rows = [{"gold": "B", "pred": "So the answer is (b)."}, {"gold": "D", "pred": "D"}]
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(json.dumps(r) + "\n" for r in rows)))
    assert main(["--checker", "choice", "--labels", "ABC"]) == 0
    verdicts = [json.loads(line)["verdict"] for line in capsys.readouterr().out.splitlines()]
    assert verdicts == ["correct", "unverifiable"]  # D is no label of ABC: gold unreadable


def test_malformed_rows_are_reported_and_answered(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _write(tmp_path / "in.jsonl", ['{"gold": "1", "pred": "1"}', "not json", '{"pred": "1"}', "", '{"gold": [1], "pred": "1"}'])
    out = tmp_path / "out.jsonl"
    assert main([str(src), "-o", str(out)]) == 1
    rows = _read(out)
    assert [r["verdict"] for r in rows] == ["correct", "unverifiable", "unverifiable", "unverifiable"]
    assert "line 2" in rows[1]["error"] and "line 3" in rows[2]["error"]
    assert "3 malformed" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert main(["--checker", "math", "--labels", "AB"]) == 2
    assert main(["--workers", "0"]) == 2
    assert main([str(tmp_path / "missing.jsonl")]) == 2
    with pytest.raises(SystemExit) as e:
        main(["--checker", "nope"])
    assert e.value.code == 2


def _hostile_rows(n: int) -> list[dict]:
    rows = []
    for k in range(n):
        h = HOSTILE[k % len(HOSTILE)]
        # unique pairs (no dedup shortcut), hostile text on either side
        rows.append({"id": k, "gold": str(k), "pred": h} if k % 3 else {"id": k, "gold": h, "pred": str(k)})
    return rows


def test_1000_hostile_rows_through_star_check(tmp_path: Path) -> None:
    """Every row answered in order, exit 0, memory flat, no process left behind."""
    src, out = _write(tmp_path / "in.jsonl", _hostile_rows(1000)), tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "star.check_cli", str(src), "-o", str(out), "--workers", "2", "--timeout", "2", "--batch-size", "100"]
    proc = psutil.Popen(cmd, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, int]] = []
    seen: set[int] = set()
    started = time.monotonic()
    while proc.poll() is None:
        try:
            family = [proc, *proc.children(recursive=True)]
            seen |= {p.pid for p in family[1:]}
            samples.append((time.monotonic() - started, sum(p.memory_info().rss for p in family)))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    stderr = proc.stderr.read()
    assert proc.returncode == 0, stderr
    rows = _read(out)
    assert [r["id"] for r in rows] == list(range(1000))
    assert {r["verdict"] for r in rows} <= {"correct", "incorrect", "unverifiable"}
    assert "1000 rows" in stderr
    assert all(not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE for pid in seen)
    # memory flat: the last third of the run peaks no higher than the first third + 40 MB
    if len(samples) >= 9:
        third = len(samples) // 3
        first, last = max(m for _, m in samples[:third]), max(m for _, m in samples[-third:])
        assert last - first < 40 * 1024 * 1024, (first, last)
