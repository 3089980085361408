"""Few-shot prompts in two styles: plain text for base models, chat messages for instruct models.

The same worked exemplars feed both. In text style they become `Question: ... / Answer: ...`
blocks followed by the question and an open `Answer:` (the model continues after it, and
a stop string ends the answer before it writes the next question). In chat style each
exemplar is a user turn and an assistant turn (few-shot as multi-turn), the question is
the last user turn, and star.prompting renders the messages with the model's own chat
template. An optional system prompt and answer-format instruction go where each style
expects them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from star.types import Problem

STYLES = ("text", "chat")
Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Shot:
    """A worked exemplar: a problem and the completion a model should write for it (the
    rationale, ending in the task's answer format)."""

    problem: Problem
    rationale: str


@dataclass(frozen=True)
class Labels:
    """The words that open the question and the answer in text style."""

    question: str = "Question:"
    answer: str = "Answer:"


def build_prompt(style: str, shots: Sequence[tuple[str, str]], question: str, *, labels: Labels = Labels(),
                 system: str | None = None, instruction: str | None = None) -> str | Messages:
    """The prompt for `question` after the (question, rationale) `shots`."""
    if style == "text":
        head = [s for s in (system, instruction) if s]
        blocks = [f"{labels.question} {q}\n{labels.answer} {r}" for q, r in shots]
        return "\n\n".join([*head, *blocks, f"{labels.question} {question}\n{labels.answer}"])
    if style == "chat":
        def user(q: str) -> dict[str, str]:
            # The instruction rides with every question, so each turn reads the same.
            return {"role": "user", "content": f"{instruction}\n\n{q}" if instruction else q}

        messages: Messages = [{"role": "system", "content": system}] if system else []
        for q, r in shots:
            messages += [user(q), {"role": "assistant", "content": r}]
        return [*messages, user(question)]
    raise ValueError(f"task.prompt_style={style!r} is not one of {', '.join(STYLES)}")


def completion_for(style: str, rationale: str) -> str:
    """What the model writes after the prompt: in text style a space follows `Answer:`."""
    return f" {rationale}" if style == "text" else rationale
