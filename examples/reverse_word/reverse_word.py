"""Reverse a string of letters: an out-of-tree task plugin written from docs/ADDING_A_TASK.md.

The plugin is this file plus `conf/task/reverse_word.yaml`, whose `_target_` names the
class below. From the repository root:

    PYTHONPATH=examples/reverse_word star task-check --config-dir examples/reverse_word/conf task=reverse_word
    PYTHONPATH=examples/reverse_word star run --config-dir examples/reverse_word/conf task=reverse_word

Problems are random lower-case strings of 3 to 8 letters generated from `seed` (no data
files). The question writes each letter after the digit of its place; the worked
rationale takes the letters in order, one a line, and prepends each to the reversal so
far, kept right-aligned in a field as wide as the longest string; the answer line repeats
that field:

    Reverse 1p 2l 3a 4n 5e 6t.
    1p        p
    2l       lp
    3a      alp
    4n     nalp
    5e    enalp
    6t   tenalp
    A:   tenalp

Why this scratchpad (docs/ADDING_A_TASK.md, "Making a task learnable"): every character
is looked up by content or copied at a fixed offset, as in the arithmetic demo's
right-aligned result. The letter of place k is the one after the digit k in the question
(an induction head copies it; no letter is found by counting positions); the reversal so
far is the line above's at the same columns, with the new letter in the free column to its
left; the answer line copies the last field column for column. The first version of this
task (README.md here) numbered the letters itself from an untagged question (learned per
length, by position: 0/50 5-letter strings) and joined the letters of its reversed line
into the answer with nothing to anchor them (lines right, answer wrong, for 5-6 letters).

For rationalization the hint is the answer in the answer line's own form, before the
question: `(A: tenalp) Reverse 1p 2l ...`, so that the answer line and the field of every
line can be read off it as well as built. `check_steps` judges each line, so
`train/unfaithful` counts right answers reached through a wrong scratchpad.

Splits: eval (50 per length) first, then the STaR pool, the cold-start worked examples
(`seed_size`) and the validation split (for tuning: `eval.split=validation`; 0: none),
all disjoint by content and drawn from one stream of `seed` in that order, so asking for
validation moves no other split.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from star.checkers import get_checker
from star.types import Problem

LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass
class ReverseWord:
    """Reverse a random letter string of `min_length`..`max_length` letters.

    `train_size` / `eval_size` problems and `seed_size` worked examples for the cold start,
    spread evenly over the lengths and drawn with `seed`; the sets never share a string.
    """

    train_size: int = 900
    eval_size: int = 300
    seed_size: int = 4000
    validation_size: int = 0
    min_length: int = 3
    max_length: int = 8
    seed: int = 0
    name: str = "reverse_word"
    description: str = "reverse a string of 3-8 letters with a right-aligned scratchpad (an out-of-tree example task)"
    stop: Sequence[str] = ()
    checker: Any = field(default_factory=lambda: get_checker("exact", case_sensitive=True))

    # meta["solution"] is the worked rationale, computed from the gold: hidden under
    # loop.labels=majority (docs/ADDING_A_TASK.md, "Gold-derived meta")
    gold_meta: ClassVar[tuple[str, ...]] = ("solution",)

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length <= 9:
            # places are single digits, so that each anchor is one byte
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

    def _lines(self, word: str) -> list[str]:
        """The worked rationale's lines: place and letter, the reversal so far right-aligned
        in a field of `max_length` columns; then the answer line, the last field again."""
        width = self.max_length
        lines = [f"{i}{c} {word[:i][::-1]:>{width}}" for i, c in enumerate(word, start=1)]
        return lines + [f"A: {word[::-1]:>{width}}"]

    def solve(self, word: str) -> str:
        return "\n".join(self._lines(word))

    def check_steps(self, problem: Problem, completion: str) -> list[bool]:
        """One verdict per place (its line names the place, reads its letter and keeps the
        reversal so far), then one for the answer line; missing and extra lines are false
        steps. Lines are compared without their trailing spaces."""
        want = self._lines(problem.question)
        got = [line.rstrip() for line in completion.strip("\n").split("\n")]
        body, answer = (got[:-1], got[-1]) if got and got[-1].startswith("A:") else (got, None)
        verdicts = [i < len(body) and body[i] == ref for i, ref in enumerate(want[:-1])]
        verdicts += [False] * (len(body) - len(want) + 1)  # lines past the last place
        return verdicts + [answer is not None and answer[2:].strip() == problem.answer]

    # -- prompting ------------------------------------------------------------------------
    def prompt(self, problem: Problem, hint: str | None = None) -> str:
        question = f"Reverse {' '.join(f'{c}{i}' for i, c in enumerate(problem.question, start=1))}.\n"
        return question if hint is None else f"(A: {hint:>{self.max_length}}) {question}"

    def extract_answer(self, completion: str) -> str | None:
        """The letters of a last line "A: <field>"; None otherwise."""
        lines = completion.strip().split("\n")
        if not lines or not lines[-1].startswith("A:"):
            return None
        return lines[-1][2:].strip() or None

    def groups(self, problem: Problem) -> dict[str, str]:
        n = len(problem.question)
        # pairs of lengths: 3-4, 5-6, 7-8 with the defaults
        low = self.min_length + 2 * ((n - self.min_length) // 2)
        high = min(low + 1, self.max_length)
        return {"letters": f"{low}-{high}" if high > low else str(low)}

    def max_new_tokens(self, problem: Problem) -> int:
        # bytes: a line of place, letter, space and field, and newline per letter, the
        # answer line, a little slack
        return (len(problem.question) + 1) * (self.max_length + 4) + 8
