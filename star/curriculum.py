"""An easy-to-hard schedule for the training pool (`loop.curriculum`, off by default).

Self-Improving Transformers (2025) grow the difficulty of the problems a model labels for
itself only as it masters the easier ones. Here the task's groups, in their natural order
(digits=1 < digits=2 < ... for the first kind of group the task names), are the levels:
iteration 1 trains on the easiest group only, and the pool widens by the next group after
every iteration in which the hardest group in the pool reached `loop.curriculum` of its
problems solved (with `loop.labels=majority`: pseudo-labeled, which needs no gold). The
level is recomputed from metrics.jsonl, so a resumed run takes the same path.

The groups come from the problems the training side sees: under `loop.labels=majority`
those carry none of the meta keys the task declares gold-derived (`task.gold_meta`,
star.labels), so a task whose groups are derived from gold (GSM8K's solution steps) has
no levels there, and the curriculum refuses to run rather than order problems by gold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from star.config import ConfigError
from star.evaluation import group_names, key, natural
from star.types import Problem, Task


class NoLevels(ConfigError):
    """loop.curriculum on problems that carry no difficulty groups."""


def levels(task: Task, problems: Sequence[Problem]) -> list[str]:
    """The groups of the first kind the task names, easiest first: ["digits=1", "digits=2"]."""
    first = {group_names(task, p)[0] for p in problems if task.groups(p)}
    return sorted(first, key=natural)


def level(groups: Sequence[str], history: Sequence[Mapping[str, Any]], threshold: float, t: int) -> int:
    """How many groups iteration t trains on, from the rows of iterations 1 .. t - 1."""
    n = 1
    for row in sorted((r for r in history if 0 < r["iteration"] < t), key=lambda r: r["iteration"]):
        rate = row.get(key("solve_rate", groups[n - 1], "train"))
        if rate is not None and rate >= threshold and n < len(groups):
            n += 1
    return n


def pool(task: Task, problems: Sequence[Problem], history: Sequence[Mapping[str, Any]],
         threshold: float | None, t: int) -> list[Problem]:
    """Iteration t's training pool: every problem, or (with a threshold) the groups up to its level."""
    if threshold is None:
        return list(problems)
    groups = levels(task, problems)
    if not groups:
        hidden = ", ".join(getattr(task, "gold_meta", ()) or ())
        raise NoLevels(f"config error: loop.curriculum={threshold} orders the pool by the task's difficulty groups, and the "
                       "training problems carry none" + (f" (the task's gold-derived meta, {hidden}, is hidden "
                                                         "from the training side under loop.labels=majority)"
                                                         if hidden else "") + ": use loop.curriculum=null")
    if len(groups) < 2:
        return list(problems)
    active = set(groups[: level(groups, history, threshold, t)])
    return [p for p in problems if set(group_names(task, p)) & active]
