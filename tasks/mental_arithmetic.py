"""Addition answered in one line after a few worked chat turns: a task for small instruct models.

"47 + 25" -> "47 + 25 = 72. The answer is 72." No scratchpad: the rationale is the
equation itself. Problems are drawn from a seed (no data files), in difficulty groups
named by the operands' digit counts ("3+2": a 3-digit plus a 2-digit number).

Why this format: SmolLM2-135M-Instruct, shown two such exemplars as earlier chat turns,
has a foothold where STaR needs one. Its greedy few-shot accuracy with this prompt: 1+1
45/48, 2+1 27/100, 2+2 18/100, 3+1 23/100, 3+2 5/100, 3+3 0/48 (four exemplars, or
"What is a + b?" as the question: within noise of these). Worked rationales made it
worse (four exemplars each): tens and ones ("40 + 30 = 70. 8 + 6 = 14. 70 + 14 = 84. The
answer is 84.") 13/48 even on 1+1 and 2/48 on 2+2; counting up ("47 + 5: 48, 49, 50, 51,
52. The answer is 52.") never stopped counting (0/48 on 1+1).

The hint (for rationalization) follows the question as `Hint: the answer is N.`, in the
exemplars too, so that they show how a hint is used. A training example's prompt is the
question alone (`train_prompt`), as in the STaR paper.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from star.checkers import Checker, get_checker
from star.tasks.fewshot import STYLES, Shot, build_prompt, completion_for
from star.tasks.splits import mark_held_out, unique_fits
from star.types import Problem


def parse_group(name: str) -> tuple[int, int]:
    """'3+2' -> (3, 2)."""
    try:
        a, b = (int(x) for x in str(name).split("+"))
    except ValueError:
        raise ValueError(f"a digits group is written 'A+B' (e.g. '3+2'), got {name!r}") from None
    if not (1 <= a <= 9 and 1 <= b <= 9):
        raise ValueError(f"digit counts must lie in 1..9, got {name!r}")
    return a, b


def solve(a: int, b: int) -> str:
    return f"{a} + {b} = {a + b}. The answer is {a + b}."


def _shot(pid: str, a: int, b: int) -> Shot:
    return Shot(Problem(pid, f"{a} + {b}", str(a + b), {"digits": f"{len(str(a))}+{len(str(b))}"}), solve(a, b))


@dataclass
class MentalArithmetic:
    """`train_groups`/`eval_groups`: digit-count groups of the STaR pool and the held-out
    set, in equal shares; eval and train questions never overlap, nor do they repeat the
    exemplars' questions (the cold-start seeds), where a group has room (1+1 has only 100
    questions: each eval problem says whether it is held out, `meta["held_out"]`). The
    validation split (for tuning) has the eval groups and `validation_size` problems
    (None: as many as eval), none of them in another split where the group has room."""

    train_size: int = 450
    eval_size: int = 420
    validation_size: int | None = None
    train_groups: Sequence[str] = ("2+1", "2+2", "3+2")
    eval_groups: Sequence[str] = ("2+1", "2+2", "3+2")
    num_fewshot: int = 2
    prompt_style: str = "chat"  # chat (the tokenizer's template) | text (Question:/Answer: blocks)
    system_prompt: str | None = None  # null: the chat template's own default, if it has one
    instruction: str | None = None  # a line before each question; null: none
    seed: int = 1234  # problems are drawn from this seed (independent of the run seed)
    name: str = "mental_arithmetic"
    description: str = "a + b answered in one line after few-shot chat turns; groups by digit counts"
    stop: Sequence[str] = ()
    checker: Checker = field(default_factory=lambda: get_checker("numeric"))

    # Exemplars: the first num_fewshot are shown; two are what the measurements used.
    EXEMPLARS: ClassVar[tuple[Shot, ...]] = (
        _shot("exemplar-1", 25, 3), _shot("exemplar-2", 7, 6), _shot("exemplar-3", 48, 36),
        _shot("exemplar-4", 315, 27))

    def __post_init__(self) -> None:
        self.train_groups = tuple(str(g) for g in self.train_groups)
        self.eval_groups = tuple(str(g) for g in self.eval_groups)
        for key, groups in (("train_groups", self.train_groups), ("eval_groups", self.eval_groups)):
            if not groups:
                raise ValueError(f"task.{key}: at least one group, e.g. ['2+1', '2+2']")
            for g in groups:
                try:
                    parse_group(g)
                except ValueError as e:
                    raise ValueError(f"task.{key}: {e}") from None
        if self.prompt_style not in STYLES:
            raise ValueError(f"task.prompt_style={self.prompt_style!r} is not one of {', '.join(STYLES)}")
        if not 0 <= self.num_fewshot <= len(self.EXEMPLARS):
            raise ValueError(f"task.num_fewshot={self.num_fewshot}: {self.name} has {len(self.EXEMPLARS)} exemplars")
        # Text style: the answer is one line; stop before the model writes the next question.
        self.stop = tuple(self.stop) or (("\n",) if self.prompt_style == "text" else ())
        self._extractor = get_checker("numeric", extract=("answer_is",))  # anchored: no stated answer, no answer

    # -- data ---------------------------------------------------------------------------
    def _split(self, name: str, size: int, groups: Sequence[str], exclude: set[str]) -> list[Problem]:
        rng = random.Random(f"{self.seed}/{name}")
        out: list[Problem] = []
        for i, group in enumerate(groups):
            da, db = parse_group(group)
            low_a, low_b = 10 ** (da - 1) if da > 1 else 0, 10 ** (db - 1) if db > 1 else 0
            count = size // len(groups) + (i < size % len(groups))
            # Unique questions where the group is large enough (1+1 has only 100 of them).
            taken = sum(tuple(len(x) for x in q.split(" + ")) == (da, db) for q in exclude)
            unique = unique_fits(count, (10**da - low_a) * (10**db - low_b), taken)
            seen: set[str] = set()
            while count > 0:
                a, b = rng.randrange(low_a, 10**da), rng.randrange(low_b, 10**db)
                q = f"{a} + {b}"
                if unique and (q in seen or q in exclude):
                    continue
                seen.add(q)
                out.append(Problem(id=f"{name}-{len(out):05d}", question=q, answer=str(a + b),
                                   meta={"digits": group}))
                count -= 1
        return out

    def load(self, split: str) -> list[Problem]:
        shots = {s.problem.question for s in self.EXEMPLARS}
        evals = self._split("eval", self.eval_size, self.eval_groups, shots)
        train = self._split("train", self.train_size, self.train_groups, shots | {p.question for p in evals})
        if split == "train":
            return train
        used = shots | {p.question for p in train}
        if split == "eval":
            return mark_held_out(evals, used)
        if split == "validation":
            size = self.eval_size if self.validation_size is None else self.validation_size
            if size <= 0:
                raise ValueError(f"{self.name}: task.validation_size={size}: the validation split is empty")
            used |= {p.question for p in evals}
            return mark_held_out(self._split("validation", size, self.eval_groups, used), used)
        raise ValueError(f"{self.name}: unknown split {split!r} (expected 'train', 'eval' or 'validation')")

    def seed_rationales(self) -> list[tuple[Problem, str]]:
        return [(s.problem, completion_for(self.prompt_style, s.rationale)) for s in self.EXEMPLARS]

    # -- prompting ----------------------------------------------------------------------
    def question_text(self, problem: Problem, hint: str | None = None) -> str:
        return problem.question if hint is None else f"{problem.question}\nHint: the answer is {hint}."

    def prompt(self, problem: Problem, hint: str | None = None) -> str | list[dict[str, str]]:
        shots = [s for s in self.EXEMPLARS if s.problem.id != problem.id][: self.num_fewshot]
        pairs = [(self.question_text(s.problem, s.problem.answer if hint is not None else None), s.rationale)
                 for s in shots]
        return build_prompt(self.prompt_style, pairs, self.question_text(problem, hint),
                            system=self.system_prompt, instruction=self.instruction)

    def train_prompt(self, problem: Problem) -> str | list[dict[str, str]]:
        """The question alone, as the STaR paper trains (no exemplars)."""
        return build_prompt(self.prompt_style, [], self.question_text(problem), system=self.system_prompt,
                            instruction=self.instruction)

    def extract_answer(self, completion: str) -> str | None:
        return self._extractor.extract(completion)

    def groups(self, problem: Problem) -> dict[str, str]:
        return {"digits": str(problem.meta["digits"])}

    def check_steps(self, problem: Problem, completion: str) -> list[bool] | None:
        """The rationale is one equation: its operands must be the question's and its sum
        right, and the stated answer that sum (star.process). None when the completion
        writes no equation (nothing to judge: the answer checker alone decides)."""
        equations = re.findall(r"(-?\d+)\s*\+\s*(-?\d+)\s*=\s*(-?\d+)", completion)
        if not equations:
            return None
        a, b = (int(x) for x in problem.question.split(" + "))
        x, y, z = (int(v) for v in equations[0])
        answer = self.extract_answer(completion)
        return [(x, y) == (a, b) and z == x + y, answer is not None and answer == str(z)]

    def max_new_tokens(self, problem: Problem) -> int:
        # The exemplars' format in as many tokens as it has characters (a token holds at
        # least one), plus EOS and slack: a runaway completion holds its whole batch.
        a, b = (int(x) for x in problem.question.split(" + "))
        return len(solve(a, b)) + 8
