"""Unit tests of the pure parts: extraction, normalization, numbers, screening, the API."""

from __future__ import annotations

import pickle
import subprocess
import sys
from fractions import Fraction

import pytest

from star.checkers import CHECKERS, get_checker
from star.checkers.extract import (
    box_candidates,
    boxed_answer,
    find_answer,
    gold_answer,
    last_boxed,
    lone_last_number,
    math_segments,
)
from star.checkers.normalize import normalize_math, normalize_text, normalize_unicode
from star.checkers.numbers import parse_number
from star.checkers.screen import screen
from star.types import Verdict

MATH_STRATEGIES = ("boxed", "answer_is", "hashes", "final_line")


@pytest.mark.parametrize(
    "text, answer",
    [
        (r"so \boxed{\frac{1}{2}}.", r"\frac{1}{2}"),
        (r"\boxed{3} no wait \boxed{4}", "4"),  # the last box wins, never a merge
        (r"\boxed{\boxed{5}}", "5"),
        (r"\boxed{x^{2}}", "x^{2}"),
        (r"\fbox{7}", "7"),
        (r"\boxed{1", "1"),  # truncated output: the box runs to the end
        ("The answer is 5.", "5"),
        ("The answer is $5$, since 2+3=5.", "5"),
        ("The final answer is $\\frac{3}{4}$. I hope it is correct.", r"\frac{3}{4}"),
        ("Answer: 12", "12"),
        ("**Answer:** 12", "12"),
        ("Final Answer:\n12", "12"),
        ("The answer is 3.5 meters.", "3.5 meters"),
        ("The answer is 5. Wait. The answer is 6.", "6"),
        (r"The answer is 5, i.e. \boxed{6}", "6"),  # the later anchor wins
        (r"\boxed{6}. So the answer is 7", "7"),
        ("Work...\n#### 72", "72"),
        ("line one\nline two\n42", "42"),
        ("Thus $x = 3$.", "x = 3"),
        ("Therefore the area is 12 square units.", "12"),
        ("  \n  ", None),
        ("", None),
    ],
)
def test_math_extraction(text: str, answer: str | None) -> None:
    assert find_answer(text, MATH_STRATEGIES) == answer


def test_extraction_is_configurable() -> None:
    text = "The answer is 5.\n\\boxed{6}"
    assert get_checker("math", extract=("answer_is",)).extract(text) == "5"
    assert get_checker("math", extract="boxed").extract(text) == "6"
    assert get_checker("math", extract=("boxed",)).extract("no anchor") is None
    assert get_checker("math", extract=("whole",)).extract(" 2 + 3 ") == "2 + 3"
    assert get_checker("numeric").extract("I had 3 apples and ate 1, so 2 are left") == "2"
    assert get_checker("numeric").extract("The answer is $1,234.") == "1234"
    assert get_checker("choice").extract("So the answer is ocean (b).") == "B"
    assert get_checker("choice").extract("A or B") is None


@pytest.mark.parametrize(
    "text, number, hedged",
    [
        ("5 or 6", None, True),
        ("between 5 and 6", None, True),
        ("between 5 km and 6 km", None, True),
        ("5 apples or 6 apples", None, True),
        ("5, 6", None, True),
        ("5 (or 6)", None, True),
        ("5, or maybe 6", None, True),
        ("5 to 6", None, True),
        ("5-6", None, True),
        ("2 + 4", None, True),
        ("x = 5 or x = 6", None, True),
        ("6, not 5", None, True),
        ("6 or 6.0", "6.0", False),  # one value
        ("5 boys, so 6", "6", False),
        ("2 + 12 = 14", "14", False),
        ("She has 5 boys and 6 girls", "6", False),  # two quantities of two things, not candidates
        ("The answer is 1,234.", "1,234", False),
        ("-6", "-6", False),
        ("no number", None, False),
    ],
)
def test_lone_last_number(text: str, number: str | None, hedged: bool) -> None:
    assert lone_last_number(text) == (number, hedged)


def test_joined_boxes_are_candidates() -> None:
    assert boxed_answer(r"\boxed{5} or \boxed{6}") == (13, r"\boxed{5} \text{ or } \boxed{6}")
    assert box_candidates(r"\boxed{5} \text{ or } \boxed{6}") == ["5", "6"]
    assert boxed_answer(r"\boxed{5}. Wait, no: \boxed{6}")[1] == "6"  # a self-correction
    assert boxed_answer(r"\boxed{\boxed{5}}")[1] == "5"  # nested, not joined
    assert boxed_answer(r"\boxed{6} and \boxed{ 6}")[1] == "6"  # one answer twice
    assert box_candidates("5") is None and box_candidates(r"\boxed{5}") is None
    for text in (r"\boxed{5} or \boxed{6}", "The answer is $\\boxed{5}$, $\\boxed{6}$."):
        marker = find_answer(text, MATH_STRATEGIES)
        assert find_answer(marker, MATH_STRATEGIES) == marker  # re-extraction keeps it


def test_extraction_helpers() -> None:
    assert last_boxed("x") is None
    assert math_segments(r"a $1$ b \(2\) c \[3\] d $$4$$ \$5") == ["1", "2", "3", "4"]
    assert gold_answer(r"Solution ... \boxed{7}.") == "7"
    assert gold_answer("Natalia sold ...\n#### 72") == "72"
    assert gold_answer("  ") is None


@pytest.mark.parametrize(
    "raw, normalized",
    [
        ("$\\dfrac{1}{2}$", r"\frac{1}{2}"),
        (r"\left( 1, 2 \right)", "( 1, 2 )"),
        (r"1\,000\,000", "1000000"),
        ("1{,}000", "1000"),
        ("1\u2009000", "1000"),
        ("½", r"\frac{1}{2}"),
        ("√(x+1)", r"\sqrt{(x+1)}"),
        ("−5", "-5"),
        ("x²", "x^{2}"),
        ("２", "2"),
        (r"50\%", "50"),
        (r"30^\circ", "30"),
        (r"\sin 30^\circ", r"\sin 30^\circ"),  # degrees stay inside trigonometry
        (r"5\text{ cm}^2", "5"),
        ("4 inches", "4"),
        ("5 x", "5 x"),  # a variable is not a unit
        (r"\$18.90", "18.90"),
        (r"0.\overline{3}", r"\frac{1}{3}"),
        ("9!!", "945"),
        ("2**10", "2^10"),
        ("1.5e3", r"1.5\times 10^{3}"),
        ("sqrt(2)", r"\sqrt{2}"),
        ("5.", "5"),
        ("x = 3 .", "x = 3"),
    ],
)
def test_normalize_math(raw: str, normalized: str) -> None:
    assert normalize_math(raw) == normalized


def test_normalize_unicode_and_text() -> None:
    assert normalize_unicode("ascii stays") == "ascii stays"
    assert normalize_unicode("θ ≤ π") == r"\theta  \le  \pi "
    assert normalize_text('  "New   York."  ') == "new york"
    assert normalize_text("Paris", case_sensitive=True) == "Paris"


@pytest.mark.parametrize(
    "s, value",
    [
        ("42", Fraction(42)),
        ("-1,234.5", Fraction(-2469, 2)),
        (".5", Fraction(1, 2)),
        ("3/4", Fraction(3, 4)),
        ("-(3)/(4)", Fraction(-3, 4)),
        (r"\frac{3}{4}", Fraction(3, 4)),
        (r"-\frac{3}{4}", Fraction(-3, 4)),
        (r"\frac{-3}{4}", Fraction(-3, 4)),
        (r"\frac12", Fraction(1, 2)),
        ("0.1", Fraction(1, 10)),
        ("1/0", None),
        ("1" * 1000, None),
        ("1,23", None),
        ("x", None),
        ("", None),
    ],
)
def test_parse_number(s: str, value: Fraction | None) -> None:
    assert parse_number(s) == value


@pytest.mark.parametrize(
    "s",
    [
        r"10^{10^{10}}", "9!!!!!!", "100000!", r"(10^{100})!", "x" * 1001, "(" * 40,
        r"2^{2^{2^{2^{2^{2}}}}}", r"\sum_{i=1}^{10^{10}} i", "__import__('os')",
        "(lambda: 7)()", r"\binom{10^{100}}{10^{50}}", r"\Gamma(10^{10})",
        r"(2^{99999})^{99999}", "1" * 500, r"\def\a{\a}",
    ],
)  # fmt: skip
def test_screen_rejects(s: str) -> None:
    assert screen(s) is not None


@pytest.mark.parametrize(
    "s",
    [
        r"\frac{1}{2004!}", r"2^{100}", r"2^{2^{10}}", r"e^{-x^2}", r"\lambda + 1",
        r"\binom{10}{3}", r"\sum_{k=1}^{100} k", r"(x+1)^{10}", r"\Gamma(5)",
        r"\begin{pmatrix}1 & 2\\3 & 4\end{pmatrix}",
    ],
)  # fmt: skip
def test_screen_accepts(s: str) -> None:
    assert screen(s) is None


def test_get_checker_api() -> None:
    assert set(CHECKERS) == {"math", "numeric", "choice", "exact"}
    for name in CHECKERS:
        checker = get_checker(name)
        assert checker.name == name
        assert pickle.loads(pickle.dumps(checker)) == checker  # travels to workers
        assert checker.check("5", None) is Verdict.INCORRECT
    assert get_checker("choice", labels="abcd").labels == "ABCD"
    with pytest.raises(ValueError, match="nope"):
        get_checker("nope")
    with pytest.raises(ValueError, match="labels"):
        get_checker("math", labels="AB")
    with pytest.raises(ValueError, match="bogus"):
        get_checker("math", extract=("boxed", "bogus"))
    with pytest.raises(ValueError, match="labels"):
        get_checker("choice", labels="AA")


ODD_TYPES = [5, 5.0, True, None, b"5", ["5"], {"answer": "5"}, object()]


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_checkers_are_total(name: str) -> None:
    """Odd types and odd strings get the documented verdicts, never exceptions: a pred that
    is no string states no answer (INCORRECT), a gold that is no string judges nothing
    (UNVERIFIABLE), and extract finds nothing in what is no string."""
    checker = get_checker(name)
    gold = "B" if name == "choice" else "5"
    for odd in ODD_TYPES:
        assert checker.extract(odd) is None, odd  # type: ignore[arg-type]
        assert checker.check(gold, odd) is Verdict.INCORRECT, odd  # type: ignore[arg-type]
        assert checker.check(odd, gold) is Verdict.UNVERIFIABLE, odd  # type: ignore[arg-type]
        assert checker.fast_check(odd, odd) in (Verdict.INCORRECT, Verdict.UNVERIFIABLE), odd  # type: ignore[arg-type]
    for junk in ("", "   \n\t", "$ $", "$" * 1000, "\\boxed{}", "\\boxed{ }"):
        assert checker.extract(junk) is None, junk  # no answer is None, never an empty string
        assert checker.check(gold, junk) is Verdict.INCORRECT, junk
        if "$" * 1000 != junk:  # an empty gold judges nothing
            assert checker.check(junk, gold) is Verdict.UNVERIFIABLE, junk
    assert checker.check(gold, "\x00") is Verdict.INCORRECT


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_extraction_never_gives_empty_and_is_idempotent_on_bare_answers(name: str) -> None:
    """The loop extracts twice (the task from the completion, then the checker from what the
    task found): an extracted answer that is a bare answer must extract to itself, and no
    answer is None, never "" (every table pred and every hostile input)."""
    from checker_cases import all_rows
    from hostile_inputs import HOSTILE

    from star.checkers.extract import bare_answer

    checker = get_checker(name)
    texts = [p for n, _, _, p, _ in all_rows() if isinstance(p, str)] + HOSTILE
    checked = 0
    for text in texts:
        answer = checker.extract(text)
        assert answer is None or answer.strip(), (name, text[:80])
        if answer is not None and bare_answer(answer) == answer:
            assert checker.extract(answer) == answer, (name, text[:80], answer[:80])
            checked += 1
    assert checked > 40  # choice: the preds that name one label


def test_fast_path_never_imports_sympy() -> None:
    """The main process may run fast_check on anything without loading sympy."""
    code = (
        "import sys\n"
        "sys.path.insert(0, 'tests/checkers')\n"
        "from checker_cases import all_rows\n"
        "from hostile_inputs import HOSTILE\n"
        "from star.checkers import get_checker\n"
        "for name, opts, g, p, _ in all_rows():\n"
        "    c = get_checker(name, **opts); c.fast_check(g, p); c.extract(p or '')\n"
        "for h in HOSTILE:\n"
        "    for name in ('math', 'numeric', 'choice', 'exact'):\n"
        "        get_checker(name).fast_check('5', h); get_checker(name).fast_check(h, '5')\n"
        "bad = [m for m in ('sympy', 'latex2sympy2_extended', 'math_verify') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=_repo_root(), timeout=120)


def _repo_root() -> str:
    import pathlib

    return str(pathlib.Path(__file__).resolve().parents[2])


def test_fast_parser_agrees_with_latex2sympy() -> None:
    """Every table answer the small parser accepts means the same to latex2sympy."""
    from checker_cases import MATH

    from star.checkers import symbolic
    from star.checkers.fastparse import parse_simple

    checker = get_checker("math")
    answers = {checker.extract(x) for g, p, _ in MATH for x in (g, p) if x}
    accepted = 0
    for answer in sorted(a for a in answers if a and screen(a) is None):
        prepared = symbolic.prepare(normalize_math(answer))
        simple = parse_simple(prepared)
        if simple is None:
            continue
        accepted += 1
        reference = symbolic._post(symbolic._latex2sympy(prepared))
        simple = symbolic._post(simple)
        assert symbolic.equal(reference, simple) and symbolic.equal(simple, reference), prepared
    assert accepted > 150


@pytest.mark.parametrize(
    "s", ["f(x)", "x (2)", "dx", "1 2", r"2\frac{1}{2}", "E", r"\sin x", "x_1", "1,2", "2^3^2", "a=b=c", "3=3", "2<3", "x<1=y"]
)
def test_fast_parser_refuses_irregular_readings(s: str) -> None:
    from star.checkers.fastparse import parse_simple

    assert parse_simple(s) is None
