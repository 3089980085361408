"""The contract every task config must keep, run over every `conf/task/*.yaml`.

It instantiates the task as `star run` does (small fixture files where it needs data),
loads a few problems, renders plain and hinted prompts (the hint appears only in the
hinted one, and never in the training prompt the loop saves), accepts each gold answer
and each seed rationale's answer with the task's own checker, and rejects a wrong answer.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import pytest
from task_helpers import ROOT, TASK_CONFIGS, ChatTokenizer, as_text, build_task

from star.attempts import attempt
from star.generation import Completion
from star.prompting import render
from star.tasks.base import Task
from star.types import Problem, Verdict

CHAT_TASKS = [n for n in TASK_CONFIGS if "prompt_style:" in (ROOT / "conf" / "task" / f"{n}.yaml").read_text()]


def hint_segments(plain: str, hinted: str) -> list[str]:
    """The pieces of `hinted` that `plain` lacks (what the hint added or replaced)."""
    sm = difflib.SequenceMatcher(None, plain, hinted, autojunk=False)
    return [hinted[j1:j2] for op, _, _, j1, j2 in sm.get_opcodes() if op in ("insert", "replace")]


def training_prompt(task, problem: Problem):
    """What the loop trains on: the task's `train_prompt` hook where it has one, else its prompt."""
    own = getattr(task, "train_prompt", None)
    return own(problem) if own else task.prompt(problem)


def sample_problems(task) -> list[Problem]:
    train, evals = task.load("train"), task.load("eval")
    assert train and evals, "a task needs problems in both splits"
    return train[:3] + evals[:2]


class FakeGenerator:
    def generate(self, prompts, n=1, **_):
        return [[Completion("", 0)] * n for _ in prompts]


class DirectPool:
    """Checks in this process (tests may call sympy; the loop never does)."""

    def check(self, checker, pairs: Sequence[tuple[str, str | None]], problems=None) -> list[Verdict]:
        return [checker.check(g, p) for g, p in pairs]


@pytest.mark.parametrize("name", TASK_CONFIGS)
def test_instantiates_and_loads(name: str):
    task = build_task(name)
    assert isinstance(task, Task)
    assert task.name and isinstance(task.name, str)
    assert task.description and "\n" not in task.description
    assert all(isinstance(s, str) and s for s in task.stop)
    for split in ("train", "eval"):
        problems = task.load(split)
        assert problems, split
        assert len({p.id for p in problems}) == len(problems), f"{split}: problem ids repeat"
        assert all(isinstance(p.answer, str) and p.answer for p in problems)
        assert task.load(split) == problems, "loading must be deterministic"
    for p in sample_problems(task):
        groups = task.groups(p)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in groups.items())
        budget = task.max_new_tokens(p)
        assert budget is None or (isinstance(budget, int) and budget > 0)


@pytest.mark.parametrize("name", TASK_CONFIGS)
def test_hint_only_in_the_hinted_prompt(name: str):
    task = build_task(name)
    for p in sample_problems(task):
        plain = as_text(task.prompt(p))
        hinted = as_text(task.prompt(p, hint=p.answer))
        assert hinted != plain
        added = [s for s in hint_segments(plain, hinted) if s.strip()]
        assert added, "the hinted prompt adds nothing"
        assert as_text(task.prompt(p)) == plain, "building a hinted prompt changed the plain one"


@pytest.mark.parametrize("name", TASK_CONFIGS)
def test_training_prompt_never_carries_the_hint(name: str):
    """Through the loop's own attempt(): a hinted sample is generated from the hinted prompt
    and saved with the plain one as its training prompt."""
    task = build_task(name)
    problems = sample_problems(task)
    tokenizer = ChatTokenizer() if getattr(task, "prompt_style", "text") == "chat" else None
    samples = attempt(FakeGenerator(), task, problems, DirectPool(), tokenizer=tokenizer, hint=True)
    assert len(samples) == len(problems)
    for p, s in zip(problems, samples, strict=True):
        assert s.hinted and s.prompt == render(task.prompt(p, hint=p.answer), tokenizer)
        assert s.train_prompt == render(training_prompt(task, p), tokenizer)
        for piece in hint_segments(s.train_prompt, s.prompt):
            if len(piece.strip()) >= 3:
                assert piece not in s.train_prompt


@pytest.mark.parametrize("name", TASK_CONFIGS)
def test_checker_accepts_gold_and_rejects_a_wrong_answer(name: str):
    task = build_task(name)
    problems = task.load("train") + task.load("eval")
    for p in problems[:5]:
        assert task.checker.check(p.answer, p.answer) is Verdict.CORRECT, p
        wrong = next((q.answer for q in problems if q.answer != p.answer), None)
        assert wrong is not None, "the fixture needs at least two different answers"
        assert task.checker.check(p.answer, wrong) is Verdict.INCORRECT, (p, wrong)
        assert task.checker.check(p.answer, None) is Verdict.INCORRECT


@pytest.mark.parametrize("name", TASK_CONFIGS)
def test_seed_rationales_state_their_gold_and_are_not_in_their_prompt(name: str):
    task = build_task(name)
    seeds = task.seed_rationales()
    for p, completion in seeds[:20]:
        pred = task.extract_answer(completion)
        assert pred is not None, completion
        assert task.checker.check(p.answer, pred) is Verdict.CORRECT, (p, completion)
        assert completion.strip() not in as_text(task.prompt(p)), "an exemplar is shown in its own prompt"


@pytest.mark.parametrize("name", TASK_CONFIGS)
def test_a_task_that_checks_its_steps_finds_its_worked_rationales_faithful(name: str):
    """check_steps (star.process) is optional; where a task has it, its own worked
    rationales pass it, and a rationale of another problem does not."""
    task = build_task(name)
    if not callable(getattr(task, "check_steps", None)):
        pytest.skip(f"{name} does not check its steps")
    seeds = task.seed_rationales()[:20]
    for p, completion in seeds:
        steps = task.check_steps(p, completion)
        assert steps and all(steps), (p, completion, steps)
    (p, _), (_, other) = seeds[0], next(s for s in seeds if s[0].answer != seeds[0][0].answer)
    assert task.check_steps(p, other) is None or not all(task.check_steps(p, other))


@pytest.mark.parametrize("name", CHAT_TASKS)
def test_chat_style(name: str):
    """The same task renders chat messages (system prompt, instruction, few-shot turns)."""
    task = build_task(name, "task.prompt_style=chat", "task.system_prompt=Be brief.")
    p = task.load("train")[0]
    messages = task.prompt(p)
    assert isinstance(messages, list) and messages[0] == {"role": "system", "content": "Be brief."}
    roles = [m["role"] for m in messages[1:]]
    assert roles[-1] == "user" and roles == ["user", "assistant"] * (len(roles) // 2) + ["user"]
    hinted = task.prompt(p, hint=p.answer)
    assert hinted[:-1] != messages[:-1] or hinted[-1] != messages[-1]
    samples = attempt(FakeGenerator(), task, [p], DirectPool(), tokenizer=ChatTokenizer(), hint=True)
    assert samples[0].train_prompt == ChatTokenizer().apply_chat_template(training_prompt(task, p))
    assert samples[0].prompt != samples[0].train_prompt
