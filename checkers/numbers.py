"""Exact plain-number parsing for the fast paths: integers, decimals, simple fractions.

Values are `fractions.Fraction`, so 0.1 + 0.2 is 3/10 and 1/2^99 never rounds to zero.
Numbers are capped in length: Python refuses to convert integers of more than 4,300 digits
from text, and a hostile 10,000-digit answer must cost nothing.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_DIGITS = 400

_INT = r"\d{1,3}(?:,\d{3})+|\d+"
_DEC = rf"(?:{_INT})(?:\.\d*)?|\.\d+"
_DECIMAL = re.compile(rf"^([+-]?)\s*({_DEC})$")
_SLASH = re.compile(r"^([+-]?)\s*\(?\s*([+-]?\d+)\s*\)?\s*/\s*\(?\s*([+-]?\d+)\s*\)?$")
_FRAC = re.compile(r"^([+-]?)\s*\\frac\s*\{\s*([+-]?\s*(?:\d+(?:\.\d+)?))\s*\}\s*\{\s*([+-]?\s*(?:\d+(?:\.\d+)?))\s*\}$")
_FRAC_SHORT = re.compile(r"^([+-]?)\s*\\frac\s*(\d)\s*(\d)$")  # \frac12


def _decimal(text: str) -> Fraction | None:
    text = text.replace(" ", "")
    if sum(c.isdigit() for c in text) > MAX_DIGITS:
        return None
    return Fraction(text.replace(",", ""))


_POWER = re.compile(r"^([+-]?)\s*(\d{1,6})\s*\^\s*(?:\{\s*([+-]?\d{1,4})\s*\}|(\d))$")
MAX_POWER_DIGITS = 300


def _power(m: re.Match[str]) -> Fraction | None:
    """2^{10} = 1024, 10^{-3} = 1/1000; None when the value would be huge."""
    base, exponent = int(m.group(2)), int(m.group(3) or m.group(4))
    if base > 1 and abs(exponent) * len(str(base)) > MAX_POWER_DIGITS:
        return None
    value = Fraction(base) ** exponent if base or exponent >= 0 else None
    if value is None:
        return None
    return -value if m.group(1) == "-" else value


def parse_number(s: str) -> Fraction | None:
    """The exact value of a plain number written as `s` (already normalized), else None.

    Accepts -1,234.5 / .5 / 3/4 / -(3)/(4) / \\frac{3}{4} / \\frac{-3}{4} / \\frac12 / 2^{10}.
    A zero denominator or an over-long number is not a plain number (None).
    """
    s = s.strip()
    if not s or len(s) > 2 * MAX_DIGITS:
        return None
    try:
        if m := _DECIMAL.match(s):
            value = _decimal(m.group(2))
            return None if value is None else (-value if m.group(1) == "-" else value)
        if m := _POWER.match(s):
            return _power(m)
        for pattern in (_SLASH, _FRAC, _FRAC_SHORT):
            if m := pattern.match(s):
                num, den = _decimal(m.group(2)), _decimal(m.group(3))
                if num is None or den is None or den == 0:
                    return None
                value = num / den
                return -value if m.group(1) == "-" else value
    except (ValueError, ZeroDivisionError, ArithmeticError):
        return None
    return None


# A NaN or an infinity as a whole answer, as floats, JSON and LaTeX write them (after
# normalize_math: "Infinity" and "∞" are "\\infty" by then), maybe in \\text{} or \\mathrm{}.
_NONFINITE = re.compile(r"^(?:[+-]|\\pm|\\mp)?(?:nan|inf|infinity|\\infty)$", re.IGNORECASE)
_WRAPPER = re.compile(r"^\\(?:text|textrm|textbf|mathrm|mathbf|operatorname)\{(.*)\}$")


def is_nonfinite(s: str) -> bool:
    """`s` (normalized) is NaN, an infinity or a plain fraction over zero: no finite number.

    "nan", "NaN", "inf", "-inf", "\\infty", "-\\infty", "\\text{NaN}", "1/0", "\\frac{0}{0}".
    An interval or a set with an infinite endpoint is not: "(-\\infty, 3)" is a set of numbers.
    """
    t = "".join(s.split())
    if len(t) > 2 * MAX_DIGITS:
        return False
    while (m := _WRAPPER.match(t)) is not None:
        t = m.group(1)
    if _NONFINITE.match(t):
        return True
    for pattern in (_SLASH, _FRAC, _FRAC_SHORT):
        if (m := pattern.match(t)) is not None:
            try:
                return _decimal(m.group(3)) == 0
            except (ValueError, ZeroDivisionError, ArithmeticError):
                return False
    return False


# --- collections of plain numbers ----------------------------------------------------------

_MATRIX = re.compile(r"^\\begin\{([pb]?matrix)\}(.*)\\end\{\1\}$", re.DOTALL)


def _split_top(s: str, sep: str) -> list[str]:
    """Split at `sep` outside brackets and braces."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and s.startswith(sep, i):
            parts.append(s[start:i])
            start = i + len(sep)
    parts.append(s[start:])
    return parts


def _numbers(items: list[str]) -> list[Fraction] | None:
    values = [parse_number(x) for x in items]
    return None if any(v is None for v in values) else values  # type: ignore[return-value]


def parse_collection(s: str) -> tuple[str, tuple] | None:
    """(shape, values) for a collection of plain numbers, else None.

    Shapes: "set" (\\{...\\} or a bare list "1, 2": order-free, as sympy's FiniteSet),
    the brackets themselves, e.g. "[)" (ordered: tuples and intervals), "matrix" (pmatrix,
    bmatrix, matrix; not vmatrix, a determinant).
    """
    s = s.strip()
    if len(s) > 2 * MAX_DIGITS:
        return None
    if m := _MATRIX.match(s):
        rows = [r for r in _split_top(m.group(2), "\\\\") if r.strip()]
        cells = [_numbers(_split_top(r, "&")) for r in rows]
        if not cells or any(c is None for c in cells) or len({len(c) for c in cells}) != 1:  # type: ignore[arg-type]
            return None
        return "matrix", tuple(tuple(c) for c in cells)  # type: ignore[arg-type]
    if s.startswith("\\{") and s.endswith("\\}"):
        values = _numbers(_split_top(s[2:-2], ","))
        return None if values is None else ("set", tuple(sorted(set(values))))
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _split_top(s[1:-1], ",") != [s[1:-1]]:
        if _split_top(s, ",") != [s]:
            return None  # "(1, 2), (3, 4)": several tuples
        values = _numbers(_split_top(s[1:-1], ","))
        return None if values is None else (s[0] + s[-1], tuple(values))
    parts = _split_top(s, ",")
    if len(parts) > 1:
        values = _numbers(parts)
        return None if values is None else ("set", tuple(sorted(set(values))))
    return None
