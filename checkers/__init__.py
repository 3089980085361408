"""Answer checkers: extraction of a final answer from model output, and equivalence with gold.

PLACEHOLDER: minimal numeric checker and an in-process pool, to be replaced by the full
library (issue 3). The public API below is the contract the loop relies on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from star.types import Verdict

_NUM = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class NumericChecker:
    name: str = "numeric"

    def extract(self, text: str) -> str | None:
        m = re.search(r"(?:answer is|A:|####)\s*(-?[\d,.]+)", text)
        if m:
            return m.group(1).rstrip(".")
        nums = _NUM.findall(text)
        return nums[-1] if nums else None

    def check(self, gold: str, pred: str | None) -> Verdict:
        if pred is None:
            return Verdict.INCORRECT
        try:
            return Verdict.CORRECT if float(gold.replace(",", "")) == float(pred.replace(",", "")) else Verdict.INCORRECT
        except ValueError:
            return Verdict.UNVERIFIABLE


def get_checker(name: str, **options) -> NumericChecker:
    return NumericChecker()


class CheckPool:
    def __init__(self, workers: int = 2, timeout: float = 5.0, max_memory_mb: int | None = 1024):
        self.timeout = timeout

    def check(self, checker, pairs: Sequence[tuple[str, str | None]]) -> list[Verdict]:
        return [checker.check(g, p) for g, p in pairs]

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
