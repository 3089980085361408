"""CheckPool: hostile inputs, hard timeouts, crashes, memory caps, laziness, no leaks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from hostile_inputs import HOSTILE
from stub_checkers import StubChecker

from star.checkers import CheckPool, get_checker
from star.types import Verdict

SANITY = [("1/2", "0.5"), (r"\frac{1}{2^{99}}", r"\frac{1}{2^{98}}"), ("x^2-1", "(x-1)(x+1)")]
SANITY_EXPECTED = [Verdict.CORRECT, Verdict.INCORRECT, Verdict.CORRECT]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pids: list[int], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(_gone(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def test_hostile_inputs_are_answered_fast_and_safely(pool: CheckPool) -> None:
    assert len(HOSTILE) >= 40
    started = time.monotonic()
    for name in ("math", "numeric", "choice", "exact"):
        checker = get_checker(name)
        pairs = [("5", h) for h in HOSTILE] + [(h, "5") for h in HOSTILE]
        outcomes = pool.check_timed(checker, pairs)
        assert len(outcomes) == len(pairs)
        for (gold, pred), (verdict, seconds) in zip(pairs, outcomes, strict=True):
            assert isinstance(verdict, Verdict)
            assert seconds < 10, (name, pred[:60], gold[:60])
            assert verdict is not Verdict.CORRECT, (name, gold[:60], pred[:60])
    assert time.monotonic() - started < 60
    # not poisoned: the same pool still gets ordinary pairs right
    assert pool.check(get_checker("math"), SANITY) == SANITY_EXPECTED


def test_hard_timeout_kills_and_replaces_a_stuck_worker() -> None:
    with CheckPool(workers=1, timeout=1.0) as pool:
        assert pool.check(StubChecker(), [("x", "slow")]) == [Verdict.CORRECT]
        before = pool.pids
        started = time.monotonic()
        verdicts = pool.check(StubChecker(), [("x", "hang"), ("x", "slow"), ("x", "x")])
        assert time.monotonic() - started < 8
        assert verdicts == [Verdict.UNVERIFIABLE, Verdict.CORRECT, Verdict.CORRECT]
        assert pool.stats["timeouts"] == 1
        assert pool.pids and pool.pids != before
        assert _wait_gone(before)


def test_crash_memory_hog_and_exceptions_are_unverifiable() -> None:
    with CheckPool(workers=2, timeout=20.0, max_memory_mb=400) as pool:
        pairs = [("x", "die"), ("x", "hog"), ("x", "raise"), ("x", "slow"), ("y", "y")]
        started = time.monotonic()
        verdicts = pool.check(StubChecker(), pairs)
        assert verdicts == [Verdict.UNVERIFIABLE] * 3 + [Verdict.CORRECT] * 2
        assert time.monotonic() - started < 15  # the cap stops the hog long before the timeout
        assert pool.check(get_checker("math"), SANITY) == SANITY_EXPECTED


def test_workers_start_lazily_and_persist() -> None:
    with CheckPool(workers=2, timeout=5.0) as pool:
        assert pool.check(get_checker("math"), [("1/2", "0.5"), ("3", "4")]) == [
            Verdict.CORRECT,
            Verdict.INCORRECT,
        ]
        assert pool.pids == [] and pool.stats["started"] == 0  # fast path only: no process
        pool.check(get_checker("math"), SANITY)
        pids = pool.pids
        assert 1 <= len(pids) <= 2
        pool.check(get_checker("math"), [("x+1", "1+x+0"), ("2x", "x+x")])
        assert set(pool.pids) == set(pids)  # reused across calls
    assert _wait_gone(pids)


def test_results_keep_input_order_and_duplicates_are_checked_once() -> None:
    with CheckPool(workers=2, timeout=5.0) as pool:
        pairs = [("x", "slow"), ("x", "x"), ("x", "y")] * 20
        assert pool.check(StubChecker(), pairs) == [Verdict.CORRECT, Verdict.CORRECT, Verdict.INCORRECT] * 20
        assert pool.stats["slow"] == 1 and pool.stats["fast"] == 40
        assert pool.check(StubChecker(), []) == []


def test_close_kills_every_worker_and_is_idempotent() -> None:
    me = psutil.Process()
    before = {c.pid for c in me.children(recursive=True)}
    pool = CheckPool(workers=2, timeout=5.0)
    pool.check(StubChecker(), [("x", "slow"), ("y", "slow")])
    pids = pool.pids
    assert len(pids) == 2
    pool.close()
    pool.close()
    assert _wait_gone(pids)
    assert {c.pid for c in me.children(recursive=True)} - before == set()
    with pytest.raises(RuntimeError):
        pool.check(StubChecker(), [("x", "x")])


@pytest.mark.parametrize("ending", ["return", "sigkill"])
def test_workers_die_with_their_parent(ending: str, tmp_path) -> None:
    """Interpreter exit without close(), and even SIGKILL of the parent, leave no workers."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path[:0] = {sys.path!r}
        from stub_checkers import StubChecker
        from star.checkers import CheckPool
        pool = CheckPool(workers=2, timeout=5.0)
        pool.check(StubChecker(), [("x", "slow"), ("y", "slow")])
        print(" ".join(map(str, pool.pids)), flush=True)
        if {ending!r} == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) == 2, proc.stderr
    assert _wait_gone(pids)


def test_pool_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        CheckPool(workers=0)
    with pytest.raises(ValueError):
        CheckPool(timeout=0)


def test_main_process_memory_stays_flat(pool: CheckPool) -> None:
    """Five rounds of hostile checks: the parent's memory does not grow."""
    checker = get_checker("math")
    me = psutil.Process()
    rss = []
    for round_ in range(5):
        pairs = [(str(round_), h) for h in HOSTILE[:40]]
        pool.check(checker, pairs)
        rss.append(me.memory_info().rss)
    assert rss[-1] - rss[1] < 20 * 1024 * 1024, rss
