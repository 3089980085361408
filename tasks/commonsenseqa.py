"""CommonsenseQA: five-way multiple-choice questions on everyday knowledge (Talmor et al., 2019).

The default field mapping fits the official files (`{"answerKey", "id", "question":
{"stem", "question_concept", "choices": [{"label", "text"}]}}`) and also the Hugging Face
copy (`"question"` a string, `"choices": {"label": [...], "text": [...]}`). The question
shows the choices as `(A) text` lines; a completion reasons briefly and ends with
`The answer is (B).`; the checker is `choice` (a hedge such as "A or B" is wrong).

The hint for rationalization marks the correct choice, as in the STaR paper: `(B) bank
(CORRECT)`. The data carry no difficulty, so there are no groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from star.tasks.benchmark import Benchmark
from star.tasks.data import BadRowError, text
from star.tasks.fewshot import Shot
from star.types import Problem


def _shot(i: int, stem: str, choices: str, answer: str, reason: str) -> Shot:
    labelled = [[label, t] for label, t in zip("ABCDE", choices.split("|"), strict=True)]
    return Shot(Problem(id=f"commonsenseqa-exemplar-{i}", question=stem, answer=answer,
                        meta={"choices": labelled}),
                f"{reason} The answer is ({answer}).")


# Written for this project (not taken from CommonsenseQA, papers or other projects).
EXEMPLARS = (
    _shot(1, "Where would you keep milk so that it stays cold?",
          "cupboard|refrigerator|mailbox|oven|backpack", "B",
          "Milk spoils when it gets warm, and a refrigerator is the appliance made to keep food cold."),
    _shot(2, "Someone who wants to learn about life long ago might visit a what?",
          "museum|gas station|car wash|dentist|stadium", "A",
          "A museum shows objects and records from the past; the other places have nothing to do "
          "with history."),
    _shot(3, "If you drop a glass on a stone floor, what will probably happen to it?",
          "float|grow|melt|shatter|sing", "D",
          "Glass is brittle, so a hard impact breaks it into pieces."),
    _shot(4, "What would you use to look at something that is very far away?",
          "microscope|spoon|hand mirror|blanket|telescope", "E",
          "A microscope shows tiny things up close, while a telescope makes distant things look "
          "nearer."),
    _shot(5, "The children were excited to build a snowman. What season was it?",
          "summer|spring|winter|autumn|monsoon", "C",
          "Snow that stays on the ground long enough for a snowman usually falls in winter."),
    _shot(6, "Why might someone put on a heavy coat before going outside?",
          "to feel warm|to swim faster|to cook dinner|to hear better|to fall asleep", "A",
          "A heavy coat holds in body heat, which matters when it is cold outside."),
    _shot(7, "Where would a traveler wait to board a plane?",
          "harbor|airport|bakery|library|farm", "B",
          "Planes take off from airports, and passengers wait at the gate before boarding."),
)


@dataclass
class CommonsenseQA(Benchmark):
    """CommonsenseQA questions; `task.data_files` points at the JSONL files."""

    labels: str = "ABCDE"  # the option labels the checker reads
    num_fewshot: int = 7
    name: str = "commonsenseqa"
    description: str = "CommonsenseQA five-way multiple choice; the hint marks the correct choice"
    stop: Sequence[str] = ("\nQuestion:",)

    FIELDS: ClassVar[dict[str, Any]] = {
        "question": ["question.stem", "question"], "choices": ["question.choices", "choices"],
        "answer": "answerKey", "id": "id",
    }
    REQUIRED: ClassVar[tuple[str, ...]] = ("question", "choices", "answer")
    EXEMPLARS: ClassVar[tuple[Shot, ...]] = EXEMPLARS
    CHECKER: ClassVar[str] = "choice"
    EXTRACT: ClassVar[tuple[str, ...]] = ("answer_is", "boxed")
    INSTRUCTION: ClassVar[str] = ("Answer the multiple-choice question. Reason briefly, then end with "
                                  "\"The answer is (X).\" where X is the letter of the best choice.")

    def checker_options(self) -> dict[str, Any]:
        return {"labels": self.labels}

    def parse(self, values: dict[str, Any], pid: str) -> Problem:
        stem = text(values["question"], "question")
        choices = _choices(values["choices"])
        labels = [label for label, _ in choices]
        answer = text(values["answer"], "answer").upper()
        if len(set(labels)) != len(labels):
            raise BadRowError(f"repeated choice labels {labels}")
        if any(label not in self.labels for label in labels):
            raise BadRowError(f"choice labels {labels} are not all among task.labels={self.labels!r}")
        if answer not in labels:
            raise BadRowError(f"answer {answer!r} is not one of the choice labels {labels}")
        return Problem(id=pid, question=stem, answer=answer, meta={"choices": choices})

    def parse_unlabeled(self, values: dict[str, Any], pid: str) -> Problem:
        return self.parse({**values, "answer": _choices(values["choices"])[0][0]}, pid)

    def question_text(self, problem: Problem, hint: str | None = None) -> str:
        # The hint marks the correct choice in place, as the STaR paper did for CommonsenseQA.
        lines = [f"({label}) {t}{' (CORRECT)' if label == hint else ''}" for label, t in problem.meta["choices"]]
        return "\n".join([problem.question, "Choices:", *lines])


def _choices(value: Any) -> list[list[str]]:
    """[[label, text], ...] from [{"label", "text"}, ...] or {"label": [...], "text": [...]}."""
    if isinstance(value, Mapping) and isinstance(value.get("label"), list) and isinstance(value.get("text"), list):
        if len(value["label"]) != len(value["text"]):
            raise BadRowError("choices have different numbers of labels and texts")
        value = [{"label": a, "text": b} for a, b in zip(value["label"], value["text"], strict=True)]
    if not isinstance(value, list) or len(value) < 2:
        raise BadRowError("choices should be a list of at least two {label, text} objects")
    out = []
    for c in value:
        if not isinstance(c, Mapping) or "label" not in c or "text" not in c:
            raise BadRowError(f"a choice should be a {{label, text}} object, got {c!r:.60}")
        out.append([text(c["label"], "choices.label").upper(), text(c["text"], "choices.text")])
    return out
