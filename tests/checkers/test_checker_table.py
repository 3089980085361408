"""The (gold, pred, expected) table through a real CheckPool: every row, every checker."""

from __future__ import annotations

import pytest
from checker_cases import MATH, all_rows

from star.checkers import CheckPool, get_checker
from star.checkers.extract import is_prose
from star.types import Verdict

ROWS = all_rows()
# Rows whose pred is a whole model output, not a bare answer: no swapped-direction test.
_WHOLE_OUTPUT = ("\n", "answer", "\\boxed", "####", "The ", "So ", "Thus", "Solving", "First", "We ")


def _verdicts(pool: CheckPool, rows: list) -> list[Verdict]:
    """All rows, grouped per checker so that each group is one parallel pool call."""
    out: list[Verdict | None] = [None] * len(rows)
    groups: dict[tuple, list[int]] = {}
    for i, (name, options, *_rest) in enumerate(rows):
        groups.setdefault((name, tuple(sorted(options.items()))), []).append(i)
    for (name, options), idx in groups.items():
        checker = get_checker(name, **dict(options))
        for i, verdict in zip(idx, pool.check(checker, [rows[i][2:4] for i in idx]), strict=True):
            out[i] = verdict
    return out  # type: ignore[return-value]


@pytest.fixture(scope="module")
def table_verdicts(pool: CheckPool) -> list[Verdict]:
    return _verdicts(pool, ROWS)


def test_table_is_big_enough() -> None:
    kinds = {name for name, *_ in ROWS}
    assert len(ROWS) >= 300 and kinds == {"math", "numeric", "choice", "exact"}
    for kind in kinds:  # both directions for every kind
        expected = {e for name, _, _, _, e in ROWS if name == kind}
        assert {"correct", "incorrect"} <= expected, kind


@pytest.mark.parametrize("row", range(len(ROWS)), ids=lambda i: f"{ROWS[i][0]}-{i}")
def test_row(row: int, table_verdicts: list[Verdict]) -> None:
    name, options, gold, pred, expected = ROWS[row]
    assert table_verdicts[row].value == expected, f"{name} {options} gold={gold!r} pred={pred!r}"


def _bare(gold: str, pred: str) -> bool:
    """A pair of bare answers that the policies treat alike in both directions (an
    equation stating a value is asymmetric on purpose: the gold "a+b=5" is no value)."""
    if any(w in pred for w in _WHOLE_OUTPUT) or is_prose(pred) or "\\boxed" in gold:
        return False
    return not ("=" in pred and "=" not in gold)


def test_equal_math_pairs_are_symmetric(pool: CheckPool) -> None:
    """Swapping gold and pred keeps a CORRECT verdict for bare answers."""
    pairs = [(p, g) for g, p, e in MATH if e == "correct" and p and _bare(g, p)]
    assert len(pairs) > 150
    verdicts = pool.check(get_checker("math"), pairs)
    wrong = [pair for pair, v in zip(pairs, verdicts, strict=True) if v is not Verdict.CORRECT]
    assert not wrong


def test_direct_check_matches_pool(table_verdicts: list[Verdict]) -> None:
    """checker.check in-process (as a worker runs it) gives the pool's verdicts."""
    for i in range(0, len(ROWS), 7):
        name, options, gold, pred, _ = ROWS[i]
        assert get_checker(name, **options).check(gold, pred) is table_verdicts[i], ROWS[i]


def test_fast_path_agrees_with_sympy() -> None:
    """Where the fast path judges plain numbers or collections of them, sympy agrees."""
    from star.checkers import symbolic
    from star.checkers.numbers import parse_collection, parse_number

    checker = get_checker("math")
    judged = 0
    for gold, pred, _ in MATH:
        pair = checker.normalized(gold, pred)
        if isinstance(pair, Verdict):
            continue
        g, p = pair
        plain = all(parse_number(x) is not None or parse_collection(x) is not None for x in pair)
        fast = checker.fast_check(gold, pred)
        if not plain or fast not in (Verdict.CORRECT, Verdict.INCORRECT):
            continue
        slow = symbolic.equal(symbolic.parse(g), symbolic.parse(p))
        assert slow == (fast is Verdict.CORRECT), (gold, pred)
        judged += 1
    assert judged > 60
