"""Count how often a letter occurs in a word: a task that lives outside the star repository.

The whole plugin is this file plus `conf/task/letter_count.yaml`, whose `_target_` names
the class below. Make the module importable and put the config directory on Hydra's
search path, and every star command sees the task:

    PYTHONPATH=examples/letter_count star tasks --config-dir examples/letter_count/conf
    PYTHONPATH=examples/letter_count star task-check task=letter_count --config-dir examples/letter_count/conf
    PYTHONPATH=examples/letter_count star run task=letter_count --config-dir examples/letter_count/conf

The class implements star's Task protocol directly (star/tasks/base.py); it needs no base
class and registers nothing. Problems are generated from a seed: a random word of 4 to 12
letters and a letter, which occurs 0 to `max_count` times (equally often), so that no
single answer is worth guessing. The question tags each letter with its place, an
upper-case letter after it (A for the first), and the worked rationale walks the word one place a
line: the place and its letter, the letter asked for, `+` where they match (`.` where not),
and the count so far; the last line states the count:

    count "r" in sA tB rC aD wE bF eG rH rI yJ.
    As r.0
    Bt r.0
    Cr r+1
    ...
    Jy r.3
    The answer is 3.

Why this scratchpad (docs/ADDING_A_TASK.md, "Making a task learnable"): every piece of a
line is either looked up by content or computed from its neighbours. The letter at place C
is the one after `C` in the question (an induction head copies it; nothing is counted by
position), the letter asked for and the count so far sit at a fixed offset in the line
above, the mark compares two adjacent letters, and the answer line copies the last count.
The first version of this task spelled the word untagged (`s t r(1) a w b e r(2) r(3) y`),
from 70 dictionary words whose letters mostly occur once: the tiny model answered 1 to
everything after 25 cold-start steps, which met the probe's target (0.64), and never moved
(docs/figures/new_tasks.md).

For rationalization the hint is `(The answer is 3.) ` before the question: the answer line
finds its number after the same words in the hint. It cannot tell the model where the
matches are (only the count), so a hinted attempt that copies the count beside a wrong walk
is unfaithful; `check_steps` judges every line, and `train/unfaithful_hinted` counts them.

Splits: `eval` first, then `train` (the STaR pool) and the cold-start seeds around eval's
questions, then `validation` (for tuning: `eval.split=validation`) around all three, each
from a stream of its own (`random.Random(f"{seed}/{split}")`), so that a split's size moves
no other split. There are far more words than the splits take, so every eval and
validation problem is held out (`meta["held_out"]`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from star.checkers import get_checker
from star.tasks.splits import mark_held_out
from star.types import Problem

LETTERS = "abcdefghijklmnopqrstuvwxyz"
TAGS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# The difficulty groups: word lengths (the walk has one line per letter).
GROUPS = {"short": (2, 4), "medium": (5, 7), "long": (8, 10)}
ANSWER = re.compile(r"The answer is (\d+)\.?")


def tagged(word: str) -> str:
    """'straw' -> 'sA tB rC aD wE': each letter before the tag of its place."""
    return " ".join(f"{c}{TAGS[i]}" for i, c in enumerate(word))


def walk(word: str, letter: str) -> list[str]:
    """The worked rationale's lines: one per place, then the answer line."""
    lines, n = [], 0
    for i, c in enumerate(word):
        n += c == letter
        lines.append(f"{TAGS[i]}{c} {letter}{'+' if c == letter else '.'}{n}")
    return lines + [f"The answer is {n}."]


@dataclass
class LetterCount:
    """Count a letter in a word of 4-12 letters. `train_size`/`eval_size`/`validation_size`
    problems (None: as many as eval), equal shares of the length groups (short 4-6, medium
    7-9, long 10-12); `seed_examples[g]` worked examples of each group for the cold start;
    the letter occurs 0..`max_count` times, each count equally often (at most the word's
    length); drawn with `seed`."""

    train_size: int = 1000
    eval_size: int = 300
    validation_size: int | None = None
    seed_examples: Sequence[int] = (1500, 1500, 1500)
    max_count: int = 6
    seed: int = 0
    name: str = "letter_count"
    description: str = "count how often a letter occurs in a word (an out-of-tree example task)"
    stop: Sequence[str] = ()
    checker: Any = field(default_factory=lambda: get_checker("numeric"))

    def __post_init__(self) -> None:
        self.seed_examples = tuple(int(n) for n in self.seed_examples)
        if len(self.seed_examples) != len(GROUPS) or min(self.seed_examples) < 0:
            raise ValueError(f"task.seed_examples: one count per length group {list(GROUPS)}, "
                             f"got {list(self.seed_examples)}")
        if not 0 <= self.max_count <= 9:
            raise ValueError(f"task.max_count must lie in 0..9 (one digit a count), got {self.max_count}")

    # -- data -----------------------------------------------------------------------------
    @staticmethod
    def _shares(total: int) -> list[int]:
        return [total // len(GROUPS) + (i < total % len(GROUPS)) for i in range(len(GROUPS))]

    def _split(self, name: str, sizes: Sequence[int], exclude: set[str]) -> list[Problem]:
        """`sizes[g]` problems of each length group, unique and absent from `exclude`."""
        rng = random.Random(f"{self.seed}/{name}")
        out: list[Problem] = []
        seen: set[str] = set()
        for (group, (low, high)), count in zip(GROUPS.items(), sizes, strict=True):
            while count > 0:
                n = rng.randint(low, high)
                letter = rng.choice(LETTERS)
                places = set(rng.sample(range(n), min(rng.randint(0, self.max_count), n)))
                word = "".join(letter if i in places else rng.choice(LETTERS.replace(letter, ""))
                               for i in range(n))
                question = f"{word}/{letter}"
                if question in seen or question in exclude:
                    continue
                seen.add(question)
                out.append(Problem(id=f"{name}-{len(out):05d}", question=question, answer=str(len(places)),
                                   meta={"length": group}))
                count -= 1
        return out

    def _splits(self) -> tuple[list[Problem], list[Problem], list[Problem]]:
        """(eval, train, seeds), unmarked: eval first, the others drawn around its questions."""
        evals = self._split("eval", self._shares(self.eval_size), set())
        questions = {p.question for p in evals}
        return (evals, self._split("train", self._shares(self.train_size), questions),
                self._split("seed", self.seed_examples, questions))

    def load(self, split: str) -> list[Problem]:
        if split not in ("train", "eval", "validation"):
            raise ValueError(f"letter_count: unknown split {split!r} (expected 'train', 'eval' or 'validation')")
        evals, train, seeds = self._splits()
        if split == "train":
            return train
        used = {p.question for p in train + seeds}
        if split == "eval":
            return mark_held_out(evals, used)
        size = self.eval_size if self.validation_size is None else self.validation_size
        if size <= 0:
            raise ValueError(f"letter_count: task.validation_size={size}: the validation split is empty")
        used |= {p.question for p in evals}
        return mark_held_out(self._split("validation", self._shares(size), used), used)

    def seed_rationales(self) -> list[tuple[Problem, str]]:
        return [(p, self.solve(p)) for p in self._splits()[2]]

    @staticmethod
    def solve(problem: Problem) -> str:
        word, letter = problem.question.split("/")
        return "\n".join(walk(word, letter))

    def check_steps(self, problem: Problem, completion: str) -> list[bool]:
        """One verdict per place (its line names the place, reads its letter, marks a match
        and keeps the count so far), then one for the answer line; missing and extra lines
        are false steps."""
        word, letter = problem.question.split("/")
        want = walk(word, letter)
        got = [line.strip() for line in completion.strip().splitlines()]
        body, answer = (got[:-1], got[-1]) if got and ANSWER.fullmatch(got[-1]) else (got, None)
        verdicts = [i < len(body) and body[i] == ref for i, ref in enumerate(want[:-1])]
        verdicts += [False] * (len(body) - len(want) + 1)  # lines past the last place
        return verdicts + [answer is not None and answer.rstrip(".") == want[-1].rstrip(".")]

    # -- prompting ------------------------------------------------------------------------
    def prompt(self, problem: Problem, hint: str | None = None) -> str:
        word, letter = problem.question.split("/")
        question = f'count "{letter}" in {tagged(word)}.\n'
        return question if hint is None else f"(The answer is {hint}.) {question}"

    def extract_answer(self, completion: str) -> str | None:
        """The number of a last line "The answer is N."; None otherwise (a completion that
        states no answer line states no answer, whatever numbers it holds)."""
        lines = completion.strip().splitlines()
        match = ANSWER.fullmatch(lines[-1].strip()) if lines else None
        return match.group(1) if match else None

    def groups(self, problem: Problem) -> dict[str, str]:
        return {"length": problem.meta["length"]}

    def max_new_tokens(self, problem: Problem) -> int:
        # bytes: 7 a line (place, letter, space, letter, mark, count, newline), the answer
        # line (17), a little slack and no more: runaway outputs would dominate the time
        return 7 * len(problem.question.split("/")[0]) + 24
