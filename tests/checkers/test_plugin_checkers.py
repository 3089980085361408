"""Checkers defined outside star/ (tests/checkers/plugin_pkg), through a real CheckPool:
its worker processes import the plugin package to unpickle them; a checker that reads the
problem (`uses_problem`) gets it there. The package is importable only because the test
puts its folder on sys.path before the pool starts its workers (which inherit sys.path)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from star.checkers import CheckPool, checker_name, uses_problem
from star.types import Problem, Verdict

PLUGIN_DIR = Path(__file__).resolve().parent / "plugin_pkg"


@pytest.fixture()
def plugin(monkeypatch: pytest.MonkeyPatch) -> Any:
    with pytest.raises(ImportError):
        importlib.import_module("plugin_checkers")  # not importable without its path
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    module = importlib.import_module("plugin_checkers")
    yield module
    for name in [m for m in sys.modules if m == "plugin_checkers" or m.startswith("plugin_checkers.")]:
        del sys.modules[name]  # the next test imports it afresh, from its path only


@pytest.fixture()
def fresh_pool(plugin: Any) -> Iterator[CheckPool]:
    with CheckPool(workers=2, timeout=5.0) as p:  # started after sys.path has the plugin
        yield p


def test_a_plugin_checker_runs_in_the_workers(plugin: Any, fresh_pool: CheckPool) -> None:
    checker = plugin.RomanChecker()
    pairs = [("14", "XIV"), ("14", "The answer is XIV."), ("14", "XV"), ("1994", r"\boxed{MCMXCIV}"),
             ("14", "IIII"), ("14", None), ("x", "XIV"), ("14", "XIV")]
    expected = [Verdict.CORRECT, Verdict.CORRECT, Verdict.INCORRECT, Verdict.CORRECT,
                Verdict.INCORRECT, Verdict.INCORRECT, Verdict.UNVERIFIABLE, Verdict.CORRECT]
    assert fresh_pool.check(checker, pairs) == expected
    assert fresh_pool.stats["fast"] == 0 and fresh_pool.stats["slow"] == 7  # the repeat is checked once
    assert fresh_pool.stats["crashes"] == 0 and fresh_pool.stats["started"] >= 1


def test_name_is_optional(plugin: Any, fresh_pool: CheckPool) -> None:
    """Nothing in the pool needs a checker's `name`; messages fall back to the class name."""
    nameless = plugin.NamelessRomanChecker()
    assert not hasattr(nameless, "name")
    assert checker_name(nameless) == "NamelessRomanChecker" and checker_name(plugin.RomanChecker()) == "roman"
    assert fresh_pool.check(nameless, [("4", "IV"), ("4", "VI")]) == [Verdict.CORRECT, Verdict.INCORRECT]
    assert fresh_pool.stats["slow"] == 2


def _countdown(pid: str, numbers: list[int], target: str = "24") -> Problem:
    return Problem(id=pid, question=f"Reach {target} with {numbers}", answer=target, meta={"numbers": numbers})


def test_a_checker_that_uses_the_problem_gets_it_in_the_worker(plugin: Any, fresh_pool: CheckPool) -> None:
    checker = plugin.CountdownChecker()
    assert uses_problem(checker) and not uses_problem(plugin.RomanChecker())
    a, b = _countdown("a", [8, 4, 6]), _countdown("b", [8, 4, 7])
    pairs = [("24", "(8 - 4) * 6"), ("24", "(8 - 4) * 6"), ("24", "The answer is (8-4)*6 = 24."),
             ("24", "8 * 3"), ("24", "(8 - 4) * 6 + 0"), ("24", "__import__('os').getpid()"),
             ("24", "(8 - 4) * 6"), ("24", "8 / (4 - 4) * 6"), ("24", "(8 - 4) ** 6")]
    problems = [a, b, a, a, a, a, a, a, a]
    verdicts = fresh_pool.check(checker, pairs, problems=problems)
    # the same (gold, pred) for two problems: two checks, two verdicts (b has a 7, not a 6)
    assert verdicts == [Verdict.CORRECT, Verdict.INCORRECT, Verdict.CORRECT, Verdict.INCORRECT,
                        Verdict.INCORRECT, Verdict.INCORRECT, Verdict.CORRECT, Verdict.INCORRECT,
                        Verdict.INCORRECT]
    assert fresh_pool.stats["slow"] == 8  # pairs 0 and 6 (same gold, pred and problem) are one check
    # without problems a problem-reading checker gets None (and this one says unverifiable)
    assert fresh_pool.check(checker, [("24", "(8 - 4) * 6")]) == [Verdict.UNVERIFIABLE]
    # a checker that does not read the problem is called with (gold, pred), whatever problems holds
    assert fresh_pool.check(plugin.RomanChecker(), [("14", "XIV"), ("4", "IV")], problems=[a, None]) == [
        Verdict.CORRECT, Verdict.CORRECT]
    with pytest.raises(ValueError, match="aligned"):
        fresh_pool.check(checker, pairs, problems=problems[:2])


def test_countdown_evaluation_is_a_whitelist(plugin: Any) -> None:
    from fractions import Fraction

    assert plugin.evaluate("(8 - 4) * 6") == (Fraction(24), [8, 4, 6])
    assert plugin.evaluate("8 / 3") == (Fraction(8, 3), [8, 3])
    for hostile in ("__import__('os')", "x + 1", "2 ** 100", "-8 + 32", "1.5 * 16", "len('ab')", "(" * 300,
                    "8 / 0", "[8][0]", "8 if 1 else 0", "True + 23"):
        assert plugin.evaluate(hostile) is None, hostile
