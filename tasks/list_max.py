"""The largest number of a list, found with a running-maximum scratchpad: a non-arithmetic task.

Problems are generated from a seed, so the task needs no data files. The question lists
two-digit numbers; the worked rationale keeps the largest so far, one comparison per line,
and ends in the answer sentence the numeric checker reads:

    Question: 37 82 15 64
    37
    82>37 so 82
    15<82 so 82
    64<82 so 82
    The answer is 82.

The difficulty group is the length of the list (`items`). Longer lists need more
comparisons in a row without a slip, so a model that has learned the short ones has a
frontier in the long ones. The hint (for rationalization) is the answer sentence, before
the question.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from star.checkers import Checker, get_checker
from star.tasks.splits import mark_held_out
from star.types import Problem


@dataclass
class ListMax:
    """The maximum of `items` two-digit numbers; `train_items`/`eval_items` are the list
    lengths of the STaR pool and the held-out set (equal shares), `seed_examples[i]` the
    number of worked cold-start examples of length `seed_items[i]`. The validation split
    (for tuning) has the eval lengths and `validation_size` problems (None: as many as
    eval). Every split draws from its own stream of `seed`; eval questions appear in no
    other split, validation questions in none at all (`meta["held_out"]` says so)."""

    train_size: int = 1000
    eval_size: int = 400
    validation_size: int | None = None
    train_items: Sequence[int] = (4, 8)
    eval_items: Sequence[int] = (4, 8)
    seed_items: Sequence[int] = (2, 4, 8)
    seed_examples: Sequence[int] = (200, 400, 400)
    seed: int = 1234
    name: str = "list_max"
    description: str = "the largest number of a list, with a running-maximum scratchpad (generated, no data files)"
    stop: Sequence[str] = ()
    checker: Checker = field(default_factory=lambda: get_checker("numeric"))

    def __post_init__(self) -> None:
        self.train_items = tuple(int(n) for n in self.train_items)
        self.eval_items = tuple(int(n) for n in self.eval_items)
        self.seed_items = tuple(int(n) for n in self.seed_items)
        self.seed_examples = tuple(int(n) for n in self.seed_examples)
        if len(self.seed_items) != len(self.seed_examples):
            raise ValueError("task.seed_items and task.seed_examples must have the same length")
        for key, items in (("train_items", self.train_items), ("eval_items", self.eval_items),
                           ("seed_items", self.seed_items)):
            if not items or min(items) < 2 or max(items) > 20:
                raise ValueError(f"task.{key}: list lengths must lie in 2..20, got {list(items)}")
        # a completion states its answer as "The answer is N." or states none
        self._extractor = get_checker("numeric", extract=("answer_is",))

    # -- data -------------------------------------------------------------------------------
    def _split(self, name: str, sizes: Sequence[tuple[int, int]], exclude: set[str]) -> list[Problem]:
        rng = random.Random(f"{self.seed}/{name}")
        out: list[Problem] = []
        for items, count in sizes:
            seen: set[str] = set()
            while count > 0:
                numbers = [rng.randrange(10, 100) for _ in range(items)]
                q = " ".join(map(str, numbers))
                if q in seen or q in exclude:
                    continue
                seen.add(q)
                out.append(Problem(id=f"{name}-{len(out):05d}", question=q, answer=str(max(numbers)),
                                   meta={"items": items}))
                count -= 1
        return out

    @staticmethod
    def _shares(total: int, items: Sequence[int]) -> list[tuple[int, int]]:
        return [(n, total // len(items) + (i < total % len(items))) for i, n in enumerate(items)]

    def _splits(self) -> tuple[list[Problem], list[Problem], list[Problem]]:
        """(eval, train, seeds), unmarked: eval first, the others drawn around its questions."""
        evals = self._split("eval", self._shares(self.eval_size, self.eval_items), set())
        questions = {p.question for p in evals}
        train = self._split("train", self._shares(self.train_size, self.train_items), questions)
        seeds = self._split("seed", list(zip(self.seed_items, self.seed_examples, strict=True)), questions)
        return evals, train, seeds

    def load(self, split: str) -> list[Problem]:
        evals, train, seeds = self._splits()
        if split == "train":
            return train
        used = {p.question for p in train + seeds}
        if split == "eval":
            return mark_held_out(evals, used)
        if split == "validation":
            size = self.eval_size if self.validation_size is None else self.validation_size
            if size <= 0:
                raise ValueError(f"list_max: task.validation_size={size}: the validation split is empty")
            used |= {p.question for p in evals}
            return mark_held_out(self._split("validation", self._shares(size, self.eval_items), used), used)
        raise ValueError(f"list_max: unknown split {split!r} (expected 'train', 'eval' or 'validation')")

    def seed_rationales(self) -> list[tuple[Problem, str]]:
        return [(p, self.solve(p)) for p in self._splits()[2]]

    @staticmethod
    def solve(problem: Problem) -> str:
        numbers = [int(x) for x in problem.question.split()]
        best, lines = numbers[0], [str(numbers[0])]
        for n in numbers[1:]:
            lines.append(f"{n}{'>' if n > best else '<' if n < best else '='}{best} so {max(n, best)}")
            best = max(n, best)
        return "\n".join([*lines, f"The answer is {best}."])

    # -- prompting --------------------------------------------------------------------------
    def prompt(self, problem: Problem, hint: str | None = None) -> str:
        question = f"Question: {problem.question}\n"
        return question if hint is None else f"(The answer is {hint}.) {question}"

    def extract_answer(self, completion: str) -> str | None:
        return self._extractor.extract(completion)

    def groups(self, problem: Problem) -> dict[str, str]:
        return {"items": str(problem.meta["items"])}

    def check_steps(self, problem: Problem, completion: str) -> list[bool]:
        """One verdict per scratchpad line and one for the answer (star.process): the first
        line is the first number; line i compares the question's i-th number with the
        maximum so far, with the right sign, and keeps the larger (`64<82 so 82`); the answer
        is the last maximum. Missing and extra lines are false steps."""
        numbers = [int(x) for x in problem.question.split()]
        lines = [" ".join(line.split()) for line in completion.strip().splitlines()]
        body = lines[:-1] if lines and lines[-1].startswith("The answer is") else lines
        verdicts, best = [bool(body) and body[0] == str(numbers[0])], numbers[0]
        for i, n in enumerate(numbers[1:], 1):
            sign = ">" if n > best else "<" if n < best else "="
            expected, best = f"{n}{sign}{best} so {max(n, best)}", max(n, best)
            verdicts.append(i < len(body) and body[i] == expected)
        verdicts += [False] * (len(body) - len(numbers))
        answer = self.extract_answer(completion)
        verdicts.append(answer is not None and answer == str(best))
        return verdicts

    def max_new_tokens(self, problem: Problem) -> int:
        # one 10-byte line per item plus the answer sentence, and a little slack
        return 10 * int(problem.meta["items"]) + 32
