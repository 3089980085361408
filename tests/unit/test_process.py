"""Process checks (star.process): a correct answer reached through a false step is caught by
the task's check_steps, counted (hinted apart from unhinted), and rejected under
loop.process_filter=task; the tasks' own hooks judge their worked rationales faithful and
a single wrong step unfaithful."""

from __future__ import annotations

import pytest

from star.filtering import select
from star.process import FILTERS, KeepAll, TaskSteps, metrics
from star.tasks.arithmetic import Arithmetic
from star.tasks.list_max import ListMax
from star.tasks.mental_arithmetic import MentalArithmetic
from star.types import Problem, Sample, Verdict


def sample(problem: Problem, completion: str, hinted: bool = False, verdict=Verdict.CORRECT, **kw) -> Sample:
    return Sample(problem_id=problem.id, index=0, prompt="p", train_prompt="p", completion=completion,
                  pred=problem.answer, verdict=verdict, hinted=hinted, **kw)


def one_wrong_step(completion: str) -> str:
    """The first scratchpad line with its first operand digit changed: the answer stays."""
    first, *rest = completion.split("\n")
    digit = first[1]
    return "\n".join([first[0] + str((int(digit) + 1) % 10) + first[2:], *rest])


@pytest.mark.parametrize("style", ["lookup", "classic"])
def test_arithmetic_keeps_a_faithful_scratchpad_and_catches_one_misread_digit(style):
    task = Arithmetic(style=style)
    for p in task.load("train")[:50]:
        good = task.solve(p)
        assert all(task.check_steps(p, good)), (p.question, good)
        bad = task.check_steps(p, one_wrong_step(good))
        assert bad[0] is False and bad[-1] is True  # a misread first column, the right answer line
    p = task.load("train")[0]
    assert task.check_steps(p, task.solve(p).split("\n", 1)[1])[-1] is True  # a skipped column ...
    assert not all(task.check_steps(p, task.solve(p).split("\n", 1)[1]))  # ... is a false step
    assert not all(task.check_steps(p, task.solve(p) + "\nA: 0"))  # an extra line too


def test_the_other_generated_tasks_check_their_steps():
    lm = ListMax()
    for p in lm.load("train")[:20]:
        assert all(lm.check_steps(p, lm.solve(p)))
        lines = lm.solve(p).split("\n")
        lines[1] = lines[1].replace(" so ", " so 1", 1)
        assert not all(lm.check_steps(p, "\n".join(lines)))
    ma = MentalArithmetic()
    p = ma.load("train")[0]
    a, b = (int(x) for x in p.question.split(" + "))
    assert ma.check_steps(p, f"{a} + {b} = {a + b}. The answer is {a + b}.") == [True, True]
    assert ma.check_steps(p, f"{a} + {b} = {a + b + 1}. The answer is {a + b}.")[0] is False  # the hint copied
    assert ma.check_steps(p, f"The answer is {a + b}.") is None  # no equation: not judged


def test_the_task_filter_rejects_unfaithful_samples_and_the_counts_split_hinted():
    task = Arithmetic(style="lookup")
    p, q = task.load("train")[:2]
    samples = [sample(p, task.solve(p)), sample(q, one_wrong_step(task.solve(q))),
               sample(q, one_wrong_step(task.solve(q)) + " ", hinted=True),
               sample(p, one_wrong_step(task.solve(p)), verdict=Verdict.INCORRECT),  # wrong: never checked
               sample(p, one_wrong_step(task.solve(p)), hinted=True, rejected="hint-leak")]  # already out
    kept = KeepAll(task).score([p, q], samples)
    assert [s.faithful for s in kept] == [True, False, False, None, None]
    assert [s.rejected for s in kept] == [None, None, None, None, "hint-leak"]  # none: measured, not used
    scored = FILTERS["task"](task).score([p, q], samples)
    assert [s.rejected for s in scored] == [None, "unfaithful", "unfaithful", None, "hint-leak"]
    examples = select(scored, max_per_problem=2)
    assert [e.problem_id for e in examples] == [p.id]
    row = metrics(task, [p, q], scored, examples)
    g = f"digits={q.meta['digits']}"
    assert row["train/unfaithful"] == 1 and row["train/unfaithful_hinted"] == 1
    assert row[f"train/unfaithful/{g}"] + row[f"train/unfaithful_hinted/{g}"] >= 1
    assert row["train/unfaithful_accepted"] == 0
    # without the filter q's unfaithful rationale is accepted (its hinted copy is the same text: deduplicated)
    assert metrics(task, [p, q], kept, select(kept, max_per_problem=2))["train/unfaithful_accepted"] == 1


def test_a_task_without_the_hook_is_measured_by_nothing_and_refused_by_the_filter():
    class Plain:
        def groups(self, p):
            return {}

    p = Problem("a", "q", "1")
    assert KeepAll(Plain()).score([p], [sample(p, "x")])[0].faithful is None
    assert metrics(Plain(), [p], [], []) == {}
    with pytest.raises(ValueError, match="loop.process_filter=task needs the task to check its steps"):
        TaskSteps(Plain())


def test_a_hook_that_raises_judges_nothing():
    class Broken(Arithmetic):
        def check_steps(self, problem, completion):
            raise RuntimeError("plugin bug")

    task = Broken()
    p = task.load("train")[0]
    assert FILTERS["task"](task).score([p], [sample(p, "junk")])[0].rejected is None
