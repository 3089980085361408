"""The cold start: from the base model to the model every STaR iteration starts from.

STaR needs a model whose few-shot or zero-shot accuracy starts above chance; a model built
from scratch (the embedded default) or too weak for the task's format first learns the
format from the task's worked rationales (DeepSeek-R1's stage 1, "cold start"). A seeded
share of the worked examples shows the hint, so that the model also learns to read one,
which rationalization relies on.

A fixed step count puts the starting model on a knife edge: the frontier group's accuracy
can jump from a few percent to nearly all within a few dozen steps, and where exactly
depends on the seed and on the floating-point bits of the CPU. So the cold start can
train to a criterion instead (`model.cold_start.target`): a stratified probe of worked
examples is held out of training, evaluated greedily every `eval_every` steps, and
training stops as soon as the probe's accuracy (`measure`: the weakest group's, or the
overall) reaches the target, `train.steps` being the cap. The probe curve is kept in the
model's `train_log.json`.

The result is cached under a key that covers everything that shapes it (base model,
cold-start config, seed, star version, the worked examples), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from star import __version__, models
from star.attempts import attempt
from star.config import ColdStartConfig, GeneratorConfig, ModelConfig
from star.evaluation import by_group, greedy_values
from star.generation import HFGenerator
from star.prompting import render
from star.rundir import atomic_dir
from star.training import finetune
from star.types import Example, Problem, Task

log = logging.getLogger(__name__)


def starting_model(cfg: ModelConfig, task: Task, seed: int, pool: Any = None) -> str | Path:
    """The model every STaR iteration starts from: the base model, cold-started if asked.
    Cold starts are cached: the same inputs give the same directory."""
    base = models.base_model(cfg, seed)
    cs = cfg.cold_start
    if not cs.enabled:
        return base
    worked = task.seed_rationales()
    if not worked:
        raise ValueError("model.cold_start.enabled=true but the task supplies no seed rationales")
    train, probe = split_probe(task, worked, cs, seed)
    examples = cold_start_examples(task, train, cfg, seed)
    key = models.cache_key({
        "base": str(base), "cold_start": asdict(cs), "seed": seed, "version": __version__,
        "examples": hashlib.sha256(json.dumps([e.to_dict() for e in examples]).encode()).hexdigest(),
        "probe": [p.id for p in probe],
    })
    out = models.cache_dir() / "cold_start" / key
    if (out / "config.json").exists():
        log.info("cold start: reusing cached model %s", out)
        return out
    criterion = f", until the probe's {cs.measure} accuracy reaches {cs.target:g}" if cs.target is not None else ""
    log.info("cold start: %d worked examples, at most %d steps%s -> %s", len(examples), cs.train.steps,
             criterion, out)
    callbacks = [Probe(task, probe, cs, pool, models.load_tokenizer(base, cfg))] if cs.target is not None else []
    with atomic_dir(out, replace=False) as tmp:  # a killed cold start leaves no half-written cache
        stats = finetune(base, examples, cs.train, tmp, seed=seed, model_cfg=cfg, merge=True, callbacks=callbacks)
        if callbacks:
            stats["probe"] = callbacks[0].history
            (tmp / "train_log.json").write_text(json.dumps(stats, indent=2) + "\n")
    if callbacks:
        last = callbacks[0].history[-1] if callbacks[0].history else {}
        log.info("cold start: stopped after %d steps; probe accuracy %s", stats["steps"],
                 " ".join(f"{k}:{v:.2f}" for k, v in last.items() if k != "step"))
    return out


def split_probe(task: Task, worked: list[tuple[Problem, str]], cs: ColdStartConfig,
                seed: int) -> tuple[list[tuple[Problem, str]], list[Problem]]:
    """(worked examples to train on, probe problems held out): with a target, a seeded
    `probe_per_group` problems of each of the task's groups are held out, but never more
    than a quarter of a group's worked examples (small seed sets keep most for training)."""
    if cs.target is None:
        return worked, []
    names = [[f"{k}={v}" for k, v in task.groups(p).items()] or [""] for p, _ in worked]
    sizes: dict[str, int] = {}
    for ns in names:
        for n in ns:
            sizes[n] = sizes.get(n, 0) + 1
    cap = {n: min(cs.probe_per_group, size // 4) for n, size in sizes.items()}
    order = list(range(len(worked)))
    random.Random(f"{seed}/cold-start-probe").shuffle(order)
    taken: dict[str, int] = {}
    held: set[int] = set()
    for i in order:
        if all(taken.get(n, 0) < cap[n] for n in names[i]):
            held.add(i)
            for n in names[i]:
                taken[n] = taken.get(n, 0) + 1
    return [w for i, w in enumerate(worked) if i not in held], [worked[i][0] for i in sorted(held)]


def cold_start_examples(task: Task, worked: list[tuple[Problem, str]], cfg: ModelConfig,
                        seed: int) -> list[Example]:
    """The worked rationales as training examples; a seeded share shows the hint."""
    tokenizer = None if cfg.name_or_path == models.TINY else models.load_tokenizer(models.base_model(cfg, seed), cfg)
    out = []
    for p, completion in worked:
        hinted = _unit(f"{seed}/hint/{p.id}") < cfg.cold_start.hint_fraction
        prompt = render(task.prompt(p, hint=p.answer if hinted else None), tokenizer)
        out.append(Example(prompt=prompt, completion=completion, problem_id=p.id, hinted=hinted))
    return out


class Probe(TrainerCallback):
    """Every `eval_every` steps: greedy accuracy on the held-out probe, per group; stops
    training once the `measure` (the weakest group's accuracy, or the overall one)
    reaches `target`."""

    def __init__(self, task: Task, problems: list[Problem], cs: ColdStartConfig, pool: Any, tokenizer: Any):
        self.task, self.problems, self.cs, self.pool, self.tokenizer = task, problems, cs, pool, tokenizer
        self.history: list[dict[str, float]] = []

    def on_step_end(self, args, state, control, model=None, **kw):
        if state.global_step % self.cs.eval_every and state.global_step < state.max_steps:
            return
        accuracy = self.measure(model)
        self.history.append({"step": state.global_step, **accuracy})
        value = accuracy["overall"] if self.cs.measure == "overall" else min(
            (v for k, v in accuracy.items() if k != "overall"), default=accuracy["overall"])
        log.debug("cold start step %d: probe %s", state.global_step, accuracy)
        if self.cs.target is not None and value >= self.cs.target:
            control.should_training_stop = True

    def measure(self, model) -> dict[str, float]:
        was_training, use_cache = model.training, model.config.use_cache
        model.eval()
        model.config.use_cache = True
        try:
            gen = HFGenerator(model, self.tokenizer, GeneratorConfig(progress=False))
            samples = attempt(gen, self.task, self.problems, self.pool, self.tokenizer, desc="probe")
        finally:
            model.config.use_cache = use_cache
            model.train(was_training)
        values = greedy_values(self.problems, samples)
        return {(g or "overall"): round(sum(values[p.id] for p in ps) / len(ps), 4)
                for g, ps in by_group(self.task, self.problems).items()}


def _unit(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
