"""The `math` checker: LaTeX and plain expressions, compared by value with sympy.

`fast_check` runs in the main process (extraction, normalization, exact plain-number
comparison, screening: strings and Fractions only). `check` adds the sympy path
(checkers/symbolic.py), which must only ever run inside a pool worker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from star.checkers.base import Verdict
from star.checkers.extract import box_candidates, find_answer, gold_answer
from star.checkers.normalize import compact, normalize_math, text_answer
from star.checkers.numbers import is_nonfinite, parse_collection, parse_number
from star.checkers.screen import MAX_CHARS, screen

_ASSIGNMENT = re.compile(r"^([a-zA-Z](?:_\{?\w+\}?)?)\s*=\s*([^=<>]+)$")


def _split_assignment(s: str) -> tuple[str | None, str]:
    """("x", "3") for "x = 3", (None, s) otherwise."""
    m = _ASSIGNMENT.match(s)
    return (m.group(1), m.group(2).strip()) if m else (None, s)


def _numbers_verdict(g: str, p: str) -> Verdict | None:
    """Exact verdict when both sides are plain numbers (maybe as `x = 3`), else None."""
    g_var, g_val = _split_assignment(g)
    p_var, p_val = _split_assignment(p)
    if g_var and p_var and g_var != p_var:
        return None  # x = 3 vs y = 3: the sympy path decides
    gv, pv = parse_number(g_val), parse_number(p_val)
    if gv is None or pv is None:
        return None
    return Verdict.CORRECT if gv == pv else Verdict.INCORRECT


def _collections_verdict(g: str, p: str) -> Verdict | None:
    """Exact verdict when both sides are collections of plain numbers of the same shape
    (sets, lists, tuples or intervals with the same brackets, matrices), else None."""
    gc, pc = parse_collection(g), parse_collection(p)
    if gc is None or pc is None or gc[0] != pc[0]:
        return None
    return Verdict.CORRECT if gc[1] == pc[1] else Verdict.INCORRECT


def _text_verdict(g: str, p: str) -> Verdict | None:
    """Verdict when either side is prose ("Monday", \\text{no solution}), else None."""
    gt, pt = text_answer(g), text_answer(p)
    if gt is None and pt is None:
        return None
    gt = gt if gt is not None else compact(g).casefold()
    pt = pt if pt is not None else compact(p).casefold()
    return Verdict.CORRECT if compact(gt) == compact(pt) else Verdict.INCORRECT


def _every(verdicts: list[Verdict | None]) -> Verdict | None:
    """The verdict on candidates offered together (joined boxes): wrong when one is wrong,
    right only when all are; None when one still needs the slow path."""
    if Verdict.INCORRECT in verdicts:
        return Verdict.INCORRECT
    if None in verdicts:
        return None
    return Verdict.UNVERIFIABLE if Verdict.UNVERIFIABLE in verdicts else Verdict.CORRECT


@dataclass(frozen=True)
class MathChecker:
    """Math answers: fractions, radicals, pi, e, i, factorials, sets, tuples, intervals,
    matrices, equations and inequalities, percentages, units, degrees."""

    name: str = "math"
    strategies: tuple[str, ...] = ("boxed", "answer_is", "hashes", "final_line")

    def extract(self, text: str) -> str | None:
        try:
            return find_answer(text, self.strategies) if isinstance(text, str) else None
        except Exception:  # total by contract; extraction is plain string code
            return None

    def normalized(self, gold: str, pred: str | None) -> tuple[str, str] | Verdict:
        """Normalized (gold, pred) strings, or the verdict when one is missing or too long,
        when the gold is NaN or infinite (unverifiable) or the pred is (incorrect)."""
        if pred is None:
            return Verdict.INCORRECT
        p = self.extract(pred)
        if p is None:
            return Verdict.INCORRECT
        g = gold_answer(gold) if isinstance(gold, str) else None
        if g is None or len(g) > MAX_CHARS or len(p) > MAX_CHARS:
            return Verdict.UNVERIFIABLE
        g, p = normalize_math(g), normalize_math(p)
        if not p:
            return Verdict.INCORRECT
        if not g or is_nonfinite(g) or is_nonfinite(_split_assignment(g)[1]):  # "nan", "x = \infty"
            return Verdict.UNVERIFIABLE
        return Verdict.INCORRECT if is_nonfinite(p) else (g, p)

    def candidates(self, pred: str | None) -> list[str] | None:
        """The candidates of joined boxes in `pred` ("\\boxed{5} or \\boxed{6}"), else None."""
        if not isinstance(pred, str) or ("\\boxed" not in pred and "\\fbox" not in pred):
            return None  # only boxes make candidates: no second extraction for the rest
        return box_candidates(self.extract(pred))

    def fast_check(self, gold: str, pred: str | None) -> Verdict | None:
        try:
            if (several := self.candidates(pred)) is not None:
                return _every([self.fast_check(gold, c) for c in several])
            pair = self.normalized(gold, pred)
            if isinstance(pair, Verdict):
                return pair
            g, p = pair
            # A gold that mentions \infty is judged by its value, in a worker: "\infty + 1"
            # is an infinite gold (unverifiable), "(-\infty, 3)" a set of numbers.
            if compact(g) == compact(p) and "\\infty" not in g:
                return Verdict.CORRECT
            for decide in (_numbers_verdict, _collections_verdict, _text_verdict):
                verdict = decide(g, p)
                if verdict is not None:
                    return verdict
            if screen(g) is not None or screen(p) is not None:
                return Verdict.UNVERIFIABLE
            return None
        except Exception:
            return Verdict.UNVERIFIABLE

    def check(self, gold: str, pred: str | None) -> Verdict:
        """Full check; imports sympy: call inside a pool worker (or a test), never in the loop."""
        fast = self.fast_check(gold, pred)
        if fast is not None:
            return fast
        if (several := self.candidates(pred)) is not None:
            return _every([self.check(gold, c) for c in several]) or Verdict.UNVERIFIABLE
        from star.checkers import symbolic  # worker-only dependency

        pair = self.normalized(gold, pred)
        if isinstance(pair, Verdict):
            return pair
        try:
            g, p = symbolic.parse(pair[0]), symbolic.parse(pair[1])
            if g is None or symbolic.nonfinite(g):
                return Verdict.UNVERIFIABLE  # a gold we cannot read, or NaN or ∞, judges nothing
            if p is None or symbolic.nonfinite(p):
                return Verdict.INCORRECT
            return Verdict.CORRECT if symbolic.equal(g, p) else Verdict.INCORRECT
        except Exception:  # RecursionError, MemoryError, sympy internals: not decidable
            return Verdict.UNVERIFIABLE
