"""The Checker protocol: what the loop, the pool and `star check` need from a checker.

`Verdict` lives here, beside the checkers that return it: checkers/ depends on nothing
in star/. A checker is a frozen, picklable dataclass (it travels to worker processes, so
its class must be importable by a fresh interpreter). `extract` and `fast_check` are pure
string work, safe in the main process; `check` may use sympy and must only run inside a
CheckPool worker (or a test). A checker whose class sets `uses_problem = True` also gets
the problem: `fast_check(gold, pred, problem)`, `check(gold, pred, problem)`.
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


class CheckerImportError(RuntimeError):
    """A checker cannot reach CheckPool's worker processes: its class is not importable
    by a fresh interpreter (defined in `__main__`, inside a function, or in a module that
    is on no path the workers see), or it does not pickle."""


@runtime_checkable
class Checker(Protocol):
    """What CheckPool and the loop call. Optional class attributes: `name` (messages only;
    default the class name, see checker_name) and `uses_problem` (True: `fast_check` and
    `check` take the problem as a third argument, see uses_problem)."""

    def extract(self, text: str) -> str | None:
        """The final answer in a whole model output or a bare answer; None if there is none."""
        ...

    def fast_check(self, gold: str, pred: str | None) -> Verdict | None:
        """A verdict from cheap string/number work, or None when sympy is needed."""
        ...

    def check(self, gold: str, pred: str | None) -> Verdict:
        """The full verdict, gold first; pred None is INCORRECT; never raises."""
        ...


def checker_name(checker: object) -> str:
    """A checker's `name` for messages, else its class name: `name` is not required."""
    name = getattr(checker, "name", None)
    return name if isinstance(name, str) and name else type(checker).__name__


def uses_problem(checker: object) -> bool:
    """True when the checker's `fast_check` and `check` take the problem as a third
    argument (`uses_problem = True` on its class); only the exact value True opts in."""
    return getattr(checker, "uses_problem", False) is True
