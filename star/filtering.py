"""Filter: from checked samples to the training set.

Keeps correct samples only (unverifiable is never accepted, nor a sample rejected for
another reason, such as a hinted one that repeats its hint), drops duplicate rationales
for the same problem, and caps how many a problem contributes, so that easy problems with
many identical correct samples do not crowd out the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

from star.types import Example, Sample, Verdict


def select(samples: Iterable[Sample], max_per_problem: int) -> list[Example]:
    """Accepted training examples, in the order the samples came (deterministic)."""
    if max_per_problem < 1:
        raise ValueError(f"loop.max_per_problem must be >= 1, got {max_per_problem}")
    seen: set[tuple[str, str]] = set()
    kept: dict[str, int] = {}
    out: list[Example] = []
    for s in samples:
        if s.verdict is not Verdict.CORRECT or s.rejected:
            continue
        key = (s.problem_id, " ".join(s.completion.split()))
        if key in seen or kept.get(s.problem_id, 0) >= max_per_problem:
            continue
        seen.add(key)
        kept[s.problem_id] = kept.get(s.problem_id, 0) + 1
        out.append(Example(prompt=s.train_prompt, completion=s.completion, problem_id=s.problem_id,
                           hinted=s.hinted))
    return out
