"""A countdown checker that reads the problem: the answer is an arithmetic expression over
the problem's numbers (`problem.meta["numbers"]`, each used exactly once) with + - * / and
parentheses, whose value must be the gold target. Model text is never evaluated with
`eval`: it is parsed with `ast` and only a whitelist of nodes is computed, in exact
fractions. `uses_problem = True` makes CheckPool pass the problem as a third argument.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

from star.checkers import Verdict
from star.checkers.extract import find_answer

MAX_CHARS = 200  # a countdown expression over a handful of numbers is short
_OPS = {ast.Add: Fraction.__add__, ast.Sub: Fraction.__sub__, ast.Mult: Fraction.__mul__,
        ast.Div: Fraction.__truediv__}


def evaluate(expression: str) -> tuple[Fraction, list[int]] | None:
    """(value, the integer literals used) of an expression of non-negative integers,
    + - * / and parentheses; None for anything else (names, calls, powers, floats, unary
    minus, a division by zero, text that does not parse)."""
    if len(expression) > MAX_CHARS:
        return None
    try:
        tree = ast.parse(expression.replace("\u00d7", "*").replace("\u00f7", "/"), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    used: list[int] = []

    def value(node: ast.AST) -> Fraction:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value >= 0:
            used.append(node.value)
            return Fraction(node.value)
        raise ValueError(f"not allowed: {type(node).__name__}")

    try:
        return value(tree.body), used
    except (ValueError, ZeroDivisionError, RecursionError):
        return None


@dataclass(frozen=True)
class CountdownChecker:
    """Gold the target ("24"); pred an expression ("(8 - 4) * 6", maybe "... = 24");
    the problem's meta["numbers"] the numbers it must use, each exactly once."""

    uses_problem: ClassVar[bool] = True
    name: str = "countdown"
    strategies: tuple[str, ...] = ("boxed", "answer_is", "final_line")

    def extract(self, text: str) -> str | None:
        if not isinstance(text, str):
            return None
        span = find_answer(text, self.strategies)
        if not span:
            return None
        return span.split("=")[0].strip().strip("$").strip() or None  # "(8-4)*6 = 24" -> "(8-4)*6"

    def fast_check(self, gold: str, pred: str | None, problem: Any) -> Verdict | None:
        return None  # judged in a worker, where the problem must arrive too

    def check(self, gold: str, pred: str | None, problem: Any) -> Verdict:
        numbers = getattr(problem, "meta", {}).get("numbers") if problem is not None else None
        if not numbers:
            return Verdict.UNVERIFIABLE  # without the problem's numbers nothing can be verified
        try:
            target = Fraction(gold)
        except (TypeError, ValueError, ZeroDivisionError):
            return Verdict.UNVERIFIABLE
        answer = self.extract(pred) if pred is not None else None
        result = evaluate(answer) if answer else None
        if result is None:
            return Verdict.INCORRECT
        value, used = result
        if Counter(used) != Counter(int(n) for n in numbers):
            return Verdict.INCORRECT  # a number missing, repeated or invented
        return Verdict.CORRECT if value == target else Verdict.INCORRECT
