"""`star tasks` and `star task-check`: the listing, a passing check, and failures that name rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from task_helpers import FIXTURES, ROOT

EXAMPLE = ROOT / "examples" / "letter_count"


def star(*args: str, cwd, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else None
    return subprocess.run([sys.executable, "-m", "star.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env=env)


def test_tasks_lists_built_ins_and_config_dirs(tmp_path):
    proc = star("tasks", "--config-dir", str(EXAMPLE / "conf"), cwd=tmp_path, pythonpath=str(EXAMPLE))
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert {"arithmetic", "gsm8k", "math", "commonsenseqa", "letter_count"} <= set(lines)
    assert "numeric answers" in lines["gsm8k"] and "[" not in lines["gsm8k"]
    assert "out-of-tree example" in lines["letter_count"] and str(EXAMPLE / "conf") in lines["letter_count"]


def test_tasks_without_the_module_on_the_path_says_so(tmp_path):
    proc = star("tasks", "--config-dir", str(EXAMPLE / "conf"), cwd=tmp_path)
    assert proc.returncode == 0
    assert "cannot import letter_count.LetterCount" in proc.stdout


def test_task_check_passes_on_fixtures(tmp_path):
    proc = star("task-check", "task=commonsenseqa", f"task.data_files={FIXTURES / 'commonsenseqa.jsonl'}",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "train: 4 problems" in out and "eval: 1 problems" in out
    assert "--- prompt" in out and "--- hinted prompt (hint:" in out and "(CORRECT)" in out
    assert "gold answers accepted by the checker: 5/5" in out and out.rstrip().endswith("OK")


def test_task_check_lists_failing_rows(tmp_path):
    rows = [{"problem": "p1", "solution": "so $\\boxed{3}$", "answer": "3", "unique_id": "ok"},
            {"problem": "p2", "solution": "so $\\boxed{5}$", "answer": "4", "unique_id": "mismatch"},
            {"problem": "p3", "solution": "so $\\boxed{x}$", "answer": "x", "unique_id": "ok2"}]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = star("task-check", "task=math", f"task.data_files={path}", "task.eval_size=1", cwd=tmp_path)
    assert proc.returncode == 1
    assert "FAILED: 1 failing row(s)" in proc.stdout
    assert "[solution] mismatch: gold '4', answer '5': incorrect" in proc.stdout


def test_task_check_reports_bad_rows_by_file_and_line(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"question": "q", "answer": "#### 1"}\n{"question": "q2", "answer": "#### 2"\n')
    proc = star("task-check", "task=gsm8k", f"task.data_files={path}", cwd=tmp_path)
    assert proc.returncode == 1 and f"{path}:2: malformed JSON" in proc.stdout
    proc = star("task-check", "task=gsm8k", f"task.data_files={path}", "task.on_bad_row=skip",
                "task.eval_size=0", cwd=tmp_path)
    assert proc.returncode == 1  # the eval split is now empty
    assert "bad rows skipped: 1" in proc.stdout and f"{path}:2" in proc.stdout


def test_task_check_without_data_names_the_key(tmp_path):
    proc = star("task-check", "task=gsm8k", cwd=tmp_path)
    assert proc.returncode == 1 and "task.data_files=PATH" in proc.stderr


def test_task_check_unknown_task(tmp_path):
    proc = star("task-check", "task=nosuchtask", cwd=tmp_path)
    assert proc.returncode == 2 and "nosuchtask" in proc.stderr


def test_task_check_out_of_tree(tmp_path):
    proc = star("task-check", "task=letter_count", "--config-dir", str(EXAMPLE / "conf"), "task.eval_size=20",
                cwd=tmp_path, pythonpath=str(EXAMPLE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "eval: 20 problems" in proc.stdout


def test_task_check_on_the_benchmark_based_example(tmp_path):
    """examples/capitals: your own JSONL file, a Benchmark subclass, through --config-dir."""
    capitals = ROOT / "examples" / "capitals"
    proc = star("task-check", "--config-dir", str(capitals / "conf"), "task=capitals",
                f"task.data_files={capitals / 'capitals.jsonl'}", "task.prompt_style=chat",
                cwd=tmp_path, pythonpath=str(capitals))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[system]" not in proc.stdout and "[user]\nAnswer in one sentence" in proc.stdout
    assert "gold answers accepted by the checker: 10/10" in proc.stdout
