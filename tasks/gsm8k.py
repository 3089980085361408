"""GSM8K: grade-school math word problems with a numeric answer (Cobbe et al., 2021).

Rows are `{"question", "answer"}` where `answer` is a worked solution with `<<48/2=24>>`
calculator annotations, ending in a line `#### 72`; the gold answer is that number, read
as text with thousands commas removed (`#### 1,200` -> `1200`). A row whose answer is a
bare number (your own data) is also read. Completions follow the dataset's own format:
short reasoning lines, then `#### <number>`; "The answer is 72" and `\\boxed{72}` are
accepted too, and the checker is `numeric` (exact, commas and `$` ignored).

The hint for rationalization is the final number only, never the worked solution (the
original STaR code appended the dataset's whole answer field). The difficulty group is
the number of reasoning steps (lines) in the reference solution; it is read off the gold
solution, so it is gold meta (`gold_meta`): hidden with the answer under
loop.labels=majority, and a problem without it has no group. `seed_size` > 0 adds
training rows' reference solutions, annotations removed, to the cold-start rationales
(and takes those rows out of the STaR pool).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from star.tasks.benchmark import Benchmark
from star.tasks.data import BadRowError, text
from star.tasks.fewshot import Shot
from star.types import Problem

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_CALC = re.compile(r"<<[^<>]*>>")


def _shot(i: int, question: str, steps: str, answer: str) -> Shot:
    return Shot(Problem(id=f"gsm8k-exemplar-{i}", question=question, answer=answer),
                f"{steps}\n#### {answer}")


# Written for this project (not taken from GSM8K, papers or other projects).
EXEMPLARS = (
    _shot(1, "A bakery sells muffins for $3 each. On Monday it sold 14 muffins, and on Tuesday it "
             "sold twice as many. How much money did the bakery make from muffins on those two days?",
          "On Tuesday the bakery sold 14 * 2 = 28 muffins.\nOver the two days it sold 14 + 28 = 42 "
          "muffins.\nAt $3 each, that is 42 * 3 = $126.", "126"),
    _shot(2, "Leo has 45 marbles. He gives 9 to his sister and shares the rest equally among 4 "
             "friends. How many marbles does each friend get?",
          "After giving 9 away, Leo has 45 - 9 = 36 marbles.\nEach of the 4 friends gets 36 / 4 = 9 "
          "marbles.", "9"),
    _shot(3, "A train travels at 60 miles per hour for 2.5 hours, then at 40 miles per hour for 1 "
             "hour. How many miles does it travel in total?",
          "In the first part it covers 60 * 2.5 = 150 miles.\nIn the second part it covers 40 * 1 = "
          "40 miles.\nIn total it travels 150 + 40 = 190 miles.", "190"),
    _shot(4, "Maria reads 12 pages of her book on every weekday and 20 pages on each day of the "
             "weekend. How many pages does she read in one week?",
          "On the 5 weekdays she reads 5 * 12 = 60 pages.\nOn the 2 weekend days she reads 2 * 20 = "
          "40 pages.\nIn one week she reads 60 + 40 = 100 pages.", "100"),
    _shot(5, "A garden has 6 rows of tomato plants with 8 plants in each row. Each plant gives 5 "
             "tomatoes. Birds eat 30 of the tomatoes. How many tomatoes are left?",
          "The garden has 6 * 8 = 48 plants.\nThey give 48 * 5 = 240 tomatoes.\nAfter the birds, "
          "240 - 30 = 210 tomatoes are left.", "210"),
    _shot(6, "Sam buys a jacket that costs $80. It is on sale for 25% off, and he pays $4 for "
             "shipping. How much does he pay in total?",
          "The discount is 80 * 25 / 100 = $20.\nThe jacket costs 80 - 20 = $60.\nWith shipping he "
          "pays 60 + 4 = $64.", "64"),
    _shot(7, "An empty tank holds 2,400 liters of water. A pipe fills it at 20 liters per minute. "
             "How many hours does it take to fill the tank?",
          "Filling the tank takes 2400 / 20 = 120 minutes.\nThat is 120 / 60 = 2 hours.", "2"),
    _shot(8, "Nina is 4 years older than her brother. In 6 years, the sum of their ages will be "
             "40. How old is Nina now?",
          "In 6 years each of them is 6 years older, so today their ages add up to 40 - 6 - 6 = 28.\n"
          "Without Nina's extra 4 years, the two ages would be equal: 28 - 4 = 24, so her brother "
          "is 24 / 2 = 12.\nNina is 12 + 4 = 16 years old.", "16"),
)


@dataclass
class GSM8K(Benchmark):
    """GSM8K word problems; `task.data_files` points at the JSONL files."""

    num_fewshot: int = 8
    name: str = "gsm8k"
    description: str = "GSM8K grade-school math word problems, numeric answers (#### N)"
    stop: Sequence[str] = ("\nQuestion:",)

    FIELDS: ClassVar[dict[str, Any]] = {"question": "question", "answer": "answer", "id": "id"}
    EXEMPLARS: ClassVar[tuple[Shot, ...]] = EXEMPLARS
    CHECKER: ClassVar[str] = "numeric"
    # The worked solution, and its number of lines (the `steps` group): both come from the gold.
    gold_meta: ClassVar[tuple[str, ...]] = ("solution", "steps")
    INSTRUCTION: ClassVar[str] = ("Solve the problem step by step. On the last line, write \"#### \" "
                                  "followed by the final answer as a plain number.")

    def parse(self, values: dict[str, Any], pid: str) -> Problem:
        question, answer = text(values["question"], "question"), text(values["answer"], "answer")
        solution = answer if "####" in answer else None
        gold = (answer.rsplit("####", 1)[1] if solution else answer).strip().replace(",", "").rstrip(".")
        if not _NUMBER.fullmatch(gold):
            raise BadRowError(f"the answer should end in '#### <number>' or be a number, got {gold[:60]!r}")
        meta: dict[str, Any] = {}
        if solution:
            meta = {"solution": solution, "steps": len([s for s in solution.rsplit("####", 1)[0].splitlines()
                                                        if s.strip()])}
        return Problem(id=pid, question=question, answer=gold, meta=meta)

    def question_text(self, problem: Problem, hint: str | None = None) -> str:
        # The hint is the final number only: the worked solution would do the reasoning for
        # the model, and the rationale it then writes would not be its own.
        return problem.question if hint is None else f"{problem.question}\nHint: the final answer is {hint}."

    def groups(self, problem: Problem) -> dict[str, str]:
        return {"steps": str(problem.meta["steps"])} if "steps" in problem.meta else {}

    def rationale_from_solution(self, problem: Problem) -> str | None:
        solution = problem.meta.get("solution")
        if not solution:
            return None
        steps, final = solution.rsplit("####", 1)
        lines = [_CALC.sub("", s).strip() for s in steps.splitlines() if s.strip()]
        return "\n".join([*lines, f"#### {final.strip()}"])
