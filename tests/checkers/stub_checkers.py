"""Checkers that misbehave on purpose inside a pool worker: hang past the soft timer, die,
allocate without bound. Importable by workers (they inherit the test's sys.path)."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import ClassVar

from star.types import Verdict


@dataclass(frozen=True)
class StubChecker:
    """`pred` says what to do: "hang", "die", "hog", "raise", else compare as strings."""

    name: str = "stub"

    def extract(self, text: str) -> str | None:
        return text

    def fast_check(self, gold: str, pred: str | None) -> Verdict | None:
        if pred in ("hang", "die", "hog", "raise", "slow"):
            return None
        return Verdict.CORRECT if gold == pred else Verdict.INCORRECT

    def check(self, gold: str, pred: str | None) -> Verdict:
        if pred == "hang":  # like big-integer arithmetic: deaf to the soft timer
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
            time.sleep(3600)
        if pred == "die":
            os._exit(1)
        if pred == "hog":  # the address-space cap must stop this
            blocks = []
            while True:
                blocks.append(bytearray(64 * 1024 * 1024))
        if pred == "raise":
            raise RuntimeError("checker bug")
        if pred == "slow":
            time.sleep(0.2)
            return Verdict.CORRECT
        return Verdict.CORRECT if gold == pred else Verdict.INCORRECT


@dataclass(frozen=True)
class ProblemAnswerChecker:
    """Reads the problem (`uses_problem`): correct when pred is the problem's own answer."""

    uses_problem: ClassVar[bool] = True

    def extract(self, text: str) -> str | None:
        return text

    def fast_check(self, gold: str, pred: str | None, problem: object) -> Verdict | None:
        return None

    def check(self, gold: str, pred: str | None, problem: object) -> Verdict:
        if problem is None:
            return Verdict.UNVERIFIABLE
        return Verdict.CORRECT if pred == getattr(problem, "answer", None) else Verdict.INCORRECT
