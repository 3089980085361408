"""Sympy side of the math checker: parse a normalized answer, decide equivalence.

Imported ONLY inside pool worker processes (and tests): parsing and sympy arithmetic on
model output may hang, eat memory or, through sympify, evaluate text. Parsing builds on
Math-Verify's stack (latex2sympy2_extended's LaTeX grammar and its normalization); the
comparison is our own, because Math-Verify's rounds tiny magnitudes to zero, reads a
degree sign as nothing inside sin, and treats i as a variable.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

import sympy
from latex2sympy2_extended.latex2sympy2 import NormalizationConfig, latex2sympy, normalize_latex
from latex2sympy2_extended.logic import And
from sympy import Basic, Eq, Interval, MatrixBase, Rational, Set, Tuple
from sympy import FiniteSet as SympyFiniteSet
from sympy.core.relational import Relational

from star.checkers.fastparse import parse_simple

log = logging.getLogger(__name__)

# Normalization left to latex2sympy2_extended: \frac12, \sqrt2, a/b, "and"/"or" lists,
# \mathrm; units are ours (normalize.strip_units), boxes were extracted already.
_L2S_NORMALIZATION = NormalizationConfig(
    basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="none", equations=False
)
_DECIMAL = re.compile(r"(?<![\d.}])(\d+)\.(\d+)(?![\d.])")
_COMMA_NUMBER = re.compile(r"^((?:[a-zA-Z]\s*=\s*)?-?)(\d{1,3}(?:,\d{3})+(?:\.\d+)?)$")
_TRIG = re.compile(r"\\(?:a|arc)?(?:sin|cos|tan|cot|sec|csc)h?(?![a-zA-Z])")
_EQ_SPLIT = re.compile(r"(?<![\\<>!])=")
_I = sympy.Symbol("i")
_POINTS = (
    Rational(7, 10), Rational(13, 9), Rational(-5, 7), Rational(11, 4),
    Rational(-19, 11), Rational(3, 13), Rational(-29, 17), Rational(23, 6),
)  # fmt: skip
_MIN_POINTS = 3
_PREC = 60


# --- parsing -------------------------------------------------------------------------------


def _exact_decimals(s: str) -> str:
    """2.25 -> \\frac{225}{100}: decimals are exact numbers, never 15-digit binary floats."""
    return _DECIMAL.sub(lambda m: rf"\frac{{{m.group(1)}{m.group(2)}}}{{1{'0' * len(m.group(2))}}}", s)


def prepare(s: str) -> str:
    """Last string rewrites before latex2sympy (s comes from normalize.normalize_math)."""
    if m := _COMMA_NUMBER.match(s.strip()):
        s = m.group(1) + m.group(2).replace(",", "")
    s = normalize_latex(s, _L2S_NORMALIZATION)
    return _exact_decimals(s)


def _latex2sympy(s: str) -> Any:
    return latex2sympy(
        s,
        is_real=None,
        convert_degrees=bool(_TRIG.search(s)),  # sin 30^\circ is sin(pi/6)
        normalization_config=None,
    )


def _post(expr: Any) -> Any:
    """i is the imaginary unit; x \\in S is the set S."""
    if _I in getattr(expr, "free_symbols", ()):
        expr = expr.xreplace({_I: sympy.I})
    if isinstance(expr, Eq) and isinstance(expr.rhs, Set) and isinstance(expr.lhs, sympy.Symbol):
        expr = expr.rhs
    return expr


@lru_cache(maxsize=2048)  # a gold answer is parsed once for all k samples of its problem
def parse(s: str) -> Any:
    """Sympy object for a normalized answer, or None when it does not parse."""
    prepared = prepare(s)
    if not prepared:
        return None
    simple = parse_simple(prepared)  # the plainest answers skip the slow ANTLR parser
    if simple is not None:
        return _post(simple)
    try:
        return _post(_latex2sympy(prepared))
    except Exception:  # the grammar rejects it: try the last part of an "a = b = c" chain
        parts = _EQ_SPLIT.split(prepared)
        if len(parts) > 2 and "," not in prepared:
            try:
                return _post(_latex2sympy(parts[-1]))
            except Exception:
                return None
        return None


# --- equivalence -----------------------------------------------------------------------------


def _doit(expr: Any) -> Any:
    try:
        return expr.doit()
    except Exception:
        return expr


def is_relation(e: Any) -> bool:
    if isinstance(e, Relational):
        return True
    return isinstance(e, And) and all(isinstance(a, Relational) for a in e._unsorted_args)


def _symbolic_name(e: Any) -> bool:
    """x, f(x), AB, x_1: the left side of an assignment."""
    if isinstance(e, sympy.Symbol):
        return True
    if isinstance(e, sympy.core.function.AppliedUndef):
        return True
    if isinstance(e, sympy.Mul) and all(isinstance(a, sympy.Symbol) for a in e.args):
        return True
    return False


def _relations(e: Any) -> list[Relational]:
    return list(e._unsorted_args) if isinstance(e, And) else [e]


def _assigned_value(e: Any) -> Any | None:
    """The value in `x = v`, `x = 2 + 3 = 5` (last right side), `3 \\times 4 = 12`, else None."""
    rels = _relations(e)
    if not all(isinstance(r, Eq) for r in rels):
        return None
    lhs = rels[0].lhs
    if _symbolic_name(lhs) or (isinstance(lhs, Basic) and not lhs.free_symbols):
        return rels[-1].rhs
    return None


def _is_zero(value: Any) -> bool | None:
    """True/False for a number that evalf produced; None when it is not a finite number."""
    if value is sympy.nan or value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        return None
    re_part, im_part = value.as_real_imag()
    for part in (re_part, im_part):
        if part == 0:
            continue
        if not part.is_Number:
            return None
        # evalf answers an unresolvable zero with a Float of (almost) no precision: -0.e-160
        if isinstance(part, sympy.Float) and part._prec < 10:
            continue
        return False
    return True


def _diff_is_zero(g: Any, p: Any, subs: dict | None = None) -> bool | None:
    try:
        diff = sympy.Add(g, -p, evaluate=True)
        return _is_zero(diff.evalf(_PREC, subs=subs) if subs else diff.evalf(_PREC))
    except (TypeError, ValueError, AttributeError, ZeroDivisionError, NotImplementedError):
        return None


def _points(symbols: list[Any]) -> list[dict]:
    n = len(_POINTS)
    return [{s: _POINTS[(k + 3 * j) % n] for j, s in enumerate(symbols)} for k in range(n)]


def scalars_equal(g: Any, p: Any) -> bool:
    """Numbers exactly (high-precision evaluation of the difference, no rounding); formulas
    by evaluating the difference at eight rational points, which must all vanish."""
    g, p = _doit(g), _doit(p)
    if not isinstance(g, Basic) or not isinstance(p, Basic):
        return False
    if isinstance(g, sympy.Rational) and isinstance(p, sympy.Rational):
        return bool(g == p)
    if g.has(sympy.oo, -sympy.oo, sympy.zoo) or p.has(sympy.oo, -sympy.oo, sympy.zoo):
        return bool(g == p)
    symbols = sorted(g.free_symbols | p.free_symbols, key=str)
    if not symbols:
        return bool(_diff_is_zero(g, p))
    valid = 0
    for point in _points(symbols):
        zero = _diff_is_zero(g, p, point)
        if zero is False:
            return False
        valid += zero is True
    if valid >= _MIN_POINTS:
        return True
    try:  # too few points where both sides are defined: ask for a proof
        return bool(sympy.simplify(g - p) == 0)
    except Exception:
        return False


def _values(e: Any, points: list[dict]) -> list[Any]:
    out = []
    for point in points:
        try:
            v = e.evalf(30, subs=point)
            out.append(v if v.is_number and v.is_finite else None)
        except Exception:
            out.append(None)
    return out


def _proportional(f: Any, h: Any, sign: int) -> bool:
    """f = c h for one constant c != 0 (sign > 0: c > 0, sign < 0: c < 0, 0: any)."""
    symbols = sorted(f.free_symbols | h.free_symbols, key=str)
    if not symbols:
        return False
    points = _points(symbols)
    ratios = []
    for vf, vh in zip(_values(f, points), _values(h, points), strict=True):
        if vf is None or vh is None:
            continue
        if abs(vh) < 1e-20:
            if abs(vf) > 1e-20:
                return False
            continue
        ratios.append(complex(vf / vh))
    if len(ratios) < _MIN_POINTS or abs(ratios[0]) < 1e-12:
        return False
    c = ratios[0]
    if any(abs(r - c) > 1e-12 * abs(c) for r in ratios):
        return False
    if sign and (abs(c.imag) > 1e-12 or c.real * sign <= 0):
        return False
    return True


_DIRECTION = {
    sympy.StrictGreaterThan: (1, True), sympy.GreaterThan: (1, False),
    sympy.StrictLessThan: (-1, True), sympy.LessThan: (-1, False),
}  # fmt: skip


def _relation_equal(g: Relational, p: Relational) -> bool:
    """Same equation up to a nonzero factor; same inequality up to a positive factor (or a
    negative one with the direction flipped)."""
    if isinstance(g, Eq) and isinstance(p, Eq):
        return _proportional(g.lhs - g.rhs, p.lhs - p.rhs, 0)
    if type(g) in _DIRECTION and type(p) in _DIRECTION:
        (dg, strict_g), (dp, strict_p) = _DIRECTION[type(g)], _DIRECTION[type(p)]
        if strict_g != strict_p:
            return False
        return _proportional(dg * (g.lhs - g.rhs), dp * (p.lhs - p.rhs), 1)
    if isinstance(g, sympy.Ne) and isinstance(p, sympy.Ne):
        return _proportional(g.lhs - g.rhs, p.lhs - p.rhs, 0)
    return False


_INTERVAL_OF = {
    sympy.StrictLessThan: lambda c: Interval.open(-sympy.oo, c),
    sympy.LessThan: lambda c: Interval(-sympy.oo, c),
    sympy.StrictGreaterThan: lambda c: Interval.open(c, sympy.oo),
    sympy.GreaterThan: lambda c: Interval(c, sympy.oo),
}
_FLIP = {
    sympy.StrictLessThan: sympy.StrictGreaterThan, sympy.LessThan: sympy.GreaterThan,
    sympy.StrictGreaterThan: sympy.StrictLessThan, sympy.GreaterThan: sympy.LessThan,
}  # fmt: skip


def _simple_set(r: Relational, x: Any) -> Any | None:
    """`x op c` or `c op x` with a constant c, directly (sympy's solver is 20x slower)."""
    kind = type(r)
    if r.lhs == x and not r.rhs.free_symbols:
        c = r.rhs
    elif r.rhs == x and not r.lhs.free_symbols:
        c, kind = r.lhs, _FLIP.get(kind, kind)
    else:
        return None
    if kind is Eq:
        return SympyFiniteSet(c)
    make = _INTERVAL_OF.get(kind)
    return make(c) if make is not None and c.is_real else None


def _as_set(e: Any) -> Any | None:
    """The solution set of a relation in one variable (1 < x < 2 -> (1, 2)), else None."""
    try:
        symbols = e.free_symbols
        if len(symbols) != 1:
            return None
        (x,) = symbols
        result = sympy.S.Reals
        for r in _relations(e):
            part = _simple_set(r, x)
            result = result.intersect(part if part is not None else r.as_set())
        return result
    except Exception:
        return None


def relations_equal(g: Any, p: Any) -> bool:
    g_rel, p_rel = is_relation(g), is_relation(p)
    if g_rel and not p_rel:
        if isinstance(p, Set):
            gs = _as_set(g)
            return gs is not None and sets_equal(gs, p)
        value = _assigned_value(g)
        return value is not None and equal(value, p)
    if p_rel and not g_rel:
        if isinstance(g, Set):
            ps = _as_set(p)
            return ps is not None and sets_equal(g, ps)
        # The gold is a value: the prediction's equation states it on its last right side
        # ("a + b = 5", "x = 2 + 3 = 5"), whatever the left side.
        rels = _relations(p)
        return all(isinstance(r, Eq) for r in rels) and equal(g, rels[-1].rhs)
    g_rels, p_rels = _relations(g), _relations(p)
    if len(g_rels) == len(p_rels) and all(
        _relation_equal(a, b) for a, b in zip(g_rels, p_rels, strict=True)
    ):
        return True
    gs, ps = _as_set(g), _as_set(p)
    if gs is not None and ps is not None and g.free_symbols == p.free_symbols:
        return sets_equal(gs, ps)
    return False


def _elements(e: Any) -> list[Any] | None:
    """Ordered elements of a tuple-like answer: Tuple, an open interval read as a point,
    a row or column vector, a written list."""
    if isinstance(e, Tuple):
        return list(e.args)
    if isinstance(e, MatrixBase) and 1 in e.shape:
        return list(e)
    if isinstance(e, Interval) and e.left_open and e.right_open:
        return [e.start, e.end]
    if isinstance(e, SympyFiniteSet):
        return list(getattr(e, "_unsorted_args", e.args))
    return None


def _matched(gs: list[Any], ps: list[Any]) -> bool:
    """Every element of gs equals a distinct element of ps (order-free)."""
    if len(gs) != len(ps):
        return False
    unused = list(ps)
    for g in gs:
        for k, p in enumerate(unused):
            if equal(g, p):
                del unused[k]
                break
        else:
            return False
    return True


def sets_equal(g: Any, p: Any) -> bool:
    """Sets order-free, tuples in order, intervals by endpoints and openness, matrices by
    shape and entries; a lone value equals the set holding only it."""
    if isinstance(g, MatrixBase) and isinstance(p, MatrixBase):
        g, p = _doit(g), _doit(p)
        return g.shape == p.shape and all(equal(a, b) for a, b in zip(g, p, strict=True))
    if isinstance(g, Interval) and isinstance(p, Interval):
        return (
            g.left_open == p.left_open
            and g.right_open == p.right_open
            and equal(g.start, p.start)
            and equal(g.end, p.end)
        )
    if isinstance(g, SympyFiniteSet) and isinstance(p, SympyFiniteSet):
        return _matched(list(g.args), list(p.args))
    ge, pe = _elements(g), _elements(p)
    if ge is not None and pe is not None:
        return len(ge) == len(pe) and all(equal(a, b) for a, b in zip(ge, pe, strict=True))
    if isinstance(p, SympyFiniteSet) and len(p.args) == 1 and not isinstance(g, (Set, Tuple, MatrixBase)):
        return equal(g, p.args[0])
    if isinstance(g, SympyFiniteSet) and len(g.args) == 1 and not isinstance(p, (Set, Tuple, MatrixBase)):
        return equal(g.args[0], p)
    if isinstance(g, Set) and isinstance(p, Set):
        try:
            return bool(g.symmetric_difference(p).is_empty)
        except Exception:
            return False
    return False


def _relations_union(e: Any) -> Any | None:
    """A list of relations in one common variable ("x < 0 or x > 1") as the union of their
    solution sets, else None."""
    if not isinstance(e, (SympyFiniteSet, Tuple)) or not e.args:
        return None
    if not all(is_relation(a) for a in e.args):
        return None
    symbols = set().union(*(a.free_symbols for a in e.args))
    if len(symbols) != 1:
        return None
    parts = [_as_set(a) for a in e.args]
    if any(part is None for part in parts):
        return None
    return sympy.Union(*parts)


def nonfinite(e: Any) -> bool:
    """A value that is NaN or infinite (`\\infty + 1`, `-\\infty`, `\\frac{1}{0}`: complex
    infinity). Sets, tuples, matrices and relations are no value: `(-\\infty, 3)` is finite."""
    if not isinstance(e, sympy.Expr) or isinstance(e, MatrixBase):
        return False
    try:
        return bool(e.has(sympy.nan, sympy.zoo)) or e.is_infinite is True
    except Exception:  # an assumption query on odd input: not provably infinite
        return False


def _collection(e: Any) -> bool:
    return isinstance(e, (Set, Tuple, MatrixBase))


def equal(g: Any, p: Any) -> bool:
    """Whether the parsed prediction `p` states the parsed gold answer `g`.

    Comparison strategies, in order:
      1. Structural identity (sympy ==).
      2. Relations: a predicted equation states its last right side when the gold is a
         value (`a + b = 5`, `x = 2 + 3 = 5` state 5); a gold assignment `x = v` is `v`
         when the prediction is a value; a list of inequalities in one variable
         ("x < 0 or x > 1") is the union of their solution sets; equations
         match up to a nonzero factor (`y = 2x + 1` is `2x - y + 1 = 0`), inequalities up
         to a positive one (`x > 2` is `2 < x`); a relation in one variable meets a set
         through its solution set (`1 < x < 2` is `(1, 2)`).
      3. Collections: sets order-free, tuples and vectors in order, intervals by
         endpoints and openness, matrices by shape and entries, each element compared by
         these same strategies; a lone value is the set holding only it.
      4. Numbers: the difference evaluated to 60 digits must vanish (no rounding: 1/2^99
         and 1/2^98 differ).
      5. Formulas: the difference evaluated at eight rational points must vanish wherever
         both sides are defined (at least three points), else sympy.simplify must prove it.
    """
    try:
        if g == p:
            return True
    except Exception:
        pass
    # "x < 0 or x > 1" meets an interval or union as the union it describes
    if isinstance(p, Set) and not isinstance(p, SympyFiniteSet) and (u := _relations_union(g)) is not None:
        g = u
    if isinstance(g, Set) and not isinstance(g, SympyFiniteSet) and (u := _relations_union(p)) is not None:
        p = u
    if is_relation(g) or is_relation(p):
        return relations_equal(g, p)
    if _collection(g) or _collection(p):
        return sets_equal(g, p)
    return scalars_equal(g, p)
