"""Evaluation: accuracy on a held-out split, overall and per difficulty group.

Greedy decoding by default, one sample per problem; a problem counts as solved when its
sample's verdict is CORRECT (unverifiable counts as wrong).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from star.types import Problem, Sample, Verdict


def accuracy(problems: Sequence[Problem], samples: Sequence[Sample], task) -> dict[str, float]:
    """{"eval/accuracy": ..., "eval/accuracy/<kind>=<value>": ..., "eval/n": ...} from greedy samples."""
    first = {}
    for s in samples:
        first.setdefault(s.problem_id, s)
    hits: dict[str, list[bool]] = defaultdict(list)
    for p in problems:
        ok = p.id in first and first[p.id].verdict is Verdict.CORRECT
        hits[""].append(ok)
        for kind, value in task.groups(p).items():
            hits[f"/{kind}={value}"].append(ok)
    out: dict[str, float] = {"eval/n": len(problems)}
    for key in sorted(hits, key=_natural):
        out[f"eval/accuracy{key}"] = sum(hits[key]) / len(hits[key])
    return out


def _natural(key: str) -> tuple:
    """Sort group keys so that digits=10 comes after digits=9."""
    head, _, tail = key.rpartition("=")
    return (head, int(tail) if tail.isdigit() else 0, tail)
