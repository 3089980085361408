"""An easy-to-hard schedule for the training pool (`loop.curriculum`, off by default).

Self-Improving Transformers (2025) grow the difficulty of the problems a model labels for
itself only as it masters the easier ones. Here the task's groups, in their natural order
(digits=1 < digits=2 < ... for the first kind of group the task names), are the levels:
iteration 1 trains on the easiest group only, and the pool widens by the next group after
every iteration in which the hardest group in the pool reached `loop.curriculum` of its
problems solved (with `loop.labels=majority`: pseudo-labeled, which needs no gold). The
level is recomputed from metrics.jsonl, so a resumed run takes the same path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from star.evaluation import key, natural
from star.types import Problem, Task


def levels(task: Task, problems: Sequence[Problem]) -> list[str]:
    """The groups of the first kind the task names, easiest first: ["digits=1", "digits=2"]."""
    names: list[str] = []
    for p in problems:
        kind_value = next(iter(task.groups(p).items()), None)
        if kind_value and f"{kind_value[0]}={kind_value[1]}" not in names:
            names.append(f"{kind_value[0]}={kind_value[1]}")
    return sorted(names, key=natural)


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
    groups = levels(task, problems)
    if threshold is None or len(groups) < 2:
        return list(problems)
    active = set(groups[: level(groups, history, threshold, t)])
    return [p for p in problems if any(f"{k}={v}" in active for k, v in task.groups(p).items())]
