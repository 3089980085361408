"""The `choice` checker: multiple-choice option labels, `(b)`, `B)`, `the answer is b`.

A label is read from the answer span (boxed, "the answer is ...", else the final line).
Strong forms name a label unambiguously: `(B)`, `B)`, `[B]`, `**B**`, `\\text{(B)}`,
`option B`, `B.`/`B:` opening the span, or the span being the label alone. A bare capital
letter opening the span ("B because ...") is a weaker form used only when no strong form
exists. Hedged answers naming two different options ("A or B", "(A) and (C)") are
rejected: the extraction gives None and the verdict is INCORRECT. No sympy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from star.checkers.base import Verdict
from star.checkers.extract import box_candidates, find_answer, gold_answer
from star.checkers.normalize import normalize_unicode

# "A dog ..." is an article; "A because ..." is option A.
_ARTICLE = re.compile(r"\s+(?!(?:because|since|as|is|was|which|with|for|here)\b)[a-z]")


@dataclass(frozen=True)
class _Patterns:
    leading: re.Pattern[str]  # a label opening the span
    follow: re.Pattern[str]  # "... or B" right after it
    strong: tuple[re.Pattern[str], ...]  # unambiguous label forms anywhere
    hedge: re.Pattern[str]  # two labels joined by or/and/comma anywhere


@lru_cache(maxsize=32)
def _patterns(labels: str) -> _Patterns:
    upper = re.escape(labels)
    cls = "[" + re.escape(labels + labels.lower()) + "]"
    joiner = r"\s*(?:,|/|&|\bor\b|\band\b)\s*(?:maybe\s+)?"
    return _Patterns(
        # "B", "(b)", "B)", "b.", "**B**", "\\text{(B)}", "option B"; lower case only before
        # punctuation or the end, so that prose is not read as labels.
        leading=re.compile(
            rf"^\W*(?:\\text(?:bf)?\{{|(?i:option|choice)\s+)?\W*"
            rf"(?:\(\s*({cls})\s*\)|([{upper}])(?!\w)|({cls})(?=\s*(?:[).:,;}}*]|$)))"
        ),
        follow=re.compile(rf"\)?\**{joiner}\(?\s*({cls})\s*\)?(?!\w)"),
        strong=(
            re.compile(rf"\(\s*({cls})\s*\)"),  # (B)
            re.compile(rf"\[\s*({cls})\s*\]"),  # [B]
            re.compile(rf"(?<![\w(\\])({cls})\)"),  # B)
            re.compile(rf"\*\*\s*\(?({cls})\)?\s*\*\*"),  # **B**
            re.compile(rf"\\text(?:bf)?\{{\s*\(?({cls})\)?\s*\}}"),  # \text{(B)}
            re.compile(rf"(?i:\b(?:option|choice)\s+)\(?({cls})\b"),  # option B
        ),
        hedge=re.compile(rf"(?<![\w\\])(\(?)({cls})\)?{joiner}\(?({cls})\)?(?!\w)"),
    )


def _leading(s: str, p: _Patterns) -> tuple[str, int] | None:
    """(label, end) of a label opening the span; "A" or "I" before a lower-case word is an
    English word, not a label."""
    m = p.leading.match(s)
    if m is None:
        return None
    label = next(g for g in m.groups() if g)
    if label in "AI" and _ARTICLE.match(s, m.end()):
        return None
    return label.upper(), m.end()


def find_label(span: str, labels: str) -> str | None:
    """The one option label `span` names (upper case), or None (none, or a hedge).

    A label opening the span wins unless another label is joined to it ("A or B"); else
    the span must name exactly one label in a strong form and hold no hedge.
    """
    s = normalize_unicode(span)[:2000].strip()
    p = _patterns(labels)
    lead = _leading(s, p)
    if lead is not None:
        label, end = lead
        other = p.follow.match(s, end)
        if other is not None and other.group(1).upper() != label:
            return None
        return label
    for h in p.hedge.finditer(s):
        a, b = h.group(2), h.group(3)
        # "a or b" in lower case is prose; a hedge is upper case or parenthesized
        if a.upper() != b.upper() and (a.isupper() or a.isdigit() or h.group(1)):
            return None
    found = {m.group(1).upper() for pattern in p.strong for m in pattern.finditer(s)}
    return found.pop() if len(found) == 1 else None


@dataclass(frozen=True)
class ChoiceChecker:
    """Option labels (case-insensitive); `labels` lists the valid ones, e.g. "ABCDE"."""

    name: str = "choice"
    labels: str = "ABCDE"
    strategies: tuple[str, ...] = ("boxed", "answer_is", "final_line")

    def extract(self, text: str) -> str | None:
        try:
            if not isinstance(text, str):
                return None
            span = find_answer(text, self.strategies)
            if span is None:
                return None
            several = box_candidates(span)  # joined boxes: a label only if all name it
            if several is None:
                return find_label(span, self.labels)
            labels = {find_label(c, self.labels) for c in several}
            return labels.pop() if len(labels) == 1 else None
        except Exception:
            return None

    def fast_check(self, gold: str, pred: str | None) -> Verdict:
        try:
            if pred is None:
                return Verdict.INCORRECT
            g_span = gold_answer(gold) if isinstance(gold, str) else None
            g = find_label(g_span, self.labels) if g_span else None
            if g is None:
                return Verdict.UNVERIFIABLE
            p = self.extract(pred)
            return Verdict.CORRECT if p == g else Verdict.INCORRECT
        except Exception:
            return Verdict.UNVERIFIABLE

    def check(self, gold: str, pred: str | None) -> Verdict:
        return self.fast_check(gold, pred)
