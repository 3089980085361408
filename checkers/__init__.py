"""Answer checkers: extraction of a final answer from model output, and equivalence with gold.

    from star.checkers import get_checker, CheckPool
    checker = get_checker("math", extract=("boxed", "answer_is", "final_line"))
    with CheckPool(workers=2, timeout=5.0) as pool:
        verdicts = pool.check(checker, [(gold, completion), ...])

Four checkers: `math` (LaTeX and plain expressions, sympy-verified), `numeric` (GSM8K-style
numbers, exact), `choice` (option labels), `exact` (normalized strings). Extraction rules
are in extract.py, comparison strategies in symbolic.py; docs/CHECKERS.md has the policies.
The sympy path only ever runs inside CheckPool's worker processes.
"""

from __future__ import annotations

from typing import Any

from star.checkers.base import Checker, CheckerImportError, Verdict, checker_name, uses_problem
from star.checkers.choice import ChoiceChecker
from star.checkers.exact import ExactChecker
from star.checkers.extract import validate_strategies
from star.checkers.maths import MathChecker
from star.checkers.numeric import NumericChecker
from star.checkers.pool import CheckPool

__all__ = [
    "CHECKERS",
    "CheckPool",
    "Checker",
    "CheckerImportError",
    "ChoiceChecker",
    "ExactChecker",
    "MathChecker",
    "NumericChecker",
    "Verdict",
    "checker_name",
    "get_checker",
    "uses_problem",
]

CHECKERS: dict[str, type] = {
    "math": MathChecker,
    "numeric": NumericChecker,
    "choice": ChoiceChecker,
    "exact": ExactChecker,
}
# Option name (as tasks and the CLI spell it) -> dataclass field, per checker.
_OPTIONS: dict[str, dict[str, str]] = {
    "math": {"extract": "strategies"},
    "numeric": {"extract": "strategies"},
    "choice": {"extract": "strategies", "labels": "labels"},
    "exact": {"extract": "strategies", "case_sensitive": "case_sensitive"},
}


def _labels(value: Any) -> str:
    try:  # "ABCD", or a sequence of one-character strings (YAML lists arrive as those)
        labels = value if isinstance(value, str) else "".join(value)
    except TypeError:
        labels = None
    if not isinstance(labels, str) or not labels or any(len(c) != 1 or c.isspace() for c in labels):
        raise ValueError(f"labels must be a non-empty string of single characters, got {value!r}")
    if len(set(labels.upper())) != len(labels):
        raise ValueError(f"labels repeat a label (case-insensitively): {value!r}")
    return labels.upper()


def get_checker(name: str, **options: Any) -> Checker:
    """The checker called `name`, with per-task extraction options.

    Options: extract=(strategy, ...) for all checkers (see extract.STRATEGIES),
    labels="ABCDE" for choice, case_sensitive=bool for exact. An unknown name or
    option raises ValueError naming it.
    """
    if name not in CHECKERS:
        raise ValueError(f"unknown checker {name!r}; choose from {sorted(CHECKERS)}")
    allowed = _OPTIONS[name]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for checker {name!r}; allowed: {sorted(allowed)}")
    fields: dict[str, Any] = {}
    for key, value in options.items():
        if key == "extract":
            value = validate_strategies(value)
        elif key == "labels":
            value = _labels(value)
        elif key == "case_sensitive":
            value = bool(value)
        fields[allowed[key]] = value
    return CHECKERS[name](**fields)
