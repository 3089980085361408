"""Bad config fails at compose time with Hydra's message, before any model work."""

from __future__ import annotations

import os
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
    # the review's combinations (issue 19): refused, naming the keys
    ("algorithm=grpo loop.labels=majority generator.num_samples=4 generator.temperature=0.7",
     "loop.labels=majority is not supported there"),
    ("algorithm=grpo loop.process_filter=task", "loop.process_filter=task"),
    ("model.name_or_path=/nonexistent/model", "model.name_or_path=/nonexistent/model: no such directory"),
    ("task._target_=no_such_module.Task", "task._target_='no_such_module.Task' cannot be imported"),
])
def test_bad_config_fails_before_model_work(tmp_path, override, message):
    proc = star("run", "experiment=smoke", f"out_dir={tmp_path}", *override.split(), cwd=tmp_path)
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert "Error getting class" not in proc.stderr  # Hydra's own log of it stays out
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


def test_a_hub_model_that_is_neither_cached_nor_reachable_fails_in_one_line(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-m", "star.cli", "run", "experiment=smoke", f"out_dir={tmp_path}",
                           "model=hf", "model.name_or_path=nobody/no-such-model"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "model.name_or_path=nobody/no-such-model is not in the local Hugging Face cache" in proc.stderr
    assert not (tmp_path / "arithmetic").exists()  # before any run directory


def test_peer_voters_need_independent_starts(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    proc = star("run", "experiment=smoke", f"out_dir={tmp_path}", "model=hf", f"model.name_or_path={model}",
                "model.cold_start.enabled=false", "loop.labels=majority", "loop.voters=2",
                "generator.num_samples=4", "generator.temperature=0.7", cwd=tmp_path)
    assert proc.returncode != 0 and "set model.cold_start.enabled=true" in proc.stderr
