"""A small parser for the plainest LaTeX answers, 100x faster than latex2sympy's ANTLR one.

Polynomials, fractions, roots, pi, single equations and inequality chains
(`(x+18)(x+14)`, `5\\sqrt{5}`, `\\frac{43\\pi}{33}`, `y=91x+87`, `-4 < x \\le 1`) are most
of the answers that need sympy, and latex2sympy spends ~10 ms parsing each. This parser
accepts only a strict subset and mirrors latex2sympy's readings of it (lower-cased
letters, `e` is Euler's number, `x^23` is x to the 23rd, adjacent letters multiply) and
refuses what latex2sympy reads irregularly (`f(x)`, `dx`, `1 2`, `2\\frac{1}{2}`, `E`);
anything else returns None and goes to latex2sympy.
tests/checkers/test_checker_units.py checks that both parsers agree on every table answer
this one accepts. Builds sympy objects: worker processes only.
"""

from __future__ import annotations

import re
from typing import Any

import sympy
from latex2sympy2_extended.logic import And

_TOKEN = re.compile(r"\s+|\d+|\\[a-zA-Z]+|[a-zA-Z]|[-+*^(){}=\[\]<>]|.")
_COMMANDS = {"\\frac", "\\sqrt", "\\pi", "\\cdot", "\\times", "\\le", "\\ge", "\\leq", "\\geq", "\\lt", "\\gt"}
_INEQUALITIES = {
    "<": sympy.StrictLessThan, "\\lt": sympy.StrictLessThan,
    ">": sympy.StrictGreaterThan, "\\gt": sympy.StrictGreaterThan,
    "\\le": sympy.LessThan, "\\leq": sympy.LessThan,
    "\\ge": sympy.GreaterThan, "\\geq": sympy.GreaterThan,
}  # fmt: skip
_MAX_TOKENS = 200


class _Unsupported(Exception):
    """Outside the subset: let latex2sympy decide."""


def _tokens(s: str) -> list[str]:
    raw = _TOKEN.findall(s)
    out: list[str] = []
    for i, tok in enumerate(raw):
        if tok.isspace():
            # latex2sympy reads "1 2" as 1 + 2; we do not try to mirror that
            if 0 < i < len(raw) - 1 and raw[i - 1].isdigit() and raw[i + 1].isdigit():
                raise _Unsupported
            continue
        if tok.startswith("\\") and tok not in _COMMANDS:
            raise _Unsupported
        if len(tok) == 1 and not (tok.isalnum() or tok in "-+*^(){}=[]<>"):
            raise _Unsupported
        if tok == "E":  # latex2sympy: "e" is Euler's number but "E" a symbol
            raise _Unsupported
        if out and len(out[-1]) == 1 and out[-1].isalpha():
            # latex2sympy reads "f(x)" (sometimes "x(2)") as a function, "dx" as a differential
            if tok == "(" or (out[-1] == "d" and tok.isalpha()):
                raise _Unsupported
        out.append(tok)
    if len(out) > _MAX_TOKENS:
        raise _Unsupported
    return out


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.toks = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise _Unsupported
        self.pos += 1
        return tok

    def answer(self) -> Any:
        lhs = self.sum()
        if self.peek() in _INEQUALITIES:
            return self.inequalities(lhs)
        if self.peek() == "=":
            self.take()
            rhs = self.sum()
            if not (lhs.free_symbols or rhs.free_symbols):
                raise _Unsupported  # "3 \times 4 = 12": latex2sympy keeps 3*4 unevaluated
            result = sympy.Eq(lhs, rhs, evaluate=False)
        else:
            result = lhs
        if self.peek() is not None:
            raise _Unsupported  # a second "=", a stray brace, ...
        return result

    def inequalities(self, lhs: Any) -> Any:
        """`a < x`, or a chain `a < x \\le b` as latex2sympy builds it: And of the links."""
        links = []
        while self.peek() in _INEQUALITIES:
            relation = _INEQUALITIES[self.take()]
            rhs = self.sum()
            links.append(relation(lhs, rhs, evaluate=False))
            lhs = rhs
        if self.peek() is not None or not any(r.free_symbols for r in links):
            raise _Unsupported
        return links[0] if len(links) == 1 else And(*links)

    def sum(self) -> Any:
        terms = [self.signed()]
        while self.peek() in ("+", "-"):
            sign = self.take()
            term = self.product()
            terms.append(term if sign == "+" else -term)
        return sympy.Add(*terms)

    def signed(self) -> Any:
        if self.peek() == "-":
            self.take()
            return -self.product()
        if self.peek() == "+":
            self.take()
        return self.product()

    def product(self) -> Any:
        factors = [self.power()]
        while True:
            tok = self.peek()
            if tok in ("\\cdot", "\\times", "*"):
                self.take()
                factors.append(self.power())
            elif tok is not None and (tok.isalnum() or tok in ("(", "{", "\\frac", "\\sqrt", "\\pi")):
                if tok == "\\frac" and self.toks[self.pos - 1].isdigit():
                    raise _Unsupported  # 2\frac{1}{2} is a mixed number to latex2sympy
                if tok.isdigit() and self.toks[self.pos - 1].isdigit():
                    raise _Unsupported
                factors.append(self.power())
            else:
                return sympy.Mul(*factors)

    def power(self) -> Any:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        tok = self.peek()
        if tok == "{":
            exponent = self.group()
        elif tok is not None and tok.isalnum():
            exponent = self.atom()  # x^23 is x**23 to latex2sympy
        else:
            raise _Unsupported
        if self.peek() == "^":
            raise _Unsupported  # 2^3^2: latex2sympy groups it to the left
        return sympy.Pow(base, exponent)

    def group(self) -> Any:
        self.take("{")
        inner = self.sum()
        self.take("}")
        return inner

    def atom(self) -> Any:
        tok = self.take()
        if tok.isdigit():
            return sympy.Integer(tok)
        if tok.isalpha() and len(tok) == 1:
            return sympy.E if tok == "e" else sympy.Symbol(tok.lower())
        if tok == "\\pi":
            return sympy.pi
        if tok == "(":
            inner = self.sum()
            self.take(")")
            return inner
        if tok == "{":
            self.pos -= 1
            return self.group()
        if tok == "\\frac":
            return self.group() / self.group()
        if tok == "\\sqrt":
            if self.peek() == "[":
                self.take()
                index = self.sum()
                self.take("]")
                return sympy.root(self.group(), index)
            return sympy.sqrt(self.group())
        raise _Unsupported


def parse_simple(s: str) -> Any | None:
    """Sympy object for `s` when it is in the plain subset, else None."""
    try:
        return _Parser(_tokens(s)).answer()
    except (_Unsupported, ZeroDivisionError, ValueError, TypeError, RecursionError):
        return None
