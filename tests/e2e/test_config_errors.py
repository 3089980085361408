"""Bad config fails at compose time with Hydra's message, before any model work."""

from __future__ import annotations

import subprocess
import sys

import pytest


def star(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "star.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.mark.parametrize("override,message", [
    ("trainer.lr=fast", "trainer.lr"),
    ("trainer.nonexistent=1", "nonexistent"),
    ("loop.iterations=two", "loop.iterations"),
    ("model=nosuchmodel", "nosuchmodel"),
    ("trainer.method=adapterz", "trainer.method"),
    ("task.no_such_arg=1", "no_such_arg"),
    ("task.train_size=abc", "task.train_size='abc' is not a valid int"),
    ("task.train_digits=[2,x]", "task.train_digits"),
    ("model.cold_start.target=2", "model.cold_start.target"),
    ("loop.voters=3", "loop.voters=3: more than one voter needs loop.labels=majority"),
    ("loop.voters=0", "loop.voters=0"),
])
def test_bad_config_fails_before_model_work(tmp_path, override, message):
    proc = star("run", "experiment=smoke", f"out_dir={tmp_path}", override, cwd=tmp_path)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (tmp_path / "arithmetic").exists() or not any((tmp_path / "arithmetic").rglob("iter_000"))


def test_unwritable_run_dir(tmp_path):
    (tmp_path / "blocker").write_text("a file where a directory should be")
    proc = star("run", "experiment=smoke", f"out_dir={tmp_path / 'blocker'}", cwd=tmp_path)
    assert proc.returncode != 0
    assert "cannot write the run directory" in proc.stderr


def test_help_lists_commands(tmp_path):
    proc = star("--help", cwd=tmp_path)
    assert proc.returncode == 0 and "run" in proc.stdout and "check" in proc.stdout


def test_a_wrong_type_in_a_benchmark_task_key_names_the_key(tmp_path):
    proc = star("run", "experiment=smoke", "task=gsm8k", "task.data_files=x.jsonl", "task.num_fewshot=two",
                f"out_dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode != 0 and "task.num_fewshot='two' is not a valid int" in proc.stderr
    assert "Traceback" not in proc.stderr
