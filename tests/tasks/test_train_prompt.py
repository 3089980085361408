"""A few-shot task generates with its exemplars but trains without them (the STaR paper
fine-tunes on question and rationale alone): through the loop's own attempt() and
filtering.select(), for plain and hinted samples, in text and chat style."""

from __future__ import annotations

import pytest
from task_helpers import ChatTokenizer, build_task

from star.attempts import attempt
from star.filtering import select
from star.generation import Completion
from star.types import Verdict


class GoldGenerator:
    """Writes a correct GSM8K-style completion for each prompt, in prompt order."""

    def __init__(self, answers):
        self.answers = answers

    def generate(self, prompts, n=1, **_):
        return [[Completion(f"Some steps.\n#### {a}", 5)] * n for a in self.answers]


class DirectPool:
    def check(self, checker, pairs, problems=None):
        return [checker.check(g, p) for g, p in pairs]


@pytest.mark.parametrize("style", ["text", "chat"])
@pytest.mark.parametrize("hint", [False, True])
def test_training_examples_carry_no_exemplars(style, hint):
    task = build_task("gsm8k", f"task.prompt_style={style}", "task.num_fewshot=2", "task.system_prompt=Be exact.")
    problems = task.load("train")[:3]
    tokenizer = ChatTokenizer() if style == "chat" else None
    samples = attempt(GoldGenerator([p.answer for p in problems]), task, problems, DirectPool(), tokenizer,
                      hint=hint)
    assert all(s.verdict is Verdict.CORRECT for s in samples)
    examples = select(samples, max_per_problem=1)
    assert len(examples) == len(problems)
    shots = [shot.rationale for shot in task.EXEMPLARS[:2]]
    for p, s, e in zip(problems, samples, examples, strict=True):
        assert all(_in(r, s.prompt) for r in shots), "the generation prompt shows the exemplars"
        assert not any(_in(r, e.prompt) for r in shots), "a training example carries an exemplar"
        assert _in(p.question, e.prompt) and "Be exact." in e.prompt  # the question, the same system prompt
        if style == "chat":
            assert _in(task.INSTRUCTION, e.prompt)  # and the same instruction
        assert "Hint" not in e.prompt and len(e.prompt) < len(s.prompt) / 2


def test_a_task_without_the_hook_trains_on_its_prompt():
    task = build_task("arithmetic")
    assert not hasattr(task, "train_prompt")
    p = task.load("train")[0]
    s = attempt(GoldGenerator([p.answer]), task, [p], DirectPool(), None)[0]
    assert s.train_prompt == s.prompt == task.prompt(p)


def _in(text: str, prompt: str) -> bool:
    """`text` in a prompt, which chat style holds JSON-escaped."""
    import json

    return text in prompt or json.dumps(text, ensure_ascii=False)[1:-1] in prompt
