"""The cold start: a held-out probe per group, training to a criterion with a step cap, the cache."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, replace
from types import SimpleNamespace

import pytest

import star.cold_start as cold_start
from star.checkers import CheckPool
from star.cold_start import Probe, split_probe, starting_model
from star.config import ColdStartConfig, ModelConfig, TinyConfig, TrainConfig
from star.generation import Completion
from star.tasks.arithmetic import Arithmetic
from star.types import Problem


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STAR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def task() -> Arithmetic:
    return Arithmetic(train_size=8, eval_size=4, train_digits=(1, 2), eval_digits=(1, 2), seed_examples=(30, 30))


def config(**cold_start) -> ModelConfig:
    train = TrainConfig(method="full", steps=20, step_growth=1.0, batch_size=2, seq_len=128, warmup_steps=0,
                        progress=False)
    cs = ColdStartConfig(enabled=True, train=train, **cold_start)
    return ModelConfig(dtype="float32", tiny=TinyConfig(hidden_size=16, intermediate_size=32, layers=1, heads=2),
                       cold_start=cs)


def test_the_probe_holds_out_a_stratified_sample_of_worked_examples():
    t = task()
    worked = t.seed_rationales()
    train, probe = split_probe(t, worked, ColdStartConfig(target=0.5, probe_per_group=5), seed=0)
    assert len(probe) == 10 and len(train) == len(worked) - 10
    assert sorted(p.meta["digits"] for p in probe) == [1] * 5 + [2] * 5
    assert not {p.id for p in probe} & {p.id for p, _ in train}
    assert not {p.question for p in probe} & {p.question for p, _ in train}  # by content too
    assert split_probe(t, worked, ColdStartConfig(target=0.5, probe_per_group=5), seed=0)[1] == probe  # seeded
    assert split_probe(t, worked, ColdStartConfig(target=None), seed=0) == (worked, [])  # no criterion: no probe
    # never more than a quarter of a group's 30 worked examples
    assert len(split_probe(t, worked, ColdStartConfig(target=0.5, probe_per_group=50), seed=0)[1]) == 2 * 7


def scripted(monkeypatch, values: list[dict[str, float]]) -> None:
    """Probe.measure returns these per-group accuracies in turn (the last one thereafter)."""
    calls = iter(values)
    last = values[-1]

    def measure(self, model):
        nonlocal last
        last = next(calls, last)
        return dict(last)

    monkeypatch.setattr(Probe, "measure", measure)


def test_training_stops_once_the_weakest_group_reaches_the_target(cache, monkeypatch):
    scripted(monkeypatch, [{"overall": 0.5, "digits=1": 0.9, "digits=2": 0.1},
                           {"overall": 0.7, "digits=1": 0.95, "digits=2": 0.45},   # overall would stop here
                           {"overall": 0.8, "digits=1": 0.95, "digits=2": 0.65}])  # min_group stops here
    with CheckPool(1, 5.0) as pool:
        out = starting_model(config(target=0.6, probe_per_group=3, eval_every=4), task(), seed=0, pool=pool)
    log = json.loads((out / "train_log.json").read_text())
    assert log["steps"] == 12 and [p["step"] for p in log["probe"]] == [4, 8, 12]
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()


def test_the_overall_measure_stops_earlier(cache, monkeypatch):
    scripted(monkeypatch, [{"overall": 0.5, "digits=1": 0.9, "digits=2": 0.1},
                           {"overall": 0.7, "digits=1": 0.95, "digits=2": 0.45}])
    with CheckPool(1, 5.0) as pool:
        out = starting_model(config(target=0.6, measure="overall", probe_per_group=3, eval_every=4), task(),
                             seed=0, pool=pool)
    assert json.loads((out / "train_log.json").read_text())["steps"] == 8


def test_a_target_never_reached_stops_at_the_cap_and_the_result_is_cached(cache, monkeypatch):
    scripted(monkeypatch, [{"overall": 0.1, "digits=1": 0.2, "digits=2": 0.0}])
    with CheckPool(1, 5.0) as pool:
        cfg = config(target=0.9, probe_per_group=3, eval_every=8)
        out = starting_model(cfg, task(), seed=0, pool=pool)
        log = json.loads((out / "train_log.json").read_text())
        assert log["steps"] == 20  # train.steps is the cap
        assert [p["step"] for p in log["probe"]] == [8, 16, 20]  # the last step is always probed
        mtime = (out / "model.safetensors").stat().st_mtime_ns
        assert starting_model(cfg, task(), seed=0, pool=pool) == out  # same inputs: the cached model
        assert (out / "model.safetensors").stat().st_mtime_ns == mtime
        assert starting_model(config(target=0.8, probe_per_group=3, eval_every=8), task(), seed=0, pool=pool) != out


def test_the_probe_measures_greedy_accuracy_per_group(cache):
    """The real measure, on an untrained tiny model: every group is there, all near zero."""
    t = task()
    train, probe = split_probe(t, t.seed_rationales(), ColdStartConfig(target=0.5, probe_per_group=4), seed=0)
    from star.models import base_model, load_model, load_tokenizer

    base = base_model(config(), seed=0)
    with CheckPool(1, 5.0) as pool:
        measured = Probe(t, probe, ColdStartConfig(target=0.5), pool, load_tokenizer(base)).measure(
            load_model(base, config()))
    assert set(measured) == {"overall", "digits=1", "digits=2"} and measured["digits=2"] == 0.0


# -- the probe, by content ---------------------------------------------------------------------
def test_the_probe_is_held_out_of_training_by_content():
    """There are only 100 one-digit sums: the demo's 200 one-digit worked examples repeat
    questions, and a probe held out by id alone would mostly repeat training items."""
    t = Arithmetic(seed_examples=(200, 400, 400), style="lookup")
    train, probe = split_probe(t, t.seed_rationales(), ColdStartConfig(target=0.3, probe_per_group=50), seed=0)
    trained = {p.question for p, _ in train}
    assert [p.question for p in probe if p.question in trained] == []
    assert Counter(p.meta["digits"] for p in probe) == {1: 50, 2: 50, 3: 50}
    assert cold_start.probe_repeats(t, train, probe) == {"overall": 0, "digits=1": 0, "digits=2": 0, "digits=3": 0}
    assert len(train) + len(probe) == len(t.seed_rationales())


@dataclass
class Repeats:
    """A task whose group `g=a` is one question eight times: no probe of it can be new."""

    checker: object = None

    def seed_rationales(self):
        a = [(Problem(f"a{i}", "same", "1", {"g": "a"}), "A: 1") for i in range(8)]
        b = [(Problem(f"b{i}", f"q{i}", "1", {"g": "b"}), "A: 1") for i in range(40)]
        return a + b

    def groups(self, problem):
        return dict(problem.meta)


def test_a_group_that_leaves_no_choice_is_measured_and_said(caplog):
    t = Repeats()
    with caplog.at_level(logging.WARNING, logger="star.cold_start"):
        train, probe = split_probe(t, t.seed_rationales(), ColdStartConfig(target=0.5, probe_per_group=5), seed=0)
    assert Counter(p.meta["g"] for p in probe) == {"a": 2, "b": 5}  # a quarter of 8; 5 of 40
    assert cold_start.probe_repeats(t, train, probe) == {"overall": 2, "g=a": 2, "g=b": 0}
    assert "g=a: 2 of 2" in caplog.text and "repeat" in caplog.text


def composed(*overrides: str):
    from star.config import make_task, to_config
    from star.task_cli import compose

    cfg = compose(overrides)
    return make_task(cfg.task), to_config(cfg).model.cold_start


@pytest.mark.parametrize("overrides", [("task=arithmetic",), ("experiment=paper_arithmetic",)])
def test_what_the_probe_may_overlap(overrides):
    """The probe is drawn from the worked examples alone. It may share questions with the
    STaR pool (`load("train")`), which is trained on only after the cold start, when the
    probe has done its work; it shares none with the eval split where the task keeps a
    group's eval questions out of the worked examples (every group of the demo; for
    paper_arithmetic all but the 100 one-digit sums, which eval and the worked examples
    both repeat)."""
    t, cs = composed(*overrides)
    train, probe = split_probe(t, t.seed_rationales(), cs, seed=0)
    pool = {p.question for p in t.load("train")}
    evals = {p.question for p in t.load("eval")}
    assert not {p.question for p in probe} & {p.question for p, _ in train}
    assert {p.meta["digits"] for p in probe if p.question in pool}  # allowed, and it happens
    shared_with_eval = {p.meta["digits"] for p in probe if p.question in evals}
    assert shared_with_eval == (set() if overrides == ("task=arithmetic",) else {1})
    trained_on_eval = {p.meta["digits"] for p, _ in train if p.question in evals}
    assert trained_on_eval <= shared_with_eval | {1}


# -- the real measure --------------------------------------------------------------------------
class Knows:
    """A generator that writes the worked solution for the problems it knows and a wrong
    one for the rest."""

    def __init__(self, t: Arithmetic, problems, known: set[str]):
        self.answers = {t.prompt(p): t.solve(p) if p.id in known else t.solve(Problem("x", "9+9", "18", {}))
                        for p in problems}

    def generate(self, prompts, n=1, temperature=0.0, max_new_tokens=256, stop=(), seed=0, desc=""):
        return [[Completion(self.answers[p], 10)] * n for p in prompts]


class Model:
    """What Probe.measure touches of a model."""

    def __init__(self):
        self.training, self.config = True, SimpleNamespace(use_cache=False)

    def eval(self):
        self.training = False

    def train(self, mode=True):
        self.training = mode


def test_the_real_measure_counts_right_answers_per_group():
    t = task()
    _, probe = split_probe(t, t.seed_rationales(), ColdStartConfig(target=0.5, probe_per_group=4), seed=0)
    ones = [p for p in probe if p.meta["digits"] == 1]
    known = {ones[0].id, ones[1].id, ones[2].id} | {p.id for p in probe if p.meta["digits"] == 2}
    model = Model()
    with CheckPool(1, 5.0) as pool:
        measured = Probe(t, probe, ColdStartConfig(target=0.5), pool, None,
                         generator=lambda m: Knows(t, probe, known)).measure(model)
    assert measured == {"overall": 0.875, "digits=1": 0.75, "digits=2": 1.0}
    assert model.training and model.config.use_cache is False  # left as found


def test_a_model_that_solves_the_probe_stops_at_the_first_probe(cache, monkeypatch):
    """Training and the probe as they run (no stubbed measure): a generator that knows every
    probe problem reaches any target at the first evaluation."""
    t = task()
    _, probe = split_probe(t, t.seed_rationales(), ColdStartConfig(target=0.9, probe_per_group=3), seed=0)
    monkeypatch.setattr(cold_start, "HFGenerator", lambda model, tok, cfg: Knows(t, probe, {p.id for p in probe}))
    with CheckPool(1, 5.0) as pool:
        out = starting_model(config(target=0.9, probe_per_group=3, eval_every=4), t, seed=0, pool=pool)
    log = json.loads((out / "train_log.json").read_text())
    assert log["steps"] == 4 and log["probe"] == [{"step": 4, "overall": 1.0, "digits=1": 1.0, "digits=2": 1.0}]
    assert cold_start.summary(out) == {"cold_start/reached": True, "cold_start/steps": 4, "cold_start/target": 0.9,
                                       "cold_start/probe/overall": 1.0, "cold_start/probe/digits=1": 1.0,
                                       "cold_start/probe/digits=2": 1.0}


# -- a cold start that ends below its target ---------------------------------------------------
def test_a_capped_cold_start_below_its_target_warns_with_the_levers(cache, caplog):
    """An untrained tiny model, four steps, a target it cannot reach: a WARNING with the
    probe per group and the levers, on the run that trains and on one that reuses it."""
    cfg = config(target=1.0, probe_per_group=2, eval_every=2)
    cfg = replace(cfg, cold_start=replace(cfg.cold_start, train=replace(cfg.cold_start.train, steps=4)))
    with CheckPool(1, 5.0) as pool:
        for _ in ("trained", "reused"):
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="star.cold_start"):
                out = starting_model(cfg, task(), seed=0, pool=pool)
            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1, warnings
            text = warnings[0]
            assert "below its target 1" in text and "4 steps" in text and "digits=1" in text and "digits=2" in text
            for lever in ("worked examples", "model.cold_start.train.steps", "hint",
                          "generator.num_samples", "generator.temperature"):
                assert lever in text
    metrics = cold_start.summary(out)
    assert metrics["cold_start/reached"] is False and metrics["cold_start/steps"] == 4
    assert metrics["cold_start/target"] == 1.0
    assert set(metrics) == {"cold_start/reached", "cold_start/steps", "cold_start/target",
                            "cold_start/probe/overall", "cold_start/probe/digits=1", "cold_start/probe/digits=2"}
    assert all(0.0 <= metrics[k] < 1.0 for k in metrics if k.startswith("cold_start/probe/"))


def test_the_summary_of_no_cold_start_is_empty(cache, tmp_path):
    from star.models import base_model

    assert cold_start.summary(base_model(config(), seed=0)) == {}  # the tiny base model: no cold start
    assert cold_start.summary("Qwen/Qwen2.5-0.5B-Instruct") == {}  # a hub name
    assert cold_start.summary(tmp_path / "nowhere") == {}


def test_without_a_target_the_summary_has_the_steps_only(cache, tmp_path):
    (tmp_path / "train_log.json").write_text(json.dumps({"steps": 7, "cold_start": {"target": None}}))
    assert cold_start.summary(tmp_path) == {"cold_start/steps": 7}


def test_a_target_reached_overall_with_a_group_at_zero_warns(tmp_path, caplog):
    """measure=overall can reach its target while a group has no foothold: the WARNING names it."""
    probe = [{"step": 25, "overall": 0.53, "digits=1": 0.76, "digits=3": 0.6, "digits=4": 0.0}]
    (tmp_path / "train_log.json").write_text(json.dumps({"steps": 25, "probe": probe,
                                                         "cold_start": {"target": 0.5, "reached": True}}))
    with caplog.at_level(logging.WARNING, logger="star.cold_start"):
        cold_start._warn_if_short(tmp_path)
    (text,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "reached its target, but the probe solves none of digits=4" in text and "digits=3" not in text
    probe[0]["digits=4"] = 0.02
    (tmp_path / "train_log.json").write_text(json.dumps({"steps": 25, "probe": probe,
                                                         "cold_start": {"target": 0.5, "reached": True}}))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="star.cold_start"):
        cold_start._warn_if_short(tmp_path)
    assert not caplog.records
