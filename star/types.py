"""Frozen records that cross module boundaries: problems, samples, verdicts, training examples.

Everything the loop writes to the run directory is one of these, serialized with `to_dict`
and read back with `from_dict`, so a resumed run sees exactly what an uninterrupted one saw.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


class Verdict(str, enum.Enum):
    """A checker's answer. UNVERIFIABLE (timeout, unparsable, pathological) is never accepted."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    UNVERIFIABLE = "unverifiable"

    def __str__(self) -> str:  # json.dumps writes the value, not "Verdict.CORRECT"
        return self.value


@dataclass(frozen=True)
class Problem:
    """One task instance. `answer` is always a string; `meta` holds difficulty groups etc."""

    id: str
    question: str
    answer: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.answer, str):
            raise TypeError(f"Problem {self.id!r}: answer must be a string, got {type(self.answer).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "question": self.question, "answer": self.answer, "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Problem:
        return cls(id=d["id"], question=d["question"], answer=d["answer"], meta=d.get("meta", {}))


@dataclass(frozen=True)
class Sample:
    """One generated completion for one problem, with what the checker made of it.

    `prompt` is the prompt the model saw (hinted for rationalization); `train_prompt` is the
    prompt a training example built from this sample uses (always the un-hinted one).
    """

    problem_id: str
    index: int  # which of the k samples for this problem
    prompt: str
    train_prompt: str
    completion: str
    pred: str | None  # extracted answer, None when nothing could be extracted
    verdict: Verdict
    hinted: bool = False
    tokens: int = 0  # generated tokens

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict.value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Sample:
        return cls(**{**d, "verdict": Verdict(d["verdict"])})


@dataclass(frozen=True)
class Example:
    """A training example: the loss is computed on `completion` only."""

    prompt: str
    completion: str
    problem_id: str = ""
    hinted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Example:
        return cls(**d)
