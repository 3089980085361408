"""A task given beside an experiment preset: `experiment=smoke` (which overrides /task to
arithmetic_small) keeps a `task=` given on the command line, in either order, as the docs say."""

from __future__ import annotations

import pytest
from task_helpers import ROOT

from star.task_cli import compose

EXAMPLE = str(ROOT / "examples" / "letter_count" / "conf")


@pytest.mark.parametrize("overrides", [["experiment=smoke", "task=letter_count"],
                                       ["task=letter_count", "experiment=smoke"]])
def test_a_task_beside_experiment_smoke_is_kept(overrides):
    cfg = compose(overrides, [EXAMPLE])
    assert cfg.task._target_ == "letter_count.LetterCount" and cfg.task.train_size == 1000
    assert cfg.model.tiny.layers == 2 and cfg.loop.iterations == 2  # the preset's model and loop sizes apply


def test_experiment_smoke_alone_brings_its_own_task():
    cfg = compose(["experiment=smoke"])
    assert cfg.task._target_ == "star.tasks.arithmetic.Arithmetic" and cfg.task.train_size == 48
