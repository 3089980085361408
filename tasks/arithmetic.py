"""n-digit addition with a column-by-column scratchpad: the STaR paper's toy task.

Problems are generated from a seed, so the task needs no data files. The prompt writes
each digit with an index hint, a letter naming its place (Zhou et al. 2023, "What
algorithms can transformers learn?"): lowercase for the first operand, uppercase for the
second, so 624+257 reads `6c2b4a+2C5B7A`. A small model can then look digits up by
content instead of counting positions, which a 1M-parameter model learns in minutes.
The scratchpad adds one column per line, right to left (digits, carry in, two-digit
sum), and keeps the result so far right-aligned in a fixed-width field, so that every
line copies the line above at a fixed offset; the last line is the answer:

    a4+A7+0=11      1
    b2+B5+1=08     81
    c6+C2+0=08    881
    A:   881

The difficulty group is the number of digits of the longer operand.

Splits: `train` (the STaR pool), `eval` and `validation` (for tuning, so that the reported
eval set is not the one settings were chosen on; the eval digit counts, `validation_size`
problems), each drawn from its own stream of `seed`, and the cold-start seeds. Where a
digit count has room, eval questions are unique and appear in no other split, and
validation questions in none at all; there are only 100 sums of two 1-digit numbers, so
that group repeats questions across splits, and each eval and validation problem says
whether it is held out (`meta["held_out"]`, tasks/splits.py). The hint (for
rationalization) is the gold answer, its digits tagged with places p, q, r, ..., written
before the question so that the question keeps its distance to the scratchpad:
`(8r8q1p) 6c2b4a+2C5B7A`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from star.checkers import Checker, get_checker
from star.tasks.splits import mark_held_out, unique_fits
from star.types import Problem

LOWER, UPPER, HINT = "abcdefghij", "ABCDEFGHIJ", "pqrstuvwxy"
MAX_DIGITS = len(LOWER)


def tagged(number: str, letters: str) -> str:
    """'624' -> '6c2b4a': each digit followed by the letter of its place."""
    return "".join(d + letters[len(number) - 1 - i] for i, d in enumerate(number))


def scratchpad(a: int, b: int, width: int, style: str = "classic") -> str:
    """The worked rationale and final answer for a+b, result field `width` characters wide.
    style=lookup writes each column's units digit after that column's hint letter
    (`a4+A7+0=1p1`), where an induction head can copy it from a hint `(r8q8p1)`."""
    xs, ys = str(a)[::-1], str(b)[::-1]
    lines, carry, i, done = [], 0, 0, ""
    while i < max(len(xs), len(ys)) or carry:
        x = int(xs[i]) if i < len(xs) else 0
        y = int(ys[i]) if i < len(ys) else 0
        s = x + y + carry
        done = str(s % 10) + done
        total = f"{s // 10}{HINT[i]}{s % 10}" if style == "lookup" else f"{s:02d}"
        lines.append(f"{LOWER[i]}{x}+{UPPER[i]}{y}+{carry}={total} {done:>{width}}")
        carry, i = s // 10, i + 1
    return "\n".join(lines) + f"\nA:{a + b:>{width}}"


def _column(line: str, i: int, x: int, y: int, carry: int, total: int, done: str, style: str) -> bool:
    """Is `line` column i's scratchpad line, right in every part (see Arithmetic.check_steps)?"""
    m = re.fullmatch(r"([a-j])(\d)\+([A-J])(\d)\+(\d)=(\d)([p-y]?)(\d)\s+(\d+)", line.strip())
    if m is None:
        return False
    low, gx, up, gy, gc, tens, tag, units, so_far = m.groups()
    return (low == LOWER[i] and up == UPPER[i] and (int(gx), int(gy), int(gc)) == (x, y, carry)
            and (int(tens), int(units)) == divmod(total, 10) and so_far == done
            and tag == (HINT[i] if style == "lookup" else ""))


def hint_tags(number: str) -> str:
    """'881' -> 'r8q8p1': each answer digit after the letter of its place (style=lookup)."""
    return "".join(HINT[len(number) - 1 - i] + d for i, d in enumerate(number))


@dataclass
class Arithmetic:
    """Addition of two numbers of 1..10 digits.

    `train_digits`/`eval_digits` are the digit counts in the STaR training pool and the
    held-out set (equal shares; the validation split has the eval digit counts and
    `validation_size` problems, None: as many as eval); `seed_examples[d - 1]` is how many
    worked examples of d digits the cold start gets: few of the longest, so that STaR has
    a frontier to push.
    """

    train_size: int = 1000
    eval_size: int = 400
    validation_size: int | None = None
    # A fresh eval set for re-measuring finished runs: eval drawn from its own stream, around
    # every other split (pool, seeds, the original eval and validation); the pool and the
    # seeds stay as they are, so a run's models are the same (`star eval RUN task.eval_seed=1`).
    eval_seed: int | None = None
    train_digits: Sequence[int] = (2, 3)
    eval_digits: Sequence[int] = (2, 3)
    seed_examples: Sequence[int] = (200, 600, 200)
    seed: int = 1234
    style: str = "classic"  # classic | lookup (hint digits after their place letters, see `scratchpad`)
    name: str = "arithmetic"
    description: str = "n-digit addition with a column-by-column scratchpad (STaR's toy task)"
    stop: Sequence[str] = ()
    checker: Checker = field(default_factory=lambda: get_checker("numeric"))

    def __post_init__(self) -> None:
        self.train_digits = tuple(int(d) for d in self.train_digits)
        self.eval_digits = tuple(int(d) for d in self.eval_digits)
        self.seed_examples = tuple(int(n) for n in self.seed_examples)
        if self.style not in ("classic", "lookup"):
            raise ValueError(f"task.style={self.style!r} is not one of classic, lookup")
        seed_digits = tuple(d for d, n in enumerate(self.seed_examples, 1) if n > 0)
        for key, digits in (("train_digits", self.train_digits), ("eval_digits", self.eval_digits),
                            ("seed_examples", seed_digits)):
            if not digits or min(digits) < 1 or max(digits) > MAX_DIGITS:
                raise ValueError(f"task.{key}: digit counts must lie in 1..{MAX_DIGITS}, got {list(digits)}")
        # The result field fits the longest sum any split can ask for.
        self.width = max(*self.train_digits, *self.eval_digits, *seed_digits) + 1

    # -- data ---------------------------------------------------------------------------
    def _draw(self, rng: random.Random, digits: int) -> tuple[int, int]:
        low = 10 ** (digits - 1) if digits > 1 else 0
        return rng.randrange(low, 10**digits), rng.randrange(low, 10**digits)

    def _split(self, name: str, sizes: Sequence[tuple[int, int]], exclude: set[str]) -> list[Problem]:
        """Problems with `count` of each digit count, unique within the split and absent from
        `exclude`, except where the digit count has too few problems (`unique_fits`)."""
        rng = random.Random(f"{self.seed}/{name}")
        out: list[Problem] = []
        for digits, count in sizes:
            seen: set[str] = set()
            size = (10**digits - (10 ** (digits - 1) if digits > 1 else 0)) ** 2
            unique = unique_fits(count, size, sum(len(q.split("+")[0]) == digits for q in exclude))
            while count > 0:
                a, b = self._draw(rng, digits)
                q = f"{a}+{b}"
                if unique and (q in seen or q in exclude):
                    continue
                seen.add(q)
                out.append(Problem(id=f"{name}-{len(out):05d}", question=q, answer=str(a + b),
                                   meta={"digits": digits}))
                count -= 1
        return out

    @staticmethod
    def _shares(total: int, digits: Sequence[int]) -> list[tuple[int, int]]:
        return [(d, total // len(digits) + (i < total % len(digits))) for i, d in enumerate(digits)]

    def _splits(self) -> tuple[list[Problem], list[Problem], list[Problem]]:
        """(eval, train, seeds), unmarked: eval first, the others drawn around its questions."""
        evals = self._split("eval", self._shares(self.eval_size, self.eval_digits), set())
        questions = {p.question for p in evals}
        train = self._split("train", self._shares(self.train_size, self.train_digits), questions)
        seeds = self._split("seed", list(enumerate(self.seed_examples, 1)), questions)
        return evals, train, seeds

    def load(self, split: str) -> list[Problem]:
        evals, train, seeds = self._splits()
        if split == "train":
            return train
        used = {p.question for p in train + seeds}
        if split == "eval" and self.eval_seed is None:
            return mark_held_out(evals, used)
        if split == "eval":
            used |= {p.question for p in evals + self.load("validation")}
            fresh = self._split(f"eval-{self.eval_seed}", self._shares(self.eval_size, self.eval_digits), used)
            return mark_held_out(fresh, used)
        if split == "validation":
            size = self.eval_size if self.validation_size is None else self.validation_size
            if size <= 0:
                raise ValueError(f"arithmetic: task.validation_size={size}: the validation split is empty")
            used |= {p.question for p in evals}
            return mark_held_out(self._split("validation", self._shares(size, self.eval_digits), used), used)
        raise ValueError(f"arithmetic: unknown split {split!r} (expected 'train', 'eval' or 'validation')")

    def seed_rationales(self) -> list[tuple[Problem, str]]:
        return [(p, self.solve(p)) for p in self._splits()[2]]

    def solve(self, problem: Problem) -> str:
        a, b = problem.question.split("+")
        return scratchpad(int(a), int(b), self.width, self.style)

    # -- prompting ----------------------------------------------------------------------
    def prompt(self, problem: Problem, hint: str | None = None) -> str:
        a, b = problem.question.split("+")
        question = f"{tagged(a, LOWER)}+{tagged(b, UPPER)}\n"
        if hint is None:
            return question
        # The hint's digits carry their own place letters, so the model can look up the
        # digit a column should produce, as it looks up the operands' digits.
        if not hint.isdigit():
            return f"({hint}) {question}"
        return f"({hint_tags(hint) if self.style == 'lookup' else tagged(hint, HINT)}) {question}"

    def extract_answer(self, completion: str) -> str | None:
        lines = completion.strip().splitlines()
        if not lines or not lines[-1].startswith("A:"):
            return None
        return lines[-1][2:].strip() or None

    def groups(self, problem: Problem) -> dict[str, str]:
        return {"digits": str(problem.meta["digits"])}

    def check_steps(self, problem: Problem, completion: str) -> list[bool]:
        """One verdict per scratchpad line, then one for the answer line (star.process): a
        column line is right when it names its column's places, reads the operands' digits
        of that column (0 beyond a number's length), carries in the previous column's carry,
        adds them correctly and keeps the result so far; the answer line must state that
        result. Missing and extra lines are false steps, so a rationale that reaches the
        (hinted) answer through a misread scratchpad is caught."""
        a, b = problem.question.split("+")
        xs, ys = a[::-1], b[::-1]
        lines = completion.strip().splitlines()
        body, answer = (lines[:-1], lines[-1]) if lines and lines[-1].startswith("A:") else (lines, None)
        verdicts, carry, done, i = [], 0, "", 0
        while i < max(len(xs), len(ys)) or carry:
            x, y = int(xs[i]) if i < len(xs) else 0, int(ys[i]) if i < len(ys) else 0
            total = x + y + carry
            done = str(total % 10) + done
            verdicts.append(i < len(body) and _column(body[i], i, x, y, carry, total, done, self.style))
            carry, i = total // 10, i + 1
        verdicts += [False] * (len(body) - i)  # lines past the last column
        verdicts.append(answer is not None and answer[2:].strip() == done)
        return verdicts

    def max_new_tokens(self, problem: Problem) -> int:
        # d + 1 lines of (11 + width + 1) characters, one token each, plus the answer line
        # and EOS; a little slack and no more: a few runaway outputs would dominate.
        d = int(problem.meta["digits"])
        return (d + 1) * (self.width + 12 + (self.style == "lookup")) + self.width + 8
