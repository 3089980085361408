"""The built-in tasks on the real published data in ../shared/datasets (skipped, with the
reason, where that folder is absent): `star task-check` passes on every row.

GSM8K: all 1,319 test rows (gold `#### N`, commas included, and the worked solution's
answer). MATH-500: all 500 rows, the last `\\boxed{}` of every solution accepted against
`answer`. CommonsenseQA: all 1,221 dev rows. Checks run in a CheckPool of 2 workers, as
in a run; the three take a few seconds together.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from task_helpers import build_task

from star.checkers import CheckPool
from star.checkers.extract import last_boxed
from star.task_cli import check_task
from star.types import Verdict

CASES = [("gsm8k", "gsm8k_test.jsonl", 1319), ("math", "math500.jsonl", 500),
         ("commonsenseqa", "commonsenseqa_dev.jsonl", 1221)]


@pytest.fixture(scope="module")
def pool():
    with CheckPool(workers=2, timeout=10.0) as p:
        yield p


@pytest.mark.parametrize("name,file,rows", CASES)
def test_task_check_passes_on_every_row(shared_datasets, pool, name, file, rows):
    task = build_task(name, f"task.data_files={shared_datasets / file}")
    report = check_task(task, pool)
    assert not report.failures, "\n".join(f"{f.check} {f.problem}: {f.detail}" for f in report.failures[:20])
    assert len(task.load("train")) + len(task.load("eval")) == rows
    assert task.bad_rows() == []
    assert any(line == f"gold answers accepted by the checker: {rows}/{rows}" for line in report.lines)
    if name != "commonsenseqa":  # rows with worked solutions
        assert f"worked solutions' answers accepted against the gold: {rows}/{rows}" in report.lines


def test_math500_last_box_of_every_solution_is_the_answer(shared_datasets, pool):
    rows = [json.loads(line) for line in (shared_datasets / "math500.jsonl").read_text().splitlines()]
    pairs = [(r["answer"], last_boxed(r["solution"])[1]) for r in rows]
    verdicts = pool.check(build_task("math", f"task.data_files={shared_datasets / 'math500.jsonl'}").checker, pairs)
    wrong = [(r["unique_id"], g, p, v) for r, (g, p), v in zip(rows, pairs, verdicts, strict=True) if v is not Verdict.CORRECT]
    assert len(rows) == 500 and not wrong


def test_star_task_check_command(shared_datasets, tmp_path):
    """The command line itself, on GSM8K (the acceptance command)."""
    proc = subprocess.run([sys.executable, "-m", "star.cli", "task-check", "task=gsm8k",
                           f"task.data_files={shared_datasets / 'gsm8k_test.jsonl'}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "gold answers accepted by the checker: 1319/1319" in proc.stdout
