"""The records and the one protocol that cross module boundaries: problems, samples,
training examples, and the `Task` every plugin implements.

Everything the loop writes to the run directory is one of these records, serialized with
`to_dict` and read back with `from_dict`, so a resumed run sees exactly what an
uninterrupted one saw. `Verdict` is the checkers' own type (star.checkers.base),
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from star.checkers.base import Checker, Verdict

__all__ = ["Checker", "Example", "Problem", "Prompt", "Sample", "Task", "Verdict"]


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


TEACHER = -1  # Sample.voter of a teacher's sample (loop.teacher): neither the run's model nor a peer


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
    rejected: str | None = None  # why a correct sample may not train, e.g. "hint-leak"
    voter: int = 0  # which model wrote it: 0 the run's own, i > 0 peer i (loop.voters > 1), TEACHER a teacher's
    faithful: bool | None = None  # every step right (the task's check_steps); None: not checked

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


# A prompt is either plain text (few-shot, for base models) or chat messages, which the
# loop renders with the tokenizer's chat template (see star.prompting).
Prompt = str | list[dict[str, str]]


@runtime_checkable
class Task(Protocol):
    """What the loop needs from a benchmark, and nothing more (as in lm-evaluation-harness:
    data plus a few hooks). The registry is the `conf/task/` config group: each YAML's
    `_target_` names a class, so any importable class that fits this protocol is a task.
    Optional hooks, looked up with getattr: `hint_markers(problem, hint)` (see
    star.rationalization); `train_prompt(problem)`, the prompt of a training example made
    from a sample (default `prompt(problem)`; a few-shot task leaves its exemplars out)."""

    name: str
    description: str  # one line, shown by `star tasks`
    checker: Checker
    stop: Sequence[str]  # extra stop strings for generation (besides EOS)

    def load(self, split: str) -> list[Problem]:
        """Problems of a split ("train" for the STaR pool, "eval" for held-out accuracy)."""
        ...

    def prompt(self, problem: Problem, hint: str | None = None) -> Prompt:
        """The prompt for `problem`; with `hint` (the gold answer) for rationalization."""
        ...

    def extract_answer(self, completion: str) -> str | None:
        """The final answer in a completion, or None."""
        ...

    def groups(self, problem: Problem) -> dict[str, str]:
        """Difficulty group(s) for per-group accuracy, e.g. {"digits": "3"}."""
        ...

    def max_new_tokens(self, problem: Problem) -> int | None:
        """A per-problem generation budget (None: the generator's default)."""
        ...

    def seed_rationales(self) -> list[tuple[Problem, str]]:
        """Worked (problem, completion) pairs for cold start; may be empty."""
        ...
