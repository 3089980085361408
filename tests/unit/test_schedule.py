import hashlib
import os
import subprocess
import sys

import pytest

from star.config import TrainConfig
from star.iteration import seed_for
from star.training import steps_for


def test_paper_schedule_40_times_1_2():
    cfg = TrainConfig(steps=40, step_growth=1.2)
    assert [steps_for(cfg, t) for t in range(1, 6)] == [40, 48, 58, 69, 83]


def test_schedule_cap_and_constant():
    assert steps_for(TrainConfig(steps=40, step_growth=1.2, max_steps=50), 5) == 50
    assert steps_for(TrainConfig(steps=7, step_growth=1.0), 9) == 7


def test_iterations_count_from_one():
    with pytest.raises(ValueError):
        steps_for(TrainConfig(), 0)


def test_seeds_derive_from_run_seed_iteration_and_stage():
    # Pinned values: the seed of a stage is a function of (run seed, iteration, stage) alone,
    # the same in every process and on every machine (a resumed run must draw the same).
    assert seed_for(0, 1, "train") == int(hashlib.sha256(b"0/1/train").hexdigest()[:8], 16) == 1701870698
    assert len({seed_for(0, 1, "train"), seed_for(1, 1, "train"), seed_for(0, 2, "train"),
                seed_for(0, 1, "eval")}) == 4


def test_a_seed_does_not_depend_on_process_state():
    code = "from star.iteration import seed_for; print(seed_for(3, 2, 'generate'))"
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert int(out.stdout) == seed_for(3, 2, "generate")
