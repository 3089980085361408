"""The Checker protocol: what the loop, the pool and `star check` need from a checker.

A checker is a frozen, picklable dataclass (it travels to worker processes). `extract`
and `fast_check` are pure string work, safe in the main process; `check` may use sympy
and must only run inside a CheckPool worker (or a test).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from star.types import Verdict


@runtime_checkable
class Checker(Protocol):
    name: str  # "math" | "numeric" | "choice" | "exact"

    def extract(self, text: str) -> str | None:
        """The final answer in a whole model output or a bare answer; None if there is none."""
        ...

    def fast_check(self, gold: str, pred: str | None) -> Verdict | None:
        """A verdict from cheap string/number work, or None when sympy is needed."""
        ...

    def check(self, gold: str, pred: str | None) -> Verdict:
        """The full verdict, gold first; pred None is INCORRECT; never raises."""
        ...
