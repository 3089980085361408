"""Count how often a letter occurs in a word: a task that lives outside the star repository.

The whole plugin is this file plus `conf/task/letter_count.yaml`, whose `_target_` names
the class below. Make the module importable and put the config directory on Hydra's
search path, and every star command sees the task:

    PYTHONPATH=examples/letter_count star tasks --config-dir examples/letter_count/conf
    PYTHONPATH=examples/letter_count star task-check task=letter_count --config-dir examples/letter_count/conf
    PYTHONPATH=examples/letter_count star run task=letter_count --config-dir examples/letter_count/conf

The class implements star's Task protocol directly (star/tasks/base.py); it needs no base
class and registers nothing. Problems are generated from a seed: a word and a letter.
The worked rationale spells the word, numbering each match, then states the count:

    How many times does the letter "r" appear in "strawberry"?
    s t r(1) a w b e r(2) r(3) y
    The answer is 3.

For rationalization the hint (the gold count) comes before the question.

The (word, letter) pairs are few (447), and eval, train and the cold-start seeds take them
all, disjoint. A validation split (for tuning) therefore takes its pairs from the seeds:
`validation_size=N` moves the last N seed pairs into it (none by default, so the other
splits stay as they were).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from star.checkers import get_checker
from star.types import Problem

WORDS = (
    "apple banana cherry strawberry raspberry blueberry lemon orange melon mango papaya grape "
    "bookkeeper committee balloon coffee letter pepper mississippi tennessee parallel "
    "assessment possession success address happiness business bottle kitten puppy rabbit "
    "giraffe hippopotamus alligator elephant cheetah gorilla kangaroo penguin zebra "
    "umbrella yellow window mirror carrot tomato potato cucumber broccoli spinach "
    "river mountain desert forest island valley canyon meadow glacier volcano "
    "teacher student library pencil notebook eraser scissors marker ruler calendar"
).split()


@dataclass
class LetterCount:
    """Count a letter in a word. `train_size`/`eval_size` problems, drawn with `seed`;
    `validation_size` pairs taken from the cold-start seeds (None: no validation split)."""

    train_size: int = 200
    eval_size: int = 100
    validation_size: int | None = None
    seed: int = 0
    name: str = "letter_count"
    description: str = "count how often a letter occurs in a word (an out-of-tree example task)"
    stop: Sequence[str] = ()
    checker: Any = field(default_factory=lambda: get_checker("numeric"))

    # -- data -----------------------------------------------------------------------------
    def _pairs(self) -> list[tuple[str, str]]:
        """Every (word, letter) pair with a letter of the word, plus one absent letter per
        word (the answer 0 is worth learning too), shuffled with the seed."""
        rng = random.Random(self.seed)
        pairs = []
        for word in WORDS:
            pairs += [(word, letter) for letter in sorted(set(word))]
            pairs.append((word, rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c not in word])))
        rng.shuffle(pairs)
        return pairs

    def _problems(self, split: str) -> list[Problem]:
        pairs = self._pairs()
        # eval first, then train, then the cold-start seeds, then validation: they never overlap
        taken, validation = self.eval_size + self.train_size, self.validation_size or 0
        start, size = {"eval": (0, self.eval_size), "train": (self.eval_size, self.train_size),
                       "seed": (taken, len(pairs) - taken - validation),
                       "validation": (len(pairs) - validation, validation)}[split]
        return [Problem(id=f"{split}-{i:04d}", question=f'{word}/{letter}', answer=str(word.count(letter)),
                        meta={"held_out": True} if split in ("eval", "validation") else {})
                for i, (word, letter) in enumerate(pairs[start:start + size])]

    def load(self, split: str) -> list[Problem]:
        if split not in ("train", "eval", "validation"):
            raise ValueError(f"letter_count: unknown split {split!r} (expected 'train', 'eval' or 'validation')")
        if self.train_size + self.eval_size + (self.validation_size or 0) > len(self._pairs()):
            raise ValueError("task.train_size + task.eval_size + task.validation_size must be at most "
                             f"{len(self._pairs())}")
        if split == "validation" and not self.validation_size:
            raise ValueError("letter_count has no validation split unless task.validation_size > 0 "
                             "(that many pairs move from the cold-start seeds into it)")
        return self._problems(split)

    def seed_rationales(self) -> list[tuple[Problem, str]]:
        return [(p, self.solve(p)) for p in self._problems("seed")]

    @staticmethod
    def solve(problem: Problem) -> str:
        word, letter = problem.question.split("/")
        spelled, n = [], 0
        for c in word:
            n += c == letter
            spelled.append(f"{c}({n})" if c == letter else c)
        return f"{' '.join(spelled)}\nThe answer is {n}."

    # -- prompting ------------------------------------------------------------------------
    def prompt(self, problem: Problem, hint: str | None = None) -> str:
        word, letter = problem.question.split("/")
        question = f'How many times does the letter "{letter}" appear in "{word}"?\n'
        return question if hint is None else f"(The answer is {hint}.) {question}"

    def extract_answer(self, completion: str) -> str | None:
        return self.checker.extract(completion)

    def groups(self, problem: Problem) -> dict[str, str]:
        word = problem.question.split("/")[0]
        return {"length": "short" if len(word) <= 6 else "long"}

    def max_new_tokens(self, problem: Problem) -> int:
        # the tiny model's tokens are bytes: about 3 per letter, plus the answer line
        return 3 * len(problem.question) + 24
