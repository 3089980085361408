"""One round of attempts: render prompts, generate, extract answers, check them.

Used three ways by the loop: on the training pool (the model's own rationales), on the
failures with the gold answer as a hint (rationalization), and on the evaluation split.
A hinted sample keeps the un-hinted prompt as its training prompt: the hint never reaches
the training set. The training prompt is the task's `train_prompt(problem)` where it has
one (a few-shot task drops its exemplars there: the STaR paper trains on question and
rationale alone), else `prompt(problem)`.

The model that generates need not be the model that trains on the samples (distillation,
`loop.teacher`): the prompt the generator sees is rendered with its own tokenizer, and the
training prompt with the trainee's (`train_tokenizer`), so a chat prompt trains under the
student's chat template, not the teacher's. Completions are text: the student tokenizes
them itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from star.generation import Generator
from star.prompting import render
from star.types import Problem, Sample, Verdict


def attempt(generator: Generator, task, problems: Sequence[Problem], pool, tokenizer, *,
            n: int = 1, temperature: float = 0.0, max_new_tokens: int = 256, hint: bool = False,
            seed: int = 0, desc: str = "generate", check: bool = True,
            train_tokenizer=None) -> list[Sample]:
    """`n` samples per problem, checked against the gold answer, in problem order. With
    `check=False` nothing is judged (every verdict UNVERIFIABLE until someone judges it:
    majority labels, which must not see a gold answer). `train_tokenizer` renders the
    training prompts (default: `tokenizer`, the generating model's)."""
    if not problems:
        return []
    own = getattr(task, "train_prompt", None)
    trainee = tokenizer if train_tokenizer is None else train_tokenizer
    train_prompts = [render(own(p) if own else task.prompt(p), trainee) for p in problems]
    prompts = ([render(task.prompt(p, hint=p.answer), tokenizer) for p in problems] if hint
               else [render(task.prompt(p), tokenizer) for p in problems] if own or trainee is not tokenizer
               else train_prompts)
    budgets = [task.max_new_tokens(p) or max_new_tokens for p in problems]
    outputs = generator.generate(prompts, n=n, temperature=temperature, max_new_tokens=budgets,
                                 stop=list(task.stop), seed=seed, desc=desc)
    preds = [[task.extract_answer(c.text) for c in outs] for outs in outputs]
    pairs = [(p.answer, pred) for p, ps in zip(problems, preds, strict=True) for pred in ps]
    # A checker that judges with the problem (uses_problem: a countdown's numbers) gets it beside each pair.
    owners = [p for p, ps in zip(problems, preds, strict=True) for _ in ps]
    verdicts = iter(pool.check(task.checker, pairs, owners) if check else [Verdict.UNVERIFIABLE] * len(pairs))
    return [
        Sample(problem_id=p.id, index=j, prompt=prompt, train_prompt=train_prompt, completion=c.text,
               pred=pred, verdict=next(verdicts),
               hinted=hint, tokens=c.tokens)
        for p, prompt, train_prompt, outs, ps in zip(problems, prompts, train_prompts, outputs, preds, strict=True)
        for j, (c, pred) in enumerate(zip(outs, ps, strict=True))
    ]
