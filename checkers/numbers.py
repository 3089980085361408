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


def parse_number(s: str) -> Fraction | None:
    """The exact value of a plain number written as `s` (already normalized), else None.

    Accepts -1,234.5 / .5 / 3/4 / -(3)/(4) / \\frac{3}{4} / \\frac{-3}{4} / \\frac12.
    A zero denominator or an over-long number is not a plain number (None).
    """
    s = s.strip()
    if not s or len(s) > 2 * MAX_DIGITS:
        return None
    try:
        if m := _DECIMAL.match(s):
            value = _decimal(m.group(2))
            return None if value is None else (-value if m.group(1) == "-" else value)
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
