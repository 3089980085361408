"""One round of attempts: render prompts, generate, extract answers, check them.

Used three ways by the loop: on the training pool (the model's own rationales), on the
failures with the gold answer as a hint (rationalization), and on the evaluation split.
A hinted sample keeps the un-hinted prompt as its training prompt: the hint never reaches
the training set.
"""

from __future__ import annotations

from collections.abc import Sequence

from star.generation import Generator
from star.prompting import render
from star.types import Problem, Sample


def attempt(generator: Generator, task, problems: Sequence[Problem], pool, tokenizer, *,
            n: int = 1, temperature: float = 0.0, max_new_tokens: int = 256, hint: bool = False,
            seed: int = 0, desc: str = "generate") -> list[Sample]:
    """`n` samples per problem, checked against the gold answer, in problem order."""
    if not problems:
        return []
    train_prompts = [render(task.prompt(p), tokenizer) for p in problems]
    prompts = [render(task.prompt(p, hint=p.answer), tokenizer) for p in problems] if hint else train_prompts
    budgets = [task.max_new_tokens(p) or max_new_tokens for p in problems]
    outputs = generator.generate(prompts, n=n, temperature=temperature, max_new_tokens=budgets,
                                 stop=list(task.stop), seed=seed, desc=desc)
    preds = [[task.extract_answer(c.text) for c in outs] for outs in outputs]
    verdicts = iter(pool.check(task.checker, [(p.answer, pred) for p, ps in zip(problems, preds, strict=True) for pred in ps]))
    return [
        Sample(problem_id=p.id, index=j, prompt=prompt, train_prompt=train_prompt, completion=c.text,
               pred=pred, verdict=next(verdicts),
               hinted=hint, tokens=c.tokens)
        for p, prompt, train_prompt, outs, ps in zip(problems, prompts, train_prompts, outputs, preds, strict=True)
        for j, (c, pred) in enumerate(zip(outs, ps, strict=True))
    ]
