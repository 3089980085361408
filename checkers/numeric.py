"""The `numeric` checker: GSM8K-style numbers, compared exactly.

Commas, a currency sign, a trailing period, negative numbers, decimals and simple
fractions (`3/4`, `5 / 6`) are read; the values are compared as exact fractions. An answer
span is read by its last number, which must be a lone number: a span that offers several
candidates ("5 or 6", "between 5 and 6", "5, 6", "5 to 6"), a range or an unevaluated
expression ("5-6", "2 + 4") states no number, so it is INCORRECT whatever the gold. There is deliberately no
relative tolerance and no x100 leniency: that is where other graders accept 10000 for
10001 or 0.5 for 50. NaN and infinity are no numbers: a gold that states one is
unverifiable, a prediction that mentions one states no number. No sympy anywhere:
`fast_check` always answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from star.checkers.base import Verdict
from star.checkers.extract import box_candidates, find_answer, gold_answer, lone_last_number
from star.checkers.normalize import normalize_unicode
from star.checkers.numbers import MAX_DIGITS, parse_number

_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?|(?<![\w\d])-?\.\d+")
# NaN or an infinity anywhere in a span: "nan", "-inf", "Infinity", "\infty", "∞", "0 \cdot \infty"
# (as floats, JSON and LaTeX write them; not "Nan", a name).
_NONFINITE = re.compile(
    r"(?<![a-zA-Z])(?:nan|NaN|NAN|inf|Inf|INF|infinity|Infinity|INFINITY)(?![a-zA-Z])|\\infty|\u221e"
)


def read_number(text: str) -> str | None:
    """The last number in an answer span, cleaned: "$1,234." -> "1234", "−5" -> "-5";
    None when it is no lone number ("5 or 6", "between 5 and 6", "5-6": a hedge, a range)."""
    if _NONFINITE.search(text):
        return None  # "\infty - 5" states no finite number, least of all 5
    s = text if text.isascii() else normalize_unicode(text)
    s = s.replace("\\$", "").replace("$", "").replace("\\!", "").replace("{,}", ",")
    s = re.sub(r"(?<=\d)\\?,(?=\d{3})", ",", s)  # 1\,000
    s = re.sub(r"(?<=-)\s+(?=\d)", "", s)  # "- 5"
    s = _FRAC.sub(r"\1/\2", s)  # \frac{3}{4} -> 3/4
    number, _ = lone_last_number(s, _NUMBER)
    return None if number is None else number.replace(",", "").replace(" ", "")


@dataclass(frozen=True)
class NumericChecker:
    """Plain numbers, exactly: 5 = 5.0 = 5.00 = $5, 10000 != 10001, 0.5 != 50."""

    name: str = "numeric"
    strategies: tuple[str, ...] = ("hashes", "answer_is", "boxed", "whole")

    def extract(self, text: str) -> str | None:
        try:
            # The span's last number: with the `whole` fallback, the output's last number.
            span = find_answer(text, self.strategies) if isinstance(text, str) else None
            if span is None:
                return None
            several = box_candidates(span)  # joined boxes: one number only if all agree
            if several is None:
                return read_number(span)
            numbers = [read_number(c) for c in several]
            values = {parse_number(n) if n is not None else None for n in numbers}
            return numbers[-1] if len(values) == 1 and None not in values else None
        except Exception:
            return None

    def fast_check(self, gold: str, pred: str | None) -> Verdict:
        try:
            if pred is None:
                return Verdict.INCORRECT
            g_span = gold_answer(gold) if isinstance(gold, str) else None
            if g_span is not None and _NONFINITE.search(g_span):
                return Verdict.UNVERIFIABLE  # a NaN or infinite gold: nothing to verify
            p = self.extract(pred)
            if p is None:
                return Verdict.INCORRECT
            g = read_number(g_span) if g_span else None
            if g is None:
                return Verdict.UNVERIFIABLE
            if sum(c.isdigit() for c in p) > MAX_DIGITS or sum(c.isdigit() for c in g) > MAX_DIGITS:
                return Verdict.UNVERIFIABLE
            gv, pv = parse_number(g), parse_number(p)
            if gv is None:
                return Verdict.UNVERIFIABLE
            if pv is None:
                return Verdict.INCORRECT
            return Verdict.CORRECT if gv == pv else Verdict.INCORRECT
        except Exception:
            return Verdict.UNVERIFIABLE

    def check(self, gold: str, pred: str | None) -> Verdict:
        return self.fast_check(gold, pred)
