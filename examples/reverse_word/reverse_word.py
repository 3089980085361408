"""Reverse a string of letters: an out-of-tree task plugin written from docs/ADDING_A_TASK.md.

The plugin is this file plus `conf/task/reverse_word.yaml`, whose `_target_` names the
class below. From the repository root:

    PYTHONPATH=examples/reverse_word star task-check --config-dir examples/reverse_word/conf task=reverse_word
    PYTHONPATH=examples/reverse_word star run --config-dir examples/reverse_word/conf task=reverse_word

Problems are random lower-case strings of 3 to 8 letters generated from `seed` (no data
files). The worked rationale numbers the letters, then writes the numbered letters from
the last number down, then joins them:

    Reverse the word "planet".
    1p 2l 3a 4n 5e 6t
    6t 5e 4n 3a 2l 1p
    The answer is tenalp.

Why this scratchpad: each step of the second line is "the letter after the digit k in the
first line", which a byte-level model can copy with an induction head (the digit is the
anchor), and k only counts down by one. Repeated letters do not confuse it, since the
anchor is the position, not the letter.

The hint (`style`):

- `indexed` (default): the answer letters each after the position they come from,
  "(Hint: 6t 5e 4n 3a 2l 1p)": the tokens of the second scratchpad line, so every letter
  of the first two lines can be looked up by its digit (the "lookup" idea of the
  arithmetic demo, docs/REPRODUCING.md "What the hint does"). With it, hinted attempts
  solved 50% of the failed pool problems in iteration 1 (README.md here).
- `spelled`: the gold answer with its letters spaced, "(Hint: t e n a l p)". The tiny
  model did not learn to read it: 4% of failures solved with it in iteration 1.
- `plain`: "(Hint: the answer is tenalp.)".

`check_steps` judges each of the three lines, so `train/unfaithful` counts correct answers
reached through a wrong scratchpad (and `loop.process_filter=task` rejects them).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from star.checkers import get_checker
from star.types import Problem

LETTERS = "abcdefghijklmnopqrstuvwxyz"
HINT_STYLES = ("spelled", "indexed", "plain")


@dataclass
class ReverseWord:
    """Reverse a random letter string of `min_length`..`max_length` letters.

    `train_size` / `eval_size` problems and `seed_size` worked examples for the cold start,
    spread evenly over the lengths and drawn with `seed`; the three sets never share a string.
    """

    train_size: int = 900
    eval_size: int = 300
    seed_size: int = 4000
    validation_size: int = 0
    min_length: int = 3
    max_length: int = 8
    style: str = "indexed"
    seed: int = 0
    name: str = "reverse_word"
    description: str = "reverse a string of 3-8 letters with a numbered scratchpad (an out-of-tree example task)"
    stop: Sequence[str] = ()
    checker: Any = field(default_factory=lambda: get_checker("exact", case_sensitive=True))

    # meta["solution"] is the worked rationale, computed from the gold: hidden under
    # loop.labels=majority (docs/ADDING_A_TASK.md, "Gold-derived meta")
    gold_meta: ClassVar[tuple[str, ...]] = ("solution",)

    def __post_init__(self) -> None:
        if self.style not in HINT_STYLES:
            raise ValueError(f"task.style must be one of {HINT_STYLES}, got {self.style!r}")
        if not 1 <= self.min_length <= self.max_length <= 9:
            # positions are single digits, so that each anchor is one byte
            raise ValueError("task.min_length and task.max_length must satisfy 1 <= min <= max <= 9")

    # -- data -----------------------------------------------------------------------------
    def _strings(self) -> dict[str, list[str]]:
        """Unique strings per split, an equal share of each length (the remainder to the
        longest lengths): eval first, then train, the cold-start seeds, validation."""
        rng = random.Random(self.seed)
        lengths = list(range(self.min_length, self.max_length + 1))
        seen: set[str] = set()
        out: dict[str, list[str]] = {}
        # validation last, so that asking for it moves no other split
        for split, size in (("eval", self.eval_size), ("train", self.train_size), ("seed", self.seed_size),
                            ("validation", self.validation_size)):
            words: list[str] = []
            for i, n in enumerate(lengths):
                share = size // len(lengths) + (1 if i >= len(lengths) - size % len(lengths) else 0)
                if share > len(LETTERS) ** n // 2:
                    raise ValueError(f"task: too many {n}-letter strings asked for ({share})")
                made = 0
                while made < share:
                    word = "".join(rng.choice(LETTERS) for _ in range(n))
                    if word not in seen:
                        seen.add(word)
                        words.append(word)
                        made += 1
            rng.shuffle(words)
            out[split] = words
        return out

    def _problems(self, split: str) -> list[Problem]:
        return [Problem(id=f"{split}-{i:05d}", question=word, answer=word[::-1],
                        meta={"length": len(word), "solution": self.solve(word)})
                for i, word in enumerate(self._strings()[split])]

    def load(self, split: str) -> list[Problem]:
        if split not in ("train", "eval", "validation"):
            raise ValueError(f"reverse_word: unknown split {split!r} (expected train, eval or validation)")
        if split == "validation" and self.validation_size == 0:
            raise ValueError("reverse_word: no validation split; set task.validation_size=N")
        return self._problems(split)

    def seed_rationales(self) -> list[tuple[Problem, str]]:
        return [(p, self.solve(p.question)) for p in self._problems("seed")]

    @staticmethod
    def solve(word: str) -> str:
        numbered = [f"{i}{c}" for i, c in enumerate(word, start=1)]
        return f"{' '.join(numbered)}\n{' '.join(reversed(numbered))}\nThe answer is {word[::-1]}."

    def check_steps(self, problem: Problem, completion: str) -> list[bool] | None:
        """One verdict per scratchpad line: the numbered letters, the same pairs from the
        last number down, the answer line; None when the completion is not three lines
        (then the task cannot say which step is which)."""
        lines = [line.strip() for line in completion.strip().split("\n")]
        if len(lines) != 3:
            return None
        want = self.solve(problem.question).split("\n")
        return [got == ref for got, ref in zip(lines, want, strict=True)]

    # -- prompting ------------------------------------------------------------------------
    def _hint_text(self, problem: Problem, hint: str) -> str:
        if self.style == "spelled":
            return f"(Hint: {' '.join(hint)})"
        if self.style == "indexed":
            n = len(hint)
            return f"(Hint: {' '.join(f'{n - i}{c}' for i, c in enumerate(hint))})"
        return f"(Hint: the answer is {hint}.)"

    def prompt(self, problem: Problem, hint: str | None = None) -> str:
        question = f'Reverse the word "{problem.question}".\n'
        return question if hint is None else f"{self._hint_text(problem, hint)} {question}"

    def extract_answer(self, completion: str) -> str | None:
        return self.checker.extract(completion)   # "... The answer is tenalp." -> "tenalp"

    def groups(self, problem: Problem) -> dict[str, str]:
        n = len(problem.question)
        # pairs of lengths: 3-4, 5-6, 7-8 with the defaults
        low = self.min_length + 2 * ((n - self.min_length) // 2)
        high = min(low + 1, self.max_length)
        return {"letters": f"{low}-{high}" if high > low else str(low)}

    def max_new_tokens(self, problem: Problem) -> int:
        # bytes: two lines of 3 per letter, the answer line of 15 + 1 per letter, and slack
        return 8 * len(problem.question) + 24
