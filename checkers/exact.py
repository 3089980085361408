"""The `exact` checker: normalized string equality, for answers that are names or words.

Normalization drops what carries no meaning in a short answer: math delimiters, \\text{},
surrounding quotes, trailing punctuation, repeated whitespace and (unless
`case_sensitive`) case. No sympy: `fast_check` always answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from star.checkers.base import Verdict
from star.checkers.extract import box_candidates, find_answer, gold_answer
from star.checkers.normalize import normalize_text
from star.checkers.screen import MAX_CHARS


@dataclass(frozen=True)
class ExactChecker:
    """Normalized string equality."""

    name: str = "exact"
    strategies: tuple[str, ...] = ("boxed", "answer_is", "hashes", "final_line")
    case_sensitive: bool = False

    def extract(self, text: str) -> str | None:
        try:
            span = find_answer(text, self.strategies) if isinstance(text, str) else None
            several = box_candidates(span)  # joined boxes: an answer only if all say it
            if several is None:
                return span
            same = {normalize_text(c, self.case_sensitive) for c in several}
            return several[-1] if len(same) == 1 else None
        except Exception:
            return None

    def fast_check(self, gold: str, pred: str | None) -> Verdict:
        try:
            if pred is None:
                return Verdict.INCORRECT
            p = self.extract(pred)
            g = gold_answer(gold) if isinstance(gold, str) else None
            if g is None or len(g) > MAX_CHARS:
                return Verdict.UNVERIFIABLE
            if p is None or len(p) > MAX_CHARS:
                return Verdict.INCORRECT
            gn = normalize_text(g, self.case_sensitive)
            pn = normalize_text(p, self.case_sensitive)
            if not gn:
                return Verdict.UNVERIFIABLE
            return Verdict.CORRECT if gn == pn else Verdict.INCORRECT
        except Exception:
            return Verdict.UNVERIFIABLE

    def check(self, gold: str, pred: str | None) -> Verdict:
        return self.fast_check(gold, pred)
