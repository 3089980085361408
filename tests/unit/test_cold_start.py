"""The cold start: a held-out probe per group, training to a criterion with a step cap, the cache."""

from __future__ import annotations

import json

import pytest

from star.checkers import CheckPool
from star.cold_start import Probe, split_probe, starting_model
from star.config import ColdStartConfig, ModelConfig, TinyConfig, TrainConfig
from star.tasks.arithmetic import Arithmetic


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
