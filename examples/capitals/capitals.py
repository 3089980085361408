"""Capital cities: a question-answer task over your own JSONL file, built on star's Benchmark.

`Benchmark` (star/tasks/benchmark.py) brings the data knobs (`data_files` or a hub
`dataset`, `fields`, `on_bad_row`, train/eval division by `seed`, `train_size`) and text or
chat prompting with few-shot exemplars; a task fills in its field mapping, a row parser,
how a question (and its hint) reads, exemplars and a checker:

    PYTHONPATH=examples/capitals star task-check --config-dir examples/capitals/conf task=capitals
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from star.tasks.benchmark import Benchmark
from star.tasks.data import text
from star.tasks.fewshot import Shot
from star.types import Problem


@dataclass
class Capitals(Benchmark):
    num_fewshot: int = 2
    name: str = "capitals"
    description: str = "name the capital city of a country (a task over your own JSONL file)"
    stop: Sequence[str] = ("\nQuestion:",)

    FIELDS: ClassVar[dict[str, Any]] = {"question": "country", "answer": "capital"}
    CHECKER: ClassVar[str] = "exact"  # normalized string equality, case-insensitive
    EXEMPLARS: ClassVar[tuple[Shot, ...]] = (
        Shot(Problem("capitals-exemplar-1", "Italy", "Rome"),
             "Italy's parliament and government sit in Rome. The answer is Rome."),
        Shot(Problem("capitals-exemplar-2", "Kenya", "Nairobi"),
             "Kenya is governed from its largest city, Nairobi. The answer is Nairobi."),
    )
    INSTRUCTION: ClassVar[str] = "Answer in one sentence, ending with \"The answer is <city>.\""

    def parse(self, values: dict[str, Any], pid: str) -> Problem:
        return Problem(id=pid, question=text(values["question"], "country"), answer=text(values["answer"], "capital"))

    def question_text(self, problem: Problem, hint: str | None = None) -> str:
        question = f"What is the capital of {problem.question}?"
        return question if hint is None else f"{question} (Hint: the answer is {hint}.)"
