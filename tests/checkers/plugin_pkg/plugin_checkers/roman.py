"""A checker for integers written as Roman numerals ("XIV" for gold "14"): fast_check
defers every pair to the pool's workers, so the test sees the slow path used."""

from __future__ import annotations

import re
from dataclasses import dataclass

from star.checkers import Verdict
from star.checkers.extract import find_answer

_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_ROMAN = re.compile(r"^M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})$")


def roman_value(numeral: str) -> int | None:
    """The value of a well-formed Roman numeral (1 to 3999), else None."""
    s = numeral.strip().upper()
    if not s or not _ROMAN.match(s):
        return None
    total = 0
    for a, b in zip(s, s[1:] + " ", strict=True):
        v = _VALUES[a]
        total += -v if b != " " and _VALUES[b] > v else v
    return total


@dataclass(frozen=True)
class RomanChecker:
    """Gold an integer, pred a Roman numeral (bare, boxed or after "the answer is")."""

    name: str = "roman"
    strategies: tuple[str, ...] = ("boxed", "answer_is", "final_line")

    def extract(self, text: str) -> str | None:
        if not isinstance(text, str):
            return None
        span = find_answer(text, self.strategies)
        return span.strip().rstrip(".") if span else None

    def fast_check(self, gold: str, pred: str | None) -> Verdict | None:
        return None  # everything in a worker: the test checks that workers import this package

    def check(self, gold: str, pred: str | None) -> Verdict:
        try:
            target = int(gold)
        except (TypeError, ValueError):
            return Verdict.UNVERIFIABLE
        answer = self.extract(pred) if pred is not None else None
        value = roman_value(answer) if answer else None
        return Verdict.CORRECT if value == target else Verdict.INCORRECT


@dataclass(frozen=True)
class NamelessRomanChecker:
    """RomanChecker without a `name` field: a checker needs none (messages use the class name)."""

    def extract(self, text: str) -> str | None:
        return RomanChecker().extract(text)

    def fast_check(self, gold: str, pred: str | None) -> Verdict | None:
        return None

    def check(self, gold: str, pred: str | None) -> Verdict:
        return RomanChecker().check(gold, pred)
