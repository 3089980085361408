"""Screening of pathological answers before they can reach sympy: pure string checks.

Real final answers are short and tame. Whatever could make sympy (or Python's big-integer
arithmetic, which no signal interrupts) run for minutes or eat memory is answered
UNVERIFIABLE without being parsed: power towers and huge exponents, huge factorials,
huge literals, very long or deeply nested strings, code. The worker pool's hard timeout
remains the guarantee; screening makes the common hostile cases free.
"""

from __future__ import annotations

import math
import re

MAX_CHARS = 1000  # longer "answers" are not answers
MAX_DEPTH = 30  # brackets of any kind
MAX_LITERAL_DIGITS = 400
MAX_EXPONENT = 1e5  # |n| in x^n, bounds of sums and products
MAX_FACTORIAL = 5000
MAX_OPERATORS = 120  # ^, \frac, \sqrt, ! together
MAX_MATRIX_CELLS = 400

_CODE = re.compile(
    r"__|(?<!\\)\blambda\b|\bimport\b|\beval\b|\bexec\b|\bcompile\b|\bgetattr\b|\bglobals\b|"
    r"\bos\.|\bsys\.|\bsubprocess\b|`|\\(?:def|newcommand|renewcommand|input|include|catcode|csname|let)\b"
)
_LONG_LITERAL = re.compile(r"\d{" + str(MAX_LITERAL_DIGITS + 1) + ",}")
_FACTORIAL_CHAIN = re.compile(r"!\s*!\s*!")
_INT_FACTORIAL = re.compile(r"(\d+)\s*!")
_NUMERIC_EXPR = re.compile(r"^[\d\s+\-*/^(){}.]*$|^[\d\s+\-*/^(){}.]*(?:\\(?:cdot|times)[\d\s+\-*/^(){}.]*)+$")


def _depth(s: str) -> int:
    depth = deepest = 0
    for c in s:
        if c in "({[":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")}]":
            depth = max(depth - 1, 0)
    return deepest


def _group_after(s: str, i: int) -> tuple[str, int]:
    """The exponent or bound starting at s[i]: a {...} group or a single token."""
    n = len(s)
    while i < n and s[i] == " ":
        i += 1
    if i < n and s[i] == "{":
        depth = 0
        for j in range(i, n):
            depth += {"{": 1, "}": -1}.get(s[j], 0)
            if depth == 0:
                return s[i + 1 : j], j + 1
        return s[i + 1 :], n
    j = i
    while j < n and s[j].isdigit():
        j += 1
    if j > i:
        return s[i:j], j
    if i < n and s[i] == "\\":
        m = re.match(r"\\[a-zA-Z]+", s[i:])
        return (m.group(0), i + len(m.group(0))) if m else (s[i : i + 2], i + 2)
    return s[i : i + 1], i + 1


def estimate(expr: str) -> float | None:
    """Rough magnitude of a purely numeric expression (digits, + - * / ^, braces), computed
    in floats so that it saturates to inf instead of building a huge integer; None when the
    expression is not purely numeric."""
    if not _NUMERIC_EXPR.match(expr):
        return None
    text = expr.replace("\\cdot", "*").replace("\\times", "*").replace("{", "(").replace("}", ")")
    text = text.replace("^", "**")
    if len(text) > 200 or "***" in text:
        return None
    # Rewrite every literal as a float so that ** never builds a big integer.
    text = re.sub(r"\d+(?:\.\d*)?", lambda m: repr(float(m.group(0))), text)
    try:
        value = _eval_float(text)
    except OverflowError:
        return math.inf
    except (ValueError, ZeroDivisionError, SyntaxError, TypeError, RecursionError):
        return None
    return abs(value) if isinstance(value, float) else None


def _eval_float(text: str) -> float:
    """Evaluate + - * / ** and parentheses over float literals, without eval()."""
    tokens = re.findall(r"\d+\.\d*(?:e[+-]?\d+)?|inf|\*\*|[-+*/()]", text)
    if "".join(tokens) != text.replace(" ", ""):
        raise SyntaxError(text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom() -> float:
        tok = take()
        if tok == "(":
            value = expr_sum()
            if take() != ")":
                raise SyntaxError(text)
            return value
        if tok in "+-":
            value = power()
            return -value if tok == "-" else value
        return float(tok)

    def power() -> float:
        base = atom()
        if peek() == "**":
            take()
            exponent = power()  # right-associative
            if abs(base) > 1 and exponent > 1e4:
                raise OverflowError
            return float(abs(base) ** exponent)
        return base

    def product() -> float:
        value = power()
        while peek() in ("*", "/"):
            value = value * power() if take() == "*" else value / power()
        return value

    def expr_sum() -> float:
        value = product()
        while peek() in ("+", "-"):
            value = value + product() if take() == "+" else value - product()
        return value

    result = expr_sum()
    if pos != len(tokens):
        raise SyntaxError(text)
    return result


def _group_before(s: str, end: int) -> str | None:
    """The (...) or {...} group closing at s[end], or None."""
    close = s[end] if 0 <= end < len(s) else ""
    if close not in ")}":
        return None
    opening = "(" if close == ")" else "{"
    depth = 0
    for j in range(end, -1, -1):
        depth += {close: 1, opening: -1}.get(s[j], 0)
        if depth == 0:
            return s[j + 1 : end]
    return None


def _inner_exponent(group: str) -> float:
    """The largest numeric exponent inside a group ((2^{99})^{99} multiplies them)."""
    largest = 1.0
    i = group.find("^")
    while i >= 0:
        value = estimate(_group_after(group, i + 1)[0])
        if value is not None:
            largest = max(largest, value)
        i = group.find("^", i + 1)
    return largest


def _huge_exponent(s: str) -> bool:
    """An exponent, or a bound of a sum or product, that is numerically huge, a tower of
    three or more powers, or a power of a power whose exponents multiply to a huge one."""
    i = s.find("^")
    while i >= 0:
        group, _ = _group_after(s, i + 1)
        if group.count("^") >= 3:
            return True
        value = estimate(group)
        if value is not None:
            base = _group_before(s, i - 1)
            if value * (_inner_exponent(base) if base else 1.0) > MAX_EXPONENT:
                return True
        i = s.find("^", i + 1)
    return False


def _huge_combinatorics(s: str) -> bool:
    """\\binom{n}{k} with both k and n - k huge, \\Gamma(n) with n huge: big-integer work."""
    for m in re.finditer(r"\\[dt]?binom\s*", s):
        n, j = _group_after(s, m.end())
        k, _ = _group_after(s, j)
        nv, kv = estimate(n), estimate(k)
        if nv is not None and kv is not None and min(kv, nv - kv) > MAX_FACTORIAL:
            return True
    for m in re.finditer(r"\\(?:Gamma|operatorname\{Gamma\})\s*(?=[({])", s):
        arg = _group_after(s, m.end())[0] if s[m.end()] == "{" else _paren_after(s, m.end())
        value = estimate(arg)
        if value is not None and value > MAX_FACTORIAL:
            return True
    return False


def _paren_after(s: str, i: int) -> str:
    depth = 0
    for j in range(i, len(s)):
        depth += {"(": 1, ")": -1}.get(s[j], 0)
        if depth == 0:
            return s[i + 1 : j]
    return s[i + 1 :]


def _huge_factorial(s: str) -> bool:
    if _FACTORIAL_CHAIN.search(s):
        return True
    for m in _INT_FACTORIAL.finditer(s):
        if len(m.group(1)) > 6 or int(m.group(1)) > MAX_FACTORIAL:
            return True
    # (expr)! or {expr}!: a factorial of a computed number.
    for m in re.finditer(r"[)}]\s*!", s):
        close = s[m.start()]
        opening = "(" if close == ")" else "{"
        depth, j = 0, m.start()
        while j >= 0:
            depth += {close: 1, opening: -1}.get(s[j], 0)
            if depth == 0:
                break
            j -= 1
        inner = s[j + 1 : m.start()] if j >= 0 else s[: m.start()]
        if "!" in inner:
            return True
        value = estimate(inner)
        if value is not None and value > MAX_FACTORIAL:
            return True
    return False


def is_code(s: str) -> bool:
    """Text that looks like program code (`__`, lambda, import, eval, backticks, \\def...)."""
    return _CODE.search(s) is not None


def screen(s: str) -> str | None:
    """Why `s` must not reach sympy, or None when it may."""
    if len(s) > MAX_CHARS:
        return f"longer than {MAX_CHARS} characters"
    if _depth(s) > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH}"
    if _CODE.search(s):
        return "looks like code"
    if _LONG_LITERAL.search(s):
        return f"a literal of more than {MAX_LITERAL_DIGITS} digits"
    if s.count("^") + s.count("\\frac") + s.count("\\sqrt") + s.count("!") > MAX_OPERATORS:
        return "too many operators"
    if s.count("&") > MAX_MATRIX_CELLS or s.count("\\\\") > MAX_MATRIX_CELLS // 4:
        return "matrix too large"
    if _huge_exponent(s):
        return "huge exponent or power tower"
    if _huge_factorial(s) or _huge_combinatorics(s):
        return "huge factorial, binomial or gamma"
    return None
