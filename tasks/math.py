"""MATH: competition problems with LaTeX answers in `\\boxed{}` (Hendrycks et al., 2021).

The default field mapping fits MATH-500 (`{"problem", "solution", "answer", "subject",
"level", "unique_id"}`, the 500-problem test subset used by PRM800K and most reasoning
papers) and also the original MATH files (`"type"` for the subject, `"Level 3"` for the
level, no `answer` field: the gold answer is then the last `\\boxed{}` of the solution).
Completions are LaTeX solutions ending in `\\boxed{answer}`; the checker is `math`
(sympy-verified, in the run's worker pool). Difficulty groups: level (1-5) and subject.
The hint for rationalization is the final answer only. `seed_size` > 0 adds training rows'
reference solutions to the cold-start rationales.

Raise `generator.max_new_tokens` for this task (solutions run to several hundred tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from star.checkers.extract import last_boxed
from star.tasks.benchmark import Benchmark
from star.tasks.data import BadRowError, text
from star.tasks.fewshot import Labels, Shot
from star.types import Problem


def _shot(i: int, question: str, solution: str, answer: str) -> Shot:
    return Shot(Problem(id=f"math-exemplar-{i}", question=question, answer=answer), solution)


# Written for this project (not taken from MATH, papers or other projects).
EXEMPLARS = (
    _shot(1, "Find the sum of all values of $x$ such that $x^2 - 7x + 10 = 0$.",
          "The quadratic factors as $(x - 2)(x - 5) = 0$, so its roots are $x = 2$ and $x = 5$. "
          "Their sum is $2 + 5 = \\boxed{7}$.", "7"),
    _shot(2, "What is the remainder when $3^{20}$ is divided by $7$?",
          "Since $7$ is prime and does not divide $3$, Fermat's little theorem gives "
          "$3^6 \\equiv 1 \\pmod 7$. As $20 = 3 \\cdot 6 + 2$, we get $3^{20} \\equiv 3^2 = 9 "
          "\\equiv 2 \\pmod 7$. The remainder is $\\boxed{2}$.", "2"),
    _shot(3, "Two fair six-sided dice are rolled. What is the probability that the numbers shown "
             "add up to $9$? Express your answer as a common fraction.",
          "There are $6 \\cdot 6 = 36$ equally likely outcomes. The sum is $9$ for $(3,6)$, $(4,5)$, "
          "$(5,4)$ and $(6,3)$, which is $4$ outcomes. The probability is "
          "$\\frac{4}{36} = \\boxed{\\frac{1}{9}}$.", "\\frac{1}{9}"),
    _shot(4, "Simplify $\\sqrt{50} + \\sqrt{18}$.",
          "We have $\\sqrt{50} = \\sqrt{25 \\cdot 2} = 5\\sqrt{2}$ and $\\sqrt{18} = \\sqrt{9 \\cdot 2} "
          "= 3\\sqrt{2}$. Their sum is $5\\sqrt{2} + 3\\sqrt{2} = \\boxed{8\\sqrt{2}}$.", "8\\sqrt{2}"),
)


@dataclass
class MATH(Benchmark):
    """MATH(-500) problems; `task.data_files` points at the JSONL files."""

    num_fewshot: int = 4
    name: str = "math"
    description: str = "MATH competition problems, LaTeX answers in \\boxed{}, by level and subject"
    stop: Sequence[str] = ("\nProblem:",)

    FIELDS: ClassVar[dict[str, Any]] = {
        "question": ["problem", "question"], "answer": "answer", "solution": "solution",
        "level": "level", "subject": ["subject", "type"], "id": "unique_id",
    }
    REQUIRED: ClassVar[tuple[str, ...]] = ("question",)
    EXEMPLARS: ClassVar[tuple[Shot, ...]] = EXEMPLARS
    LABELS: ClassVar[Labels] = Labels("Problem:", "Solution:")
    CHECKER: ClassVar[str] = "math"
    # `level` and `subject` come with the problem (the data set's labels), not read off the
    # gold answer or solution: a label-free run may group by them. Only the solution is gold.
    gold_meta: ClassVar[tuple[str, ...]] = ("solution",)
    EXTRACT: ClassVar[tuple[str, ...]] = ("boxed",)  # the published format; see docs/ADDING_A_TASK.md
    INSTRUCTION: ClassVar[str] = "Solve the problem step by step. Put the final answer in \\boxed{}."

    def parse(self, values: dict[str, Any], pid: str) -> Problem:
        question = text(values["question"], "question")
        solution = text(values["solution"], "solution") if "solution" in values else None
        if "answer" in values:
            gold = text(values["answer"], "answer")
        else:  # the original MATH files: the answer is the solution's last box
            boxed = last_boxed(solution) if solution else None
            if not boxed or not boxed[1]:
                raise BadRowError("no `answer` field and no \\boxed{} answer in the solution")
            gold = boxed[1]
        meta: dict[str, Any] = {}
        if solution:
            meta["solution"] = solution
        if "level" in values:
            meta["level"] = text(values["level"], "level").removeprefix("Level ").strip()
        if "subject" in values:
            meta["subject"] = text(values["subject"], "subject")
        return Problem(id=pid, question=question, answer=gold, meta=meta)

    def question_text(self, problem: Problem, hint: str | None = None) -> str:
        return problem.question if hint is None else f"{problem.question}\nHint: the final answer is ${hint}$."

    def groups(self, problem: Problem) -> dict[str, str]:
        return {k: str(problem.meta[k]) for k in ("level", "subject") if k in problem.meta}

    def rationale_from_solution(self, problem: Problem) -> str | None:
        solution = problem.meta.get("solution")
        return solution if solution and last_boxed(solution) else None
