"""Rationalization: a second chance, with the answer as a hint, for what the model got wrong.

STaR's key step (Zelikman et al. 2022, sec. 3.2): a problem the model failed is shown
again with its gold answer as a hint; a hinted rationale that reaches the gold answer is
kept as if the model had found it alone (the training prompt carries no hint). This lets
the model learn from problems just beyond its reach, which plain rejection sampling
never trains on. The loop (Stages.rationalize) makes the hinted attempts through
star.attempts with `hint=True`; the training prompt of every sample is the un-hinted one.
"""

from __future__ import annotations

from collections.abc import Sequence

from star.types import Problem, Sample, Verdict


def unsolved(problems: Sequence[Problem], samples: Sequence[Sample]) -> list[Problem]:
    solved = {s.problem_id for s in samples if s.verdict is Verdict.CORRECT}
    return [p for p in problems if p.id not in solved]
