"""Process checks: the stage between check and select that looks at a rationale's steps.

The answer checker trusts every rationale that ends at the right answer. A rationale can
reach it through wrong steps (a misread scratchpad, a hinted answer copied through steps
that do not produce it), and training on it teaches the wrong steps. Tasks that can check
their own steps say so with an optional hook,

    check_steps(problem, completion) -> list[bool] | None

one verdict per step (True: the step is right), or None when the task cannot judge this
completion's steps. A scratchpad's column sums, countdown's `a op b = c` lines over the
given numbers, an equation's arithmetic.

Every correct, not yet rejected sample of a task with the hook is marked `faithful`
(all steps right) or not, whatever the filter, so that unfaithful acceptances are
measured in every run (`train/unfaithful`, `train/unfaithful_hinted`, per group too, and
`train/unfaithful_accepted`). `loop.process_filter` (the FILTERS table) decides what
happens to them: `none` keeps them (the STaR paper), `task` rejects them
(`rejected="unfaithful"`) before the filter stage selects the training examples.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from star.evaluation import by_group, key
from star.types import Example, Problem, Sample, Task, Verdict

log = logging.getLogger(__name__)


def mark_faithful(task: Task, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[Sample]:
    """`samples` with `faithful` set on every correct, unrejected one the task's `check_steps`
    can judge (others keep None); a hook that raises judges nothing (a plugin's bug must not
    reject samples, nor crash the run)."""
    check = getattr(task, "check_steps", None)
    if not callable(check):
        return list(samples)
    by_id, out = {p.id: p for p in problems}, []
    for s in samples:
        if s.verdict is Verdict.CORRECT and not s.rejected and s.problem_id in by_id:
            try:
                steps = check(by_id[s.problem_id], s.completion)
            except Exception as e:  # the hook is the task's; say so once per sample, judge nothing
                log.warning("%s.check_steps raised on %s: %s", type(task).__name__, s.problem_id, e)
                steps = None
            if steps is not None:
                s = replace(s, faithful=bool(steps) and all(steps))
        out.append(s)
    return out


class KeepAll:
    """loop.process_filter=none: steps are measured where the task can check them, never used."""

    def __init__(self, task: Task):
        self.task = task

    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[Sample]:
        return mark_faithful(self.task, problems, samples)


class TaskSteps(KeepAll):
    """loop.process_filter=task: a correct sample with a false step is rejected ("unfaithful")."""

    def __init__(self, task: Task):
        if not callable(getattr(task, "check_steps", None)):
            raise ValueError(f"loop.process_filter=task needs the task to check its steps: {type(task).__name__} "
                             "has no check_steps(problem, completion) method (docs/ADDING_A_TASK.md)")
        super().__init__(task)

    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[Sample]:
        return [replace(s, rejected="unfaithful") if s.faithful is False else s
                for s in super().score(problems, samples)]


FILTERS: dict[str, type[KeepAll]] = {"none": KeepAll, "task": TaskSteps}


def metrics(task: Task, problems: Sequence[Problem], scored: Sequence[Sample],
            examples: Sequence[Example]) -> dict[str, Any]:
    """Correct samples with a false step, unhinted and hinted, overall and per group, and how
    many of them the accepted set still holds (0 under process_filter=task). Empty for a
    task that cannot check its steps."""
    if not callable(getattr(task, "check_steps", None)):
        return {}
    bad = [s for s in scored if s.faithful is False]
    accepted = {(e.problem_id, e.completion) for e in examples}
    row: dict[str, Any] = {"train/unfaithful_accepted": sum((s.problem_id, s.completion) in accepted for s in bad),
                           "train/steps_checked": sum(s.faithful is not None for s in scored)}
    for g, members in by_group(task, problems).items():
        ids = {p.id for p in members}
        row[key("unfaithful", g, "train")] = sum(s.problem_id in ids and not s.hinted for s in bad)
        row[key("unfaithful_hinted", g, "train")] = sum(s.problem_id in ids and s.hinted for s in bad)
    return row
