"""Held-out marking, shared by the tasks: which eval and validation problems the model never trains on.

An eval problem is held out when its question (by content, not by id) is in neither the
STaR pool (`load("train")`) nor the cold-start seeds (`seed_rationales()`); a validation
problem when it is in none of those nor in the eval split. A task keeps every group that
has room held out; where a group is too small for that (there are only 100 sums of two
1-digit numbers), the task says so per problem, `meta["held_out"] = False` (`HELD_OUT`),
and the evaluation reports the accuracy over the held-out problems beside the overall
one (`eval/accuracy_held_out`). A problem without the key counts as held out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from star.types import Problem

# The meta key star.evaluation reads (its HELD_OUT; tasks import only star's bottom floor,
# so the name is spelled here too, and tests/tasks/test_splits.py keeps the two equal).
HELD_OUT = "held_out"
__all__ = ["HELD_OUT", "mark_held_out", "unique_fits"]


def mark_held_out(problems: Sequence[Problem], used: Iterable[str]) -> list[Problem]:
    """`problems` with meta["held_out"]: True where the question is not among `used`."""
    seen = set(used)
    return [replace(p, meta={**p.meta, HELD_OUT: p.question not in seen}) for p in problems]


def unique_fits(count: int, size: int, excluded: int) -> bool:
    """Can a split draw `count` distinct questions of a group of `size`, none of the
    `excluded` ones already taken? Only where they fill at most half the group (rejection
    sampling stays quick) and the exclusions leave enough (otherwise it never ends)."""
    return count <= size // 2 and count <= size - excluded
