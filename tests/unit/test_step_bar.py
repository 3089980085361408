"""The trainers' progress bar (star.training.StepBar), shared by LoRA/full training and GRPO."""

from types import SimpleNamespace

import pytest
import tqdm.auto

from star.training import StepBar, _Record


class FakeBar:
    def __init__(self, total, desc, **kw):
        self.total, self.desc, self.n, self.postfix, self.closed = total, desc, 0, None, False

    def update(self, k):
        self.n += k

    def set_postfix(self, values):
        self.postfix = values

    def close(self):
        self.closed = True


@pytest.fixture(autouse=True)
def fake_tqdm(monkeypatch):
    monkeypatch.setattr(tqdm.auto, "tqdm", FakeBar)


def drive(cb, logs: list[dict], rank_zero: bool = True):
    state = SimpleNamespace(is_world_process_zero=rank_zero, max_steps=3)
    cb.on_train_begin(None, state, None)
    for entry in logs:
        cb.on_log(None, state, None, logs=entry)
        cb.on_step_end(None, state, None)
    cb.on_train_end(None, state, None)
    return cb.bar


def test_the_bar_counts_steps_and_shows_its_value():
    bar = drive(StepBar(True, "grpo round 2", "reward", total=5), [{"reward": 0.25}, {"loss": 1.0}])
    assert (bar.total, bar.desc, bar.n, bar.closed) == (5, "grpo round 2", 2, True)
    assert bar.postfix == {"reward": "0.250"}  # the second step's loss is not what this bar shows


def test_without_a_total_the_bar_runs_over_the_trainers_steps():
    assert drive(StepBar(True), [{"loss": 1.0}]).total == 3


def test_no_bar_when_disabled_or_not_rank_zero():
    assert drive(StepBar(False), [{"loss": 1.0}]) is None
    assert drive(StepBar(True), [{"loss": 1.0}], rank_zero=False) is None


def test_the_training_record_keeps_every_loss_with_or_without_a_bar():
    for progress in (True, False):
        record = _Record(progress)
        bar = drive(record, [{"loss": 2.0}, {"reward": 1.0}, {"loss": 0.5}])
        assert record.losses == [2.0, 0.5]
        assert (bar.postfix, bar.n) == ({"loss": "0.500"}, 3) if progress else bar is None
