"""Process reward model: step labels from rollouts, the PRM's agreement with a task's own step
check, and step-level beam search at test time. The PRM itself (training, storage, key,
resume, scoring) is an objective of star.verifiers (`verifier.objective=prm`): this module
makes its data and uses it; `star verifier` and `star eval --beam-search` call it.

Labels, Math-Shepherd style (Wang et al. 2024, arXiv 2312.08935): a training problem's
checked completions (the run's own samples of the chosen iterations, training problems
only, under their training prompts: verifiers.candidates) are cut into steps
(verifiers.split_steps at the task's delimiter). From every step prefix but the last, the
model that wrote the samples draws `verifier.rollouts` completions (`rollout_labels`);
the step's label is the share of them whose answer the task's checker finds right (soft)
or whether any is (hard). The last step's label is the completion's own verdict. No eval
problem is ever rolled out.

The honest test of the PRM (`step_agreement`): where the task checks its own steps
(`check_steps`), the share of steps whose PRM score is on the same side of 0.5 as the
task's verdict, on completions it did not train on (the run's eval samples), with the
cost of scoring them (seconds, forward-pass tokens). The rollout labels themselves are
measured the same way (`label_agreement`).

Beam search (`beam_search`; Snell et al. 2024, HF's search-and-learn): per problem, B beams;
each active beam draws n candidate next steps (sampled until the step delimiter); every
candidate prefix is scored by the PRM; the top B of the candidates and of the finished
beams stay. A beam finishes when the task's extract_answer finds an answer in it, when its
step is empty (EOS), or at its token budget or the step limit. The answer is the best
finished beam's. Every generated token counts (the axis maj@k and bon@k are read on).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from star.generation import Generator
from star.types import Problem, Verdict
from star.verifiers import split_steps

log = logging.getLogger(__name__)


# -- labels from rollouts ------------------------------------------------------------------------------
class Counting:
    """A generator that counts what it generates (completions, tokens) and its seconds."""

    def __init__(self, generator: Generator):
        self.generator, self.completions, self.tokens, self.seconds = generator, 0, 0, 0.0

    def generate(self, prompts: Sequence[str], n: int = 1, **kw: Any) -> list[list[Any]]:
        t0 = time.perf_counter()
        out = self.generator.generate(prompts, n=n, **kw)
        self.seconds += time.perf_counter() - t0
        self.completions += sum(len(row) for row in out)
        self.tokens += sum(c.tokens for row in out for c in row)
        return out

    def cost(self) -> dict[str, float]:
        return {"completions": self.completions, "tokens": self.tokens, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Solution:
    """A checked completion of a training problem whose steps are to be labeled."""

    problem_id: str
    prompt: str  # the prompt the model generates from (rollouts continue it)
    train_prompt: str  # the prompt the PRM trains and scores under
    completion: str
    correct: bool


@dataclass(frozen=True)
class StepExample:
    """A completion cut into steps, each with its label (the share, or any, of rollouts from the
    prefix ending with it that reach the gold answer)."""

    problem_id: str
    prompt: str
    steps: tuple[str, ...]
    labels: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["steps"], d["labels"] = list(self.steps), list(self.labels)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StepExample:
        return cls(d["problem_id"], d["prompt"], tuple(d["steps"]), tuple(float(x) for x in d["labels"]))


def solutions(cands: Mapping[str, tuple[Sequence[str], Sequence[str]]], gen_prompts: Mapping[str, str],
              train_prompts: Mapping[str, str], per_problem: int, seed: int) -> list[Solution]:
    """At most `per_problem` of each problem's distinct completions (verifiers.candidates),
    drawn seeded by (seed, problem id), alternating incorrect and correct ones so that both
    kinds of steps are labeled."""
    out = []
    for pid, (correct, incorrect) in cands.items():
        rng = random.Random(f"{seed}/{pid}/prm")
        good, bad = list(correct), list(incorrect)
        rng.shuffle(good)
        rng.shuffle(bad)
        mixed = [x for pair in zip(bad, good, strict=False) for x in pair] + bad[len(good):] + good[len(bad):]
        good_set = set(good)
        out += [Solution(pid, gen_prompts[pid], train_prompts[pid], c, c in good_set) for c in mixed[:per_problem]]
    return out


def rollout_labels(generator: Generator, task: Any, pool: Any, problems: Mapping[str, Problem],
                   items: Sequence[Solution], *, n: int, temperature: float, seed: int, hard: bool = False,
                   max_new_tokens: int = 256, delimiter: str = "\n", desc: str = "rollouts") -> list[StepExample]:
    """Each item's steps labeled from `n` rollouts per step prefix (all prefixes of all items
    in one generate call), checked by the task's checker through `pool`; the last step's
    label is the item's own verdict."""
    cut = [split_steps(s.completion, delimiter) for s in items]
    prompts, owners, prefixes = [], [], []
    for s, steps in zip(items, cut, strict=True):
        for k in range(len(steps) - 1):
            prefix = "".join(steps[: k + 1])
            prompts.append(s.prompt + prefix)
            owners.append(problems[s.problem_id])
            prefixes.append(prefix)
    budgets = [task.max_new_tokens(p) or max_new_tokens for p in owners]
    outs = generator.generate(prompts, n=n, temperature=temperature, max_new_tokens=budgets, stop=list(task.stop),
                              seed=seed, desc=desc) if prompts else []
    pairs, who = [], []
    for p, prefix, row in zip(owners, prefixes, outs, strict=True):
        for c in row:
            pairs.append((p.answer, task.extract_answer(prefix + c.text)))
            who.append(p)
    verdicts = iter(pool.check(task.checker, pairs, who) if pairs else [])
    shares = iter([sum(next(verdicts) is Verdict.CORRECT for _ in row) / max(len(row), 1) for row in outs])
    out = []
    for s, steps in zip(items, cut, strict=True):
        if not steps:
            continue
        labels = [next(shares) for _ in range(len(steps) - 1)]
        e = StepExample(s.problem_id, s.train_prompt, tuple(steps), (*labels, float(s.correct)))
        out.append(hardened(e) if hard else e)
    return out


def hardened(e: StepExample) -> StepExample:
    """Hard labels from soft ones: a step is good when any rollout from it reached gold (the
    last step's label, the completion's verdict, is 0 or 1 already)."""
    return StepExample(e.problem_id, e.prompt, e.steps, tuple(float(x > 0) for x in e.labels))


# -- agreement with the task's own step check ----------------------------------------------------------
@dataclass(frozen=True)
class Agreement:
    """Steps on the same side of 0.5 as the task's verdict, over the completions whose steps
    line up with the task's (as many verdicts as steps); `unaligned`: completions left out."""

    steps: int
    agree: int
    true_steps: int  # steps the task calls right (the base rate)
    true_agree: int  # of them, the ones scored >= 0.5
    completions: int
    unaligned: int
    seconds: float = 0.0
    tokens: int = 0  # forward-pass tokens of the scoring

    @property
    def accuracy(self) -> float:
        return self.agree / self.steps if self.steps else float("nan")

    @property
    def balanced(self) -> float:
        """The mean of the accuracies on right and on wrong steps: 0.5 for a constant guess,
        whatever the base rate (nan when the steps are all right or all wrong)."""
        false = self.steps - self.true_steps
        if not self.true_steps or not false:
            return float("nan")
        return (self.true_agree / self.true_steps + (self.agree - self.true_agree) / false) / 2

    def to_dict(self) -> dict[str, Any]:
        b = self.balanced
        return {**asdict(self), "accuracy": round(self.accuracy, 4) if self.steps else None,
                "balanced_accuracy": None if b != b else round(b, 4)}


def _agree(task: Any, problems: Mapping[str, Problem], completions: Sequence[tuple[str, Sequence[str]]],
           values: Sequence[Sequence[float]]) -> Agreement:
    steps = agree = true = true_agree = unaligned = 0
    for (pid, cut), v in zip(completions, values, strict=True):
        verdicts = task.check_steps(problems[pid], "".join(cut))
        if verdicts is None or len(verdicts) != len(cut):
            unaligned += 1
            continue
        steps += len(cut)
        true += sum(map(bool, verdicts))
        agree += sum((x >= 0.5) == bool(ok) for x, ok in zip(v, verdicts, strict=True))
        true_agree += sum(x >= 0.5 and bool(ok) for x, ok in zip(v, verdicts, strict=True))
    return Agreement(steps, agree, true, true_agree, len(completions), unaligned)


def label_agreement(task: Any, problems: Mapping[str, Problem], made: Sequence[StepExample]) -> Agreement | None:
    """How often the rollout labels agree with the task's check_steps (None: the task has no hook)."""
    if not callable(getattr(task, "check_steps", None)):
        return None
    return _agree(task, problems, [(e.problem_id, e.steps) for e in made], [e.labels for e in made])


def step_agreement(task: Any, problems: Mapping[str, Problem], prompts: Sequence[str], completions: Sequence[str],
                   ids: Sequence[str], scorer: Any) -> Agreement | None:
    """The PRM's step scores (scorer.step_scores) against the task's check_steps on these
    completions, with the scoring's seconds and forward-pass tokens (None: no hook)."""
    if not callable(getattr(task, "check_steps", None)):
        return None
    before = scorer.cost()
    t0 = time.perf_counter()
    values = scorer.step_scores(prompts, completions, desc="prm steps")
    seconds = time.perf_counter() - t0
    a = _agree(task, problems, [(pid, split_steps(c, scorer.delimiter)) for pid, c in zip(ids, completions,
                                                                                        strict=True)], values)
    return Agreement(a.steps, a.agree, a.true_steps, a.true_agree, a.completions, a.unaligned, round(seconds, 3),
                     int(scorer.cost()["tokens"] - before["tokens"]))


# -- step-level beam search ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Beam:
    text: str
    score: float
    done: bool
    tokens: int  # generated tokens along this beam's path
    steps: int


@dataclass(frozen=True)
class SearchResult:
    """A problem's search: the answer's beam, and every token the search generated."""

    problem_id: str
    completion: str
    pred: str | None
    score: float
    tokens: int  # generated tokens, all expansions of all beams
    steps: int
    finished: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def beam_search(generator: Generator, score: Callable[[Sequence[str], Sequence[str]], Sequence[float]], task: Any,
                problems: Sequence[Problem], prompts: Sequence[str], score_prompts: Sequence[str], *, width: int,
                expansions: int, temperature: float, seed: int, delimiter: str = "\n", max_steps: int = 32,
                max_new_tokens: int = 256, desc: str = "beam search") -> list[SearchResult]:
    """Step-level beam search per problem (module docstring): `prompts` are what the generator
    continues, `score_prompts` what the scorer reads (the training prompts), `score(prompts,
    partial completions)` a PRM's solution score of a prefix."""
    budgets = [task.max_new_tokens(p) or max_new_tokens for p in problems]
    beams: list[list[Beam]] = [[Beam("", 0.0, False, 0, 0)] for _ in problems]
    spent = [0] * len(problems)
    stop = [delimiter, *task.stop]
    for r in range(max_steps):
        todo = [(i, b) for i, bs in enumerate(beams) for b in bs if not b.done]
        if not todo:
            break
        outs = generator.generate([prompts[i] + b.text for i, b in todo], n=expansions, temperature=temperature,
                                  max_new_tokens=[max(1, budgets[i] - b.tokens) for i, b in todo], stop=stop,
                                  seed=seed + r, desc=f"{desc} step {r + 1}")
        fresh: list[list[Beam]] = [[] for _ in problems]  # scores filled in below
        for (i, b), row in zip(todo, outs, strict=True):
            for c in row:
                spent[i] += c.tokens
                text, used = b.text + c.text, b.tokens + c.tokens
                done = (not c.text.strip() or task.extract_answer(text) is not None or used >= budgets[i]
                        or b.steps + 1 >= max_steps)
                fresh[i].append(Beam(text if done else text + delimiter, 0.0, done, used, b.steps + 1))
        flat = [(i, x) for i in range(len(problems)) for x in _distinct(fresh[i], beams[i])]
        values = list(score([score_prompts[i] for i, _ in flat], [x.text for _, x in flat])) if flat else []
        pool: list[list[Beam]] = [[b for b in bs if b.done] for bs in beams]
        for (i, x), v in zip(flat, values, strict=True):
            pool[i].append(Beam(x.text, float(v), x.done, x.tokens, x.steps))
        beams = [sorted(p, key=lambda b: -b.score)[:width] if p else bs for p, bs in zip(pool, beams, strict=True)]
    out = []
    for i, (p, bs) in enumerate(zip(problems, beams, strict=True)):
        finished = [b for b in bs if b.done]
        best = max(finished or bs, key=lambda b: b.score)
        out.append(SearchResult(p.id, best.text, task.extract_answer(best.text), best.score, spent[i], best.steps,
                                bool(finished)))
    return out


def _distinct(fresh: Sequence[Beam], kept: Sequence[Beam]) -> list[Beam]:
    """A problem's new candidates, each text once, none already a finished beam."""
    seen = {b.text for b in kept if b.done}
    out = []
    for x in fresh:
        if x.text not in seen:
            seen.add(x.text)
            out.append(x)
    return out
