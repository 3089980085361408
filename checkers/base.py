"""The Checker protocol: what the loop, the pool and `star check` need from a checker.

`Verdict` lives here, beside the checkers that return it: checkers/ depends on nothing
in star/. A checker is a frozen, picklable dataclass (it travels to worker processes). `extract`
and `fast_check` are pure string work, safe in the main process; `check` may use sympy
and must only run inside a CheckPool worker (or a test).
"""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable


class Verdict(str, enum.Enum):
    """A checker's answer. UNVERIFIABLE (timeout, unparsable, pathological) is never accepted."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    UNVERIFIABLE = "unverifiable"

    def __str__(self) -> str:  # json.dumps writes the value, not "Verdict.CORRECT"
        return self.value


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
