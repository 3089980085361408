"""The task protocol: what the loop needs from a benchmark, and nothing more.

A task is data plus a few hooks (as in lm-evaluation-harness): it loads problems, renders a
prompt (optionally with the gold answer as a hint, for rationalization), extracts the final
answer from a completion, names the checker that judges it, and says which difficulty
group(s) a problem belongs to. The registry is the `conf/task/` config group: each YAML's
`_target_` names a class, so any importable class that fits this protocol is a task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from star.checkers import Checker
from star.types import Problem

# A prompt is either plain text (few-shot, for base models) or chat messages, which the
# loop renders with the tokenizer's chat template (see star.prompting).
Prompt = str | list[dict[str, str]]


@runtime_checkable
class Task(Protocol):
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
