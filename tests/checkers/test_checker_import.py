"""A checker class that a worker process cannot import fails fast, in the parent, with one
clear CheckerImportError naming the class (not a dead worker, a retry and a silent
UNVERIFIABLE): refused before sending when it is obviously unimportable (`__main__`,
`<locals>`), and reported by the worker when unpickling it fails there."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from stub_checkers import ProblemAnswerChecker

from star.checkers import CheckerImportError, CheckPool, get_checker
from star.types import Problem, Verdict

SANITY = [("1/2", "0.5"), ("x^2-1", "(x-1)(x+1)")]


def test_a_class_defined_in_a_function_is_refused_before_sending() -> None:
    @dataclass(frozen=True)
    class LocalChecker:
        def extract(self, text: str) -> str | None:
            return text

        def fast_check(self, gold: str, pred: str | None) -> Verdict | None:
            return None if pred == "slow" else Verdict.INCORRECT

        def check(self, gold: str, pred: str | None) -> Verdict:
            return Verdict.CORRECT

    with CheckPool(workers=1, timeout=5.0) as pool:
        assert pool.check(LocalChecker(), [("x", "fast")]) == [Verdict.INCORRECT]  # no worker needed: fine
        with pytest.raises(CheckerImportError) as e:
            pool.check(LocalChecker(), [("x", "slow")])
        message = str(e.value)
        assert "test_checker_import.test_a_class_defined_in_a_function_is_refused_before_sending" in message
        assert "<locals>.LocalChecker" in message and "importable by a fresh interpreter" in message
        assert "\n" not in message and pool.stats["started"] == 0  # refused before any worker started
    assert issubclass(CheckerImportError, RuntimeError)


def test_a_class_defined_in_main_is_refused() -> None:
    """A script's own checker class (`python my_script.py`): its __main__ is not the worker's."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path[:0] = {sys.path!r}
        from dataclasses import dataclass
        from star.checkers import CheckPool, CheckerImportError, Verdict

        @dataclass(frozen=True)
        class MainChecker:
            def extract(self, text): return text
            def fast_check(self, gold, pred): return None
            def check(self, gold, pred): return Verdict.CORRECT

        with CheckPool(workers=1, timeout=5.0) as pool:
            try:
                pool.check(MainChecker(), [("x", "y")])
            except CheckerImportError as e:
                print("raised:", e, "started:", pool.stats["started"])
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "raised: checker class __main__.MainChecker" in proc.stdout, proc.stdout + proc.stderr
    assert "not in __main__" in proc.stdout and "started: 0" in proc.stdout


def test_a_module_the_worker_cannot_import_gets_a_clear_error(tmp_path: Path) -> None:
    """The parent imported the class from a file outside every path the worker sees: the
    worker says so (it does not die), and the parent raises naming module and class."""
    source = tmp_path / "hidden_checker_module.py"
    source.write_text(textwrap.dedent(
        """
        from dataclasses import dataclass
        from star.checkers import Verdict

        @dataclass(frozen=True)
        class HiddenChecker:
            def extract(self, text): return text
            def fast_check(self, gold, pred): return None
            def check(self, gold, pred): return Verdict.CORRECT

        @dataclass(frozen=True)
        class HiddenProblem:
            answer: str
        """
    ))
    spec = importlib.util.spec_from_file_location("hidden_checker_module", source)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["hidden_checker_module"] = module  # pickle finds it here, the worker nowhere
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        with CheckPool(workers=2, timeout=5.0) as pool:
            assert pool.check(get_checker("math"), SANITY) == [Verdict.CORRECT] * 2  # workers up
            before = sorted(pool.pids)
            started = time.monotonic()
            with pytest.raises(CheckerImportError) as e:
                pool.check(module.HiddenChecker(), [("x", "a"), ("x", "b"), ("x", "c")])
            assert time.monotonic() - started < 10
            message = str(e.value)
            assert "hidden_checker_module.HiddenChecker" in message, message
            assert "No module named 'hidden_checker_module'" in message and "PYTHONPATH" in message
            assert pool.stats["crashes"] == 0  # no worker died, nothing was retried
            # the pool is not poisoned: the replying worker lives on, the others are replaced
            assert pool.check(get_checker("math"), SANITY) == [Verdict.CORRECT] * 2
            assert set(pool.pids) & set(before)
            # a problem the worker cannot unpickle is named as such
            reader = ProblemAnswerChecker()
            assert pool.check(reader, [("x", "7")], problems=[Problem("p", "q", "7")]) == [Verdict.CORRECT]
            with pytest.raises(CheckerImportError, match="a problem of checker .*ProblemAnswerChecker.*No module"):
                pool.check(reader, [("x", "7")], problems=[module.HiddenProblem("7")])
    finally:
        sys.modules.pop("hidden_checker_module", None)
