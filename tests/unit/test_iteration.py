"""The iteration's shape (star.iteration) and what a resume relies on: the record is written
once (trackers included), a stage's seconds are on disk before its output, the starting
model is pinned, and a peer voter continues from its own adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from star.config import Config, TrainConfig
from star.iteration import pending, record, stage_seconds
from star.policy import Policy
from star.rundir import RunDir, RunDirError, pinned_model


class Tracker:
    def __init__(self):
        self.logged: list[int] = []

    def log(self, row, step):
        self.logged.append(step)


def test_a_rerun_after_a_kill_past_the_append_logs_to_trackers_once(tmp_path):
    rundir = RunDir(tmp_path)
    it, tracker = rundir.iteration(0), Tracker()
    row = {"iteration": 0, "eval/accuracy": 0.5}
    record(rundir, it, row, [tracker])
    (it.path / "DONE").unlink()  # as if killed after the trackers, before DONE
    record(rundir, it, row, [tracker])
    assert tracker.logged == [0] and len(rundir.metrics()) == 1
    (it.path / "DONE").unlink()
    (it.path / "TRACKED").unlink()  # killed after the append, before the trackers: they still get it
    other = Tracker()
    record(rundir, it, row, [other])
    assert other.logged == [0] and len(rundir.metrics()) == 1
    assert [t for t, _ in pending(rundir, 1)] == [1]


def test_a_stage_records_its_seconds_before_its_output(tmp_path, monkeypatch):
    """A kill between the stage file and seconds.json used to drop the stage's time from the
    resumed row: now the seconds come first, and a redone stage overwrites them."""
    import star.rundir as rd

    it = RunDir(tmp_path).iteration(1)
    real = rd.atomic_write_jsonl

    def die(path, rows):
        raise KeyboardInterrupt  # the kill, after the stage computed, before its file

    monkeypatch.setattr(rd, "atomic_write_jsonl", die)
    with pytest.raises(KeyboardInterrupt):
        it.records("samples", dict, lambda: [])
    assert "samples" in it.seconds() and not (it.path / "samples.jsonl").exists()
    monkeypatch.setattr(rd, "atomic_write_jsonl", real)
    it.folder("adapter", lambda out: (out / "w").write_text("x"))
    assert set(it.seconds()) == {"samples", "adapter"}
    assert set(stage_seconds(it)) == {"time/generate_s", "time/train_s"}


def test_the_starting_model_is_pinned_and_another_refused(tmp_path):
    rundir = RunDir(tmp_path / "run")
    (tmp_path / "run" / "manifest.json").write_text(json.dumps({"config_hash": "x"}))
    rundir.pin_model("starting_model", Path("/cache/a"), "aaaa")
    rundir.pin_model("starting_model", Path("/cache/b"), "aaaa")  # same content elsewhere: fine
    assert pinned_model(tmp_path / "run", "starting_model") == {"hash": "aaaa", "path": "/cache/a"}
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["config_hash"] == "x"
    with pytest.raises(RunDirError, match=r"content aaaa.*content bbbb"):
        rundir.pin_model("starting_model", Path("/cache/a"), "bbbb")


def test_a_peer_voter_continues_from_its_own_adapter(tmp_path, monkeypatch):
    """trainer.init=previous: a peer's LoRA adapter (peer1_adapter) is an adapter on the starting
    model, not a whole model (the review found it loaded as a base model from iteration 2)."""
    import star.policy as policy_module

    monkeypatch.setattr(policy_module.models, "load_tokenizer", lambda *a, **k: None)
    cfg = Config(task=None, trainer=TrainConfig(init="previous"))
    (tmp_path / "iter_001" / "peer1_adapter").mkdir(parents=True)
    peer = Policy(tmp_path / "base", cfg, tmp_path, "peer1")
    assert peer.weights_name == "peer1_adapter"
    assert peer.train_from(2) == (tmp_path / "base", tmp_path / "iter_001" / "peer1_adapter")
    assert peer.train_from(1) == (tmp_path / "base", None)
    full = Policy(tmp_path / "base", Config(task=None, trainer=TrainConfig(init="previous", method="full")),
                  tmp_path, "peer1")
    (tmp_path / "iter_001" / "peer1_model").mkdir()
    assert full.train_from(2) == (tmp_path / "iter_001" / "peer1_model", None)


def test_a_checker_that_reads_the_problem_gets_it_through_the_loops_attempts(monkeypatch):
    """attempts (star.attempts, as the loop and the eval stage call it) hand each pair's problem
    to a `uses_problem` checker, in a real worker pool: a countdown verdict needs the numbers."""
    import sys

    from star.attempts import attempt
    from star.checkers import CheckPool
    from star.generation import Completion
    from star.types import Problem, Verdict

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "checkers" / "plugin_pkg"))
    sys.modules.pop("plugin_checkers", None)
    from plugin_checkers.countdown import CountdownChecker

    class Countdown:
        name, stop, checker = "countdown", (), CountdownChecker()

        def prompt(self, p, hint=None):
            return f"{p.meta['numbers']} -> {p.question}"

        def extract_answer(self, completion):
            return self.checker.extract(completion)

        def max_new_tokens(self, p):
            return 16

    class Fixed:  # a generator that writes the same expression for every prompt
        def generate(self, prompts, n=1, **kw):
            return [[Completion("The answer is (8-4)*6.", 5)] * n for _ in prompts]

    problems = [Problem("a", "24", "24", {"numbers": [8, 4, 6]}), Problem("b", "24", "24", {"numbers": [8, 4, 5]})]
    with CheckPool(1, 10.0) as pool:
        samples = attempt(Fixed(), Countdown(), problems, pool, None)
    assert [s.verdict for s in samples] == [Verdict.CORRECT, Verdict.INCORRECT]  # b lacks a 6


def test_a_group_that_gave_no_training_example_is_warned_about(caplog):
    import logging

    from star.iteration import warn_unlearnable

    row = {"iteration": 2, "train/yield/digits=3": 0.5, "train/yield/digits=4": 0.0, "train/yield/digits=5": 0}
    with caplog.at_level(logging.WARNING, logger="star.iteration"):
        warn_unlearnable(row)
    (text,) = [r.getMessage() for r in caplog.records]
    assert text.startswith("iteration 2: no training example of digits=4, digits=5") and "digits=3" not in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="star.iteration"):
        warn_unlearnable({"iteration": 0, "eval/accuracy": 0.0})  # iteration 0 trains nothing: no warning
        warn_unlearnable({"iteration": 1, "train/yield/digits=4": 0.01})
    assert not caplog.records
