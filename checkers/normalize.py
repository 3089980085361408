"""String normalization of extracted answers: pure, linear-time, no sympy.

Both the main-process fast path and the worker's sympy path start from the string that
`normalize_math` returns, so a pair is judged on the same text whichever path answers it.
The rules here are the answer-writing conventions that carry no mathematical content:
delimiters, spacing, unicode spellings, thousands separators, units, percent and degree
signs, currency. Policies (why a percent sign is dropped rather than divided by 100, ...)
are documented in docs/CHECKERS.md.
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction

from star.checkers.numbers import parse_number

# --- unicode -------------------------------------------------------------------------------

_UNICODE_MAP = {
    "\u2212": "-",  # minus sign
    "\u2010": "-",
    "\u2011": "-",
    "\u2013": "-",  # en dash, often typed for minus
    "\ufe63": "-",
    "\uff0d": "-",
    "\u00d7": r"\times ",
    "\u2715": r"\times ",
    "\u00f7": r"\div ",
    "\u00b7": r"\cdot ",
    "\u22c5": r"\cdot ",
    "\u2219": r"\cdot ",
    "\u03c0": r"\pi ",
    "\u221e": r"\infty ",
    "\u2264": r"\le ",
    "\u2a7d": r"\le ",
    "\u2265": r"\ge ",
    "\u2a7e": r"\ge ",
    "\u2260": r"\ne ",
    "\u00b1": r"\pm ",
    "\u2213": r"\mp ",
    "\u222a": r"\cup ",
    "\u2229": r"\cap ",
    "\u2208": r"\in ",
    "\u2205": r"\emptyset ",
    "\u00b0": r"^\circ ",
    "\u2044": "/",  # fraction slash
    "\u2215": "/",
    "\u2026": r"\ldots ",
    "\u2032": "'",
    # Thin and other narrow spaces: LaTeX's \, so that the thousands rule below sees them.
    "\u2009": r"\,",
    "\u202f": r"\,",
    "\u2007": r"\,",
    "\u2008": r"\,",
    "\u200a": r"\,",
    "\u00a0": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u3000": " ",
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
}
_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ", "0123456789+-=()ni", strict=True))
_SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎", "0123456789+-=()", strict=True))
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
}  # fmt: skip


def _vulgar_fraction(ch: str) -> str | None:
    """'½' -> '\\frac{1}{2}' for the unicode vulgar fractions (their numeric value is exact)."""
    if not unicodedata.name(ch, "").startswith("VULGAR FRACTION"):
        return None
    value = Fraction(unicodedata.numeric(ch)).limit_denominator(100)
    return rf"\frac{{{value.numerator}}}{{{value.denominator}}}"


def _greek(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    if not name.startswith("GREEK "):
        return None
    word = name.rsplit(" ", 1)[-1].lower()
    if word == "lamda":  # unicode's spelling
        word = "lambda"
    if word not in _GREEK:
        return None
    return "\\" + (word.capitalize() if "CAPITAL" in name else word) + " "


def _sqrt_argument(text: str, i: int) -> tuple[str, int]:
    """The argument of a unicode root sign starting at text[i]: digits, a letter, (...) or {...}."""
    n = len(text)
    if i < n and text[i] in "({":
        close = ")" if text[i] == "(" else "}"
        depth, j = 0, i
        while j < n:
            if text[j] == text[i]:
                depth += 1
            elif text[j] == close:
                depth -= 1
                if depth == 0:
                    inner = text[i + 1 : j] if close == "}" else text[i : j + 1]
                    return inner, j + 1
            j += 1
        return text[i + 1 :], n
    j = i
    while j < n and (text[j].isdigit() or text[j] == "."):
        j += 1
    if j > i:
        return text[i:j], j
    if i < n and text[i].isalpha():
        return text[i], i + 1
    return "", i


def normalize_unicode(text: str) -> str:
    """Spell unicode math in LaTeX: ½ -> \\frac{1}{2}, √2 -> \\sqrt{2}, x² -> x^{2}, − -> -."""
    if text.isascii():
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _UNICODE_MAP:
            out.append(_UNICODE_MAP[ch])
        elif ch in "√∛∜":
            arg, i = _sqrt_argument(text, i + 1)
            index = {"√": "", "∛": "[3]", "∜": "[4]"}[ch]
            out.append(rf"\sqrt{index}{{{arg}}}")
            continue
        elif ch in _SUPERSCRIPTS or ch in _SUBSCRIPTS:
            table, mark = (_SUPERSCRIPTS, "^") if ch in _SUPERSCRIPTS else (_SUBSCRIPTS, "_")
            j = i
            while j < n and text[j] in table:
                j += 1
            out.append(mark + "{" + "".join(table[c] for c in text[i:j]) + "}")
            i = j
            continue
        elif (frac := _vulgar_fraction(ch)) is not None:
            out.append(frac)
        elif (letter := _greek(ch)) is not None:
            out.append(letter)
        elif unicodedata.category(ch) == "Cc" and ch not in "\n\t":
            pass  # control characters carry nothing
        else:
            out.append(ch)
        i += 1
    # NFKC folds full-width digits and letters, ligatures, "…" etc. into ASCII.
    return unicodedata.normalize("NFKC", "".join(out))


# --- delimiters and layout -----------------------------------------------------------------

_DELIMS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_TEXT_CMD = r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mbox|operatorname)"


def strip_delimiters(text: str) -> str:
    """Remove one pair of math delimiters around the whole answer, repeatedly, and bold marks."""
    s = text.strip()
    changed = True
    while changed and s:
        changed = False
        for left, right in _DELIMS:
            inner = s[len(left) : len(s) - len(right)]
            # "$x$ and $y$" is two formulas, not one wrapped in $...$
            if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right) and left not in inner:
                s = inner.strip()
                changed = True
        if len(s) >= 4 and s.startswith("**") and s.endswith("**"):
            s = s[2:-2].strip()
            changed = True
    return s


# \left( ... \right) and friends: sizing commands carry no meaning.
_SIZING = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)(?![a-zA-Z])\s*")
_NOISE = re.compile(r"\\(?:displaystyle|textstyle|scriptstyle|limits|nonumber|quad|qquad)(?![a-zA-Z])|\\!")
_FRAC_VARIANTS = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_THOUSANDS = re.compile(r"(?<![\d.])(\d{1,3})((?:(?:\\,|\{,\}|\\;|\\:|(?<!\\)\\ |~|\\thinspace ?)\d{3})+)(?![\d])")
_THOUSANDS_SEP = re.compile(r"\\,|\{,\}|\\;|\\:|\\ |~|\\thinspace ?")
_SPACED_THOUSANDS = re.compile(r"(?<![\d.,])(\d{1,3})((?: \d{3})+)(?![\d.,]| ?\\frac)")
_LATEX_SPACE = re.compile(r"(?<!\\)\\[,;: ]|~|\\thinspace|\\enspace")  # not the \\ of a row
_DOUBLE_FACTORIAL = re.compile(r"(?<![\d.!])(\d{1,3})!!(?!!)")
_POW_STARSTAR = re.compile(r"\*\*")
_SCI = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?\d{1,4})(?![\w.])")
_BARE_FUNCS = re.compile(r"(?<![\\a-zA-Z])(pi|infty|sin|cos|tan|cot|sec|csc|ln|log|exp)(?![a-zA-Z])")
_TRIG = re.compile(r"\\(?:a|arc)?(?:sin|cos|tan|cot|sec|csc)h?(?![a-zA-Z])")
_DEGREES = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|\^\s*\{\s*o\s*\}")
_PERCENT = re.compile(r"\\?%|\\text\{\s*\\?%\s*\}|\\percent(?![a-zA-Z])")
_CURRENCY = re.compile(r"\\\$|\$|\\(?:text)?(?:euro|pounds|yen)\b|€|£|¥")
_REPEATING = re.compile(r"(-?)(\d*)\.(\d*)\\(?:overline|bar|dot)\s*\{\s*(\d{1,20})\s*\}")
_REPEATING_PARENS = re.compile(r"(?<![\w.])(-?)(\d+)\.(\d*)\((\d{1,20})\)(?![\w(])")  # 0.1(6)
_TRAILING_NOISE = re.compile(r"\\text\{\s*[.,;]?\s*\}$|\\quad$|\\qquad$")
_INFINITY = re.compile(r"(?<![\\a-zA-Z])infinity(?![a-zA-Z])", re.IGNORECASE)
_SQRT_PAREN = re.compile(r"\\?sqrt\s*\(")


def strip_trailing(s: str) -> str:
    """Drop sentence punctuation after an answer ("5.", "$x$,"); a loop, not a regex, so that
    a long run of dots costs linear time."""
    while True:
        t = _TRAILING_NOISE.sub("", s.rstrip(" \t\n.,;:")).rstrip(" \t\n.,;:")
        if t == s:
            return s
        s = t


def _fix_sqrt_parens(s: str) -> str:
    """sqrt(2) and \\sqrt(x+1) -> \\sqrt{...}: plain-text roots, balanced parentheses."""
    out, pos = [], 0
    for m in _SQRT_PAREN.finditer(s):
        if m.start() < pos:
            continue
        depth, j = 0, m.end() - 1
        while j < len(s):
            depth += {"(": 1, ")": -1}.get(s[j], 0)
            if depth == 0:
                break
            j += 1
        if depth:
            continue
        out.append(s[pos : m.start()] + "\\sqrt{" + s[m.end() : j] + "}")
        pos = j + 1
    return "".join(out) + s[pos:]


def _fix_thousands(s: str) -> str:
    s = _THOUSANDS.sub(lambda m: m.group(1) + _THOUSANDS_SEP.sub("", m.group(2)), s)
    # "1 000 000" only when every group has three digits (not "2 3", not a mixed number).
    return _SPACED_THOUSANDS.sub(lambda m: m.group(1) + m.group(2).replace(" ", ""), s)


def _double_factorial(m: re.Match[str]) -> str:
    # latex2sympy reads n!! as (n!)!, which is wrong and, for n >= 10, enormous.
    n, value = int(m.group(1)), 1
    while n > 1:
        value, n = value * n, n - 2
    return str(value)


def _repeating_decimal(m: re.Match[str]) -> str:
    """0.1\\overline{6} -> \\frac{1}{6}: exact value of a repeating decimal."""
    sign, whole, fixed, period = m.groups()
    value = Fraction(int(whole or "0"))
    if fixed:
        value += Fraction(int(fixed), 10 ** len(fixed))
    value += Fraction(int(period), (10 ** len(period) - 1) * 10 ** len(fixed))
    frac = rf"\frac{{{value.numerator}}}{{{value.denominator}}}"
    return f"{sign}{frac}" if value.denominator != 1 else f"{sign}{value.numerator}"


def _sci(m: re.Match[str]) -> str:
    return f"{m.group(1)}\\times 10^{{{int(m.group(2))}}}"


# --- units ---------------------------------------------------------------------------------

_UNIT_WORDS = (
    "cm|mm|km|m|meters?|metres?|centimeters?|millimeters?|kilometers?|inch(?:es)?|in|feet|foot|ft|"
    "yards?|yd|miles?|mi|mph|kph|km/h|m/s|cm\\^\\{?[23]\\}?|m\\^\\{?[23]\\}?|"
    "square|sq|cubic|units?|kg|g|grams?|kilograms?|mg|lbs?|pounds?|ounces?|oz|tons?|"
    "l|liters?|litres?|ml|gallons?|gal|quarts?|pints?|cups?|"
    "s|sec|seconds?|min|minutes?|h|hrs?|hours?|days?|weeks?|months?|years?|yrs?|"
    "dollars?|cents?|euros?|degrees?|deg|radians?|rad|points?|percent|people|persons?|students?|"
    "apples?|cookies?|marbles?|books?|times|ways|items?|pieces?|boxes|bags?|cars?|trees?"
)
# A unit in \text{...} after a number or closing brace: "5\text{ cm}^2", "12 \mbox{ dollars}".
_TEXT_UNIT = re.compile(
    rf"(?<=[\d}}\s])\s*{_TEXT_CMD}\{{\s*(?:{_UNIT_WORDS})(?:\s+(?:{_UNIT_WORDS}))*\s*\}}(?:\^\{{?[23]\}}?)?\s*$"
)
# A bare unit word of two letters or more after a number: "5 cm", "3.5 hours" (never "5 x").
_BARE_UNIT = re.compile(rf"(?<=\d)\s*(?:{_UNIT_WORDS})(?:\^\{{?[23]\}}?)?\s*$")


# Any words after a plain number: "7 tickets", "3.5 square feet" (checked by parse_number).
_WORDS_AFTER_NUMBER = re.compile(r"^(.*?\d\}?)\s*([a-zA-Z]{3,}(?:\s+[a-zA-Z]+){0,3})$")


def strip_units(s: str) -> str:
    """Drop a trailing unit: the question fixes the unit, the answer's number is what counts."""
    for _ in range(2):  # "5 \text{cm}^2 \text{ per day}"-style doubles
        stripped = _TEXT_UNIT.sub("", s).strip()
        m = _BARE_UNIT.search(stripped)
        if m and len(m.group(0).strip()) >= 2:
            stripped = stripped[: m.start()].strip()
        if not stripped or stripped == s:
            break
        s = stripped
    m = _WORDS_AFTER_NUMBER.match(s)
    if m and parse_number(m.group(1)) is not None and not _KNOWN_NAMES.search(m.group(2)):
        s = m.group(1)
    return s


# --- text answers ---------------------------------------------------------------------------

_WHOLE_TEXT = re.compile(rf"^{_TEXT_CMD}\{{([^{{}}]*)\}}$")
_COMMAND = re.compile(r"\\(?:begin|end|operatorname|mathbb|mathcal|mathfrak)\s*\{[^{}]*\}|\\[a-zA-Z]+")
_KNOWN_NAMES = re.compile(
    r"(?i)\b(?:arc)?(?:sin|cos|tan|cot|sec|csc)h?|\b(?:log|ln|exp|sqrt|max|min|gcd|lcm|det|mod|lim|"
    r"pi|infty|inf|and|or|undefined)\b"
)
_WORD_RUN = re.compile(r"[a-zA-Z]{4,}")


def text_answer(s: str) -> str | None:
    """The answer as prose ("Monday", "\\text{no solution}"), or None when it reads as math.

    A whole answer wrapped in \\text{} with two letters or more is prose; so is one holding a
    run of four letters that is not a command or a function name. Shorter runs ("ab", "xyz")
    are products of variables.
    """
    m = _WHOLE_TEXT.match(s)
    if m and sum(c.isalpha() for c in m.group(1)) >= 2:
        return _fold_text(m.group(1))
    bare = _KNOWN_NAMES.sub(" ", _COMMAND.sub(" ", s))
    if _WORD_RUN.search(bare):
        return _fold_text(re.sub(rf"{_TEXT_CMD}\{{([^{{}}]*)\}}", r"\1", s))
    return None


def _fold_text(s: str) -> str:
    s = re.sub(r"[\s~]+|\\[,;: ]", " ", s).strip().strip(".").strip()
    return s.casefold()


# --- the pipeline --------------------------------------------------------------------------


def normalize_math(text: str) -> str:
    """Canonical spelling of a math answer; keeps every mathematical distinction.

    Order matters: unicode first (so ½ and − join the ASCII rules), delimiters, layout
    commands, thousands separators before anything reads digits, units and signs last.
    """
    s = normalize_unicode(text)
    s = strip_delimiters(s)
    s = strip_trailing(s)
    s = strip_delimiters(s)
    s = _SIZING.sub("", s)
    s = _NOISE.sub("", s)
    s = _FRAC_VARIANTS.sub(r"\\frac", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\over ", "/")
    s = _fix_thousands(s)
    s = _LATEX_SPACE.sub(" ", s)
    s = _POW_STARSTAR.sub("^", s)
    s = _SCI.sub(_sci, s)
    s = _INFINITY.sub(r"\\infty", s)
    s = _fix_sqrt_parens(s)
    s = _BARE_FUNCS.sub(r"\\\1", s)
    s = _DOUBLE_FACTORIAL.sub(_double_factorial, s)
    s = _REPEATING.sub(_repeating_decimal, s)
    s = _REPEATING_PARENS.sub(_repeating_decimal, s)
    s = _PERCENT.sub("", s)
    s = _CURRENCY.sub("", s)
    if not _TRIG.search(s):
        # A standalone angle answer is a number of degrees (the unit is the question's);
        # inside sin/cos/... the degree sign converts to radians at parse time.
        s = _DEGREES.sub("", s)
    s = strip_units(s)
    s = re.sub(r"\s+", " ", s).strip()
    return strip_trailing(s)


def compact(s: str) -> str:
    """Whitespace-free form for string equality (spacing never changes a math answer)."""
    return re.sub(r"\s+", "", s)


def normalize_text(text: str, case_sensitive: bool = False) -> str:
    """The `exact` checker's normal form: unicode, delimiters, \\text{}, spacing, case."""
    s = unicodedata.normalize("NFKC", text)
    s = strip_delimiters(s)
    s = re.sub(rf"{_TEXT_CMD}\{{([^{{}}]*)\}}", r"\1", s)
    s = s.strip().strip("\"'`").strip()
    s = re.sub(r"\s+", " ", s)
    s = s.rstrip(".!;:, ").strip()
    return s if case_sensitive else s.casefold()
