"""`star tasks` and `star task-check`: the listing, a passing check, failures that name rows,
config errors (exit 2, one line), and `--cold-start`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
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
    # only star's own line says so: not Hydra's raw "Error getting class ..." text besides
    assert "Error getting class" not in proc.stderr and "Are you sure" not in proc.stderr, proc.stderr
    assert proc.stderr == ""


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
    assert proc.returncode == 2 and "task.data_files=PATH" in proc.stderr  # a config error


@pytest.mark.parametrize("override, says", [
    ("task.train_size=abc", "task.train_size='abc' is not a valid int"),
    ("+task.bogus=1", "bogus"),
    ("task._target_=nope.Nope", "task._target_='nope.Nope' cannot be imported"),
])
def test_task_check_config_errors_exit_2_in_one_line(tmp_path, override, says):
    """A config error raised while the task is built exits 2, as documented, and says so in
    one line of its own (no raw Hydra text before it)."""
    proc = star("task-check", "task=arithmetic", override, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("star task-check: config error:") and says in lines[0], lines


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


# -- star task-check --cold-start -----------------------------------------------------------------
TINY_COLD_START = [
    "task=arithmetic", "task.train_size=8", "task.eval_size=4", "task.train_digits=[1,2]", "task.eval_digits=[1,2]",
    "task.seed_examples=[30,30]", "task.style=classic", "model.tiny.hidden_size=16", "model.tiny.intermediate_size=32",
    "model.tiny.layers=1", "model.tiny.heads=2", "model.cold_start.train.steps=4", "model.cold_start.eval_every=2",
    "model.cold_start.probe_per_group=3", "model.cold_start.train.batch_size=2", "model.cold_start.train.seq_len=128",
    "model.cold_start.train.warmup_steps=0", "model.cold_start.train.progress=false",
]


def test_task_check_cold_start_prints_the_probe_curve_and_the_levers(tmp_path, monkeypatch, capsys):
    """An untrained tiny model cannot reach a target of 1 in four steps: the curve per group,
    NOT reached, the levers, exit 1; the cold start lands in the cache `star run` reuses."""
    from star.task_cli import check_main

    monkeypatch.setenv("STAR_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["--cold-start", *TINY_COLD_START, "model.cold_start.target=1.0"]
    assert check_main(argv) == 1
    out = capsys.readouterr().out
    table = out[out.index("step"):].splitlines()
    assert table[0].split() == ["step", "overall", "digits=1", "digits=2"]
    assert [row.split()[0] for row in table[1:3]] == ["2", "4"]
    assert all(0.0 <= float(v) <= 1.0 for row in table[1:3] for v in row.split()[1:])
    assert "target 1 (min_group) NOT reached after 4 steps" in out
    for lever in ("model.cold_start.train.steps", "generator.num_samples", "generator.temperature", "worked examples"):
        assert lever in out
    entries = list((tmp_path / "cache" / "cold_start").iterdir())
    assert len(entries) == 1 and (entries[0] / "config.json").is_file()

    from star.cold_start import starting_model
    from star.config import make_task, to_config
    from star.task_cli import compose

    cfg = compose(TINY_COLD_START + ["model.cold_start.target=1.0"])
    assert starting_model(to_config(cfg).model, make_task(cfg.task), to_config(cfg).seed) == entries[0]  # star run's
    assert check_main(argv) == 1 and capsys.readouterr().out == out  # reused: the same curve


def test_task_check_cold_start_that_reaches_its_target(tmp_path, monkeypatch, capsys):
    """A model that solves every probe problem (its generator knows the worked solutions)
    reaches the target at the first probe: exit 0, no levers."""
    import star.cold_start as cold_start
    from star.generation import Completion
    from star.task_cli import check_main
    from star.tasks.arithmetic import Arithmetic
    from star.types import Problem

    task = Arithmetic(train_digits=(1, 2), eval_digits=(1, 2), seed_examples=(30, 30))

    class Solver:
        """The worked solution of the sum a prompt asks ('6c2b+2C5B' is 62+25)."""

        def __init__(self, model, tokenizer, cfg):
            pass

        def generate(self, prompts, n=1, **kw):
            def solve(prompt: str) -> str:
                a, b = ("".join(ch for ch in side if ch.isdigit()) for side in prompt.strip().split("+"))
                return task.solve(Problem("p", f"{int(a)}+{int(b)}", "", {}))

            return [[Completion(solve(p), 10)] * n for p in prompts]

    monkeypatch.setenv("STAR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cold_start, "HFGenerator", Solver)
    assert check_main(["--cold-start", *TINY_COLD_START, "model.cold_start.target=0.9"]) == 0
    out = capsys.readouterr().out
    assert "target 0.9 (min_group) reached after 2 steps" in out and "Levers" not in out
