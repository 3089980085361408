"""The GRPO reward (star/rewards.py): a task's checker as TRL's reward function, through the
CheckPool. Correct, wrong, unanswered, unverifiable and hostile completions; no model, no TRL.

Here, beside the checker tests, for their session pool and their hostile inputs and stubs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hostile_inputs import HOSTILE
from stub_checkers import StubChecker

from star.checkers import Checker, CheckPool, get_checker
from star.rewards import TaskReward, std_in_groups
from star.tasks.arithmetic import Arithmetic, scratchpad
from star.types import Problem


@dataclass
class Stub:
    """A task whose answer is the completion's last line (or what its checker extracts)."""

    checker: Checker = field(default_factory=StubChecker)
    stop: Sequence[str] = ("\n\n",)
    name: str = "stub"

    def extract_answer(self, completion: str) -> str | None:
        return self.checker.extract(completion.strip().splitlines()[-1]) if completion.strip() else None


def test_correct_wrong_and_unanswered_completions(pool: CheckPool):
    task = Arithmetic()
    p = Problem("p", "624+257", "881", {"digits": 3})
    right, wrong = scratchpad(624, 257, task.width), scratchpad(624, 258, task.width)
    completions = [right, wrong, "a4+A7+0=11", ""]
    plain = TaskReward(task, [p], pool)
    assert plain([""] * 4, completions, [[1] * 5] * 4, problem_id=["p"] * 4) == [1.0, 0.0, 0.0, 0.0]
    shaped = TaskReward(task, [p], pool, correct=1.0, format=0.1)
    assert shaped([""] * 4, completions, None, problem_id=["p"] * 4) == pytest.approx([1.1, 0.1, 0.0, 0.0])
    assert plain.stats() == {"completions": 4, "tokens": 20, "correct_rate": 0.25, "unverifiable": 0}


def test_trl_keyword_columns_chat_completions_and_stop_strings(pool: CheckPool):
    """TRL passes every dataset column as a keyword list, chat completions as message lists,
    and helpers such as log_metric; text after a stop string is not the answer."""
    logged: dict[str, float] = {}
    reward = TaskReward(Stub(checker=get_checker("exact")), [Problem("a", "q", "7"), Problem("b", "q", "8")], pool)
    completions = [[{"role": "assistant", "content": "so\n7"}], "7\n\nno: 9", "9", "8"]
    rewards = reward(["q"] * 4, completions, [[0]] * 4, problem_id=["a", "a", "a", "b"], trainer_state=None,
                     log_extra=lambda *a: None, log_metric=logged.__setitem__)
    assert rewards == [1.0, 1.0, 0.0, 1.0]
    assert logged["correct_rate"] == 0.75 and logged["answered_rate"] == 1.0
    assert logged["reward_std_in_group"] == pytest.approx(std_in_groups(["a", "a", "a", "b"], rewards))


def test_std_in_groups_is_zero_when_every_group_agrees():
    assert std_in_groups(["a", "a", "b", "b"], [1.0, 1.0, 0.0, 0.0]) == 0.0
    assert std_in_groups(["a", "a", "b", "b"], [1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)  # (0.5 + 0) / 2


def test_an_unverifiable_verdict_earns_nothing_and_a_stuck_check_returns_at_the_timeout():
    """A check that never returns (the stub's "hang" ignores the worker's own timer) is killed
    at the pool's hard timeout; its completion gets no reward, the format reward included,
    and the rest of the batch is judged as usual."""
    problems = [Problem("p", "q", "x")]
    with CheckPool(workers=1, timeout=1.0) as pool:
        reward = TaskReward(Stub(), problems, pool, correct=1.0, format=0.5)
        assert reward(["q"], ["slow"], None, problem_id=["p"]) == [1.5]  # a worker is up (the stub says correct)
        started = time.monotonic()
        rewards = reward(["q"] * 3, ["hang", "x", "y"], None, problem_id=["p"] * 3)
        elapsed = time.monotonic() - started
    assert rewards == [0.0, 1.5, 0.5]
    assert elapsed < 1.0 + 3.0, f"a stuck check took {elapsed:.1f}s against a 1s timeout"
    assert reward.stats()["unverifiable"] == 1


def test_hostile_completions_earn_nothing_and_do_not_stall_the_trainer(pool: CheckPool):
    """The checker tests' hostile outputs as completions of a math problem: each is answered
    (UNVERIFIABLE or INCORRECT, never CORRECT) within the pool's timeout, in the workers."""
    task = Stub(checker=get_checker("math"))
    reward = TaskReward(task, [Problem("p", "q", "42")], pool, correct=1.0, format=0.1)
    completions = [f"The answer is $\\boxed{{{h}}}$" for h in HOSTILE] + list(HOSTILE)
    started = time.monotonic()
    rewards = reward(["q"] * len(completions), completions, None, problem_id=["p"] * len(completions))
    assert time.monotonic() - started < 60
    assert len(rewards) == len(completions) and set(rewards) <= {0.0, 0.1}
    assert reward(["q"], [r"so $\boxed{42}$"], None, problem_id=["p"]) == [1.1]  # the pool is not poisoned


def test_reward_weights_must_not_be_negative(pool: CheckPool):
    with pytest.raises(ValueError, match="must be >= 0"):
        TaskReward(Stub(), [], pool, correct=1.0, format=-0.1)
