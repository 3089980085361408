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
model's `train_log.json`; `summary` turns it into iteration 0's `cold_start/...` metrics.
A cold start that ends at its cap below the target leaves STaR without a foothold: it
says so in a WARNING with the levers (`LEVERS`), also when it is reused from the cache.

The probe is held out by content, not by id: every copy of a probe question stays out of
training (a task may repeat questions: there are only 100 sums of two 1-digit numbers).
Only where a group leaves no choice (its questions have more copies than the probe may
hold) does a probe item repeat a training item; that is logged, and counted per group in
train_log.json (`cold_start.probe_repeats`). The probe is drawn from the worked examples
alone: it may share questions with the STaR pool (`load("train")`), which is trained on
only after the cold start, when the probe has done its work, and it shares questions with
the eval split only as far as the task's worked examples do (the built-in tasks draw them
around the eval questions wherever a group has room).

The result is cached under a key that covers everything that shapes it: the base model's
identity (a local directory by its content), the cold-start config, the seed, the dtype,
quantization, attention implementation and device it trains on, the worked examples as
rendered, the probe by content with what judges it (its prompts and token budgets, the
task's stop strings and extraction, the checker's class and fields), the library versions
and the source of the code on the path (`CODE`, the task's and the checker's modules;
`identity.source_hash`): a change to that code rebuilds the cold start, a version bump
alone does not. The key is computed once per call, the base model resolved once and its
tokenizer loaded once. Entries are written atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pkgutil
import random
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from star import identity, models
from star.attempts import attempt
from star.config import ColdStartConfig, GeneratorConfig, ModelConfig
from star.evaluation import by_group, greedy_values, key, natural
from star.generation import Generator, HFGenerator
from star.prompting import render
from star.rundir import atomic_dir
from star.training import finetune
from star.types import Example, Problem, Task

log = logging.getLogger(__name__)

# The modules whose code shapes a cold start (the task's and the checker's are added per
# task). star.rundir only writes the result atomically, and star.config holds values that
# enter the key as values, so neither is here.
CODE = ("star.cold_start", "star.training", "star.models", "star.generation", "star.attempts",
        "star.prompting", "star.evaluation")
PROBE_GENERATOR = GeneratorConfig(progress=False)  # how the probe generates (greedy)
LEVERS = ("more worked examples (what the task's seed_rationales() returns); "
          "a higher cap, model.cold_start.train.steps; a hint the model can read (the task's "
          "prompt(problem, hint), model.cold_start.hint_fraction); k samples per problem "
          "(generator.num_samples) at a temperature (generator.temperature), so that some of them solve it")


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
    tokenizer = models.load_tokenizer(base, cfg)
    train, probe = split_probe(task, worked, cs, seed)
    examples = cold_start_examples(task, train, cfg, seed, tokenizer=tokenizer)
    out = identity.cache_dir() / "cold_start" / cache_key(cfg, task, seed, base, examples, probe, worked, tokenizer)
    if (out / "config.json").exists():
        log.info("cold start: reusing cached model %s", out)
    else:
        _train(cfg, task, seed, pool, base, tokenizer, train, probe, examples, out)
    _warn_if_short(out)
    return out


def _train(cfg: ModelConfig, task: Task, seed: int, pool: Any, base: str | Path, tokenizer: Any,
           train: list[tuple[Problem, str]], probe: list[Problem], examples: list[Example], out: Path) -> None:
    cs = cfg.cold_start
    criterion = f", until the probe's {cs.measure} accuracy reaches {cs.target:g}" if cs.target is not None else ""
    log.info("cold start: %d worked examples, at most %d steps%s -> %s", len(examples), cs.train.steps,
             criterion, out)
    callback = Probe(task, probe, cs, pool, tokenizer) if cs.target is not None else None
    with atomic_dir(out, replace=False) as tmp:  # a killed cold start leaves no half-written cache
        stats = finetune(base, examples, cs.train, tmp, seed=seed, model_cfg=cfg, merge=True,
                         callbacks=[callback] if callback else [])
        stats["cold_start"] = {
            "target": cs.target, "measure": cs.measure, "cap": cs.train.steps,
            "reached": callback.reached if callback else None,
            "examples": len(examples), "probe_sizes": {(g or "overall"): len(ps) for g, ps in by_group(task, probe).items()},
            "probe_repeats": probe_repeats(task, train, probe),
        }
        stats["probe"] = callback.history if callback else []
        (tmp / "train_log.json").write_text(json.dumps(stats, indent=2) + "\n")
    if callback:
        last = callback.history[-1] if callback.history else {}
        log.info("cold start: stopped after %d steps; probe accuracy %s", stats["steps"],
                 " ".join(f"{k}:{v:.2f}" for k, v in last.items() if k != "step"))


def cache_key(cfg: ModelConfig, task: Task, seed: int, base: str | Path, examples: list[Example],
              probe: list[Problem], worked: list[tuple[Problem, str]], tokenizer: Any) -> str:
    """The cold start's cache key: everything that shapes the model it writes (see the
    module docstring)."""
    import peft
    import transformers

    cs = cfg.cold_start
    device = models.device_for(cfg)
    judged = None
    if cs.target is not None:  # without a target there is no probe, and nothing it judges shapes the model
        solutions = {p.id: c for p, c in worked}
        judged = {
            "problems": [[p.id, p.question, p.answer, render(task.prompt(p), tokenizer), task.max_new_tokens(p),
                          sorted(task.groups(p).items())] for p in probe],
            "extracted": [task.extract_answer(solutions[p.id]) for p in probe],
            "stop": list(task.stop), "checker": checker_identity(task.checker),
            "generator": asdict(PROBE_GENERATOR),
        }
    return identity.cache_key({
        "base": identity.model_identity(base), "cold_start": asdict(cs), "seed": seed,
        "model": {"dtype": str(models.dtype_for(cfg, device)), "quantization": cfg.quantization,
                  "attn_implementation": cfg.attn_implementation, "device": _device_name(device)},
        "code": identity.source_hash(*code_modules(task)),
        "libraries": {"torch": torch.__version__, "transformers": transformers.__version__,
                      "peft": peft.__version__},
        "examples": hashlib.sha256(json.dumps([e.to_dict() for e in examples]).encode()).hexdigest(),
        "probe": judged,
    })


def code_modules(task: Task) -> tuple[str, ...]:
    """`CODE`, the modules of the task's class and its bases, and the checker's module (all
    of star.checkers for a built-in checker: its extraction lives beside it)."""
    mods = set(CODE)
    mods |= {c.__module__ for c in type(task).__mro__
             if c.__module__.split(".")[0] not in sys.stdlib_module_names and c.__module__ != "builtins"}
    checker = type(getattr(task, "checker", None)).__module__
    if checker.split(".")[0] not in sys.stdlib_module_names and checker != "builtins":
        mods.add(checker)
    if checker.startswith("star.checkers"):
        import star.checkers

        mods |= {f"star.checkers.{m.name}" for m in pkgutil.iter_modules(star.checkers.__path__)}
    return tuple(sorted(mods))


def checker_identity(checker: Any) -> Any:
    """A checker's class and fields (checkers are frozen dataclasses; anything else by repr)."""
    name = f"{type(checker).__module__}.{type(checker).__qualname__}"
    if dataclasses.is_dataclass(checker) and not isinstance(checker, type):
        try:
            return [name, asdict(checker)]
        except Exception:  # a field that cannot be copied: its repr still tells values apart
            pass
    return [name, repr(checker)]


def _device_name(device: torch.device) -> str:
    """The device type, and for a GPU its model: the floating-point results differ between them."""
    if device.type == "cuda" and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def split_probe(task: Task, worked: list[tuple[Problem, str]], cs: ColdStartConfig,
                seed: int) -> tuple[list[tuple[Problem, str]], list[Problem]]:
    """(worked examples to train on, probe problems held out): with a target, a seeded
    `probe_per_group` problems of each of the task's groups are held out, but never more
    than a quarter of a group's worked examples (small seed sets keep most for training).

    Held out by content: a probe question is held out with all its copies, so that the
    probe measures questions training never showed. Where a group cannot fill its share
    that way (its questions have more copies than the share has room for), single copies
    fill it, which repeat training items: logged here, counted by `probe_repeats`."""
    if cs.target is None:
        return worked, []
    names = [[f"{k}={v}" for k, v in task.groups(p).items()] or [""] for p, _ in worked]
    sizes = Counter(n for ns in names for n in ns)
    cap = {n: min(cs.probe_per_group, size // 4) for n, size in sizes.items()}
    copies: dict[str, list[int]] = {}
    for i, (p, _) in enumerate(worked):
        copies.setdefault(p.question, []).append(i)
    questions = list(copies)
    random.Random(f"{seed}/cold-start-probe").shuffle(questions)
    taken: Counter[str] = Counter()
    held: set[int] = set()

    def hold(indices: list[int]) -> None:
        need = Counter(n for i in indices for n in names[i])
        if all(taken[n] + k <= cap[n] for n, k in need.items()):
            held.update(indices)
            taken.update(need)

    for q in questions:  # whole questions first: disjoint from training by content
        hold(copies[q])
    for q in questions:  # then single copies, where a group is still short of its share
        for i in copies[q]:
            if i not in held and any(taken[n] < cap[n] for n in names[i]):
                hold([i])
    train = [w for i, w in enumerate(worked) if i not in held]
    probe = [worked[i][0] for i in sorted(held)]
    repeats = {g: n for g, n in probe_repeats(task, train, probe).items() if n and g != "overall"}
    if repeats:
        shares = Counter(g for p in probe for g in ([f"{k}={v}" for k, v in task.groups(p).items()] or ["overall"]))
        log.warning("cold start: the probe repeats training items by content where a group leaves no choice "
                    "(its questions have more copies than a quarter of the group): %s",
                    ", ".join(f"{g}: {n} of {shares[g]} probe items" for g, n in repeats.items()))
    return train, probe


def probe_repeats(task: Task, train: list[tuple[Problem, str]], probe: list[Problem]) -> dict[str, int]:
    """Per group of the probe ("overall" for all of it): how many probe items repeat a
    training item's question."""
    trained = {p.question for p, _ in train}
    return {(g or "overall"): sum(p.question in trained for p in ps) for g, ps in by_group(task, probe).items()}


def cold_start_examples(task: Task, worked: list[tuple[Problem, str]], cfg: ModelConfig,
                        seed: int, tokenizer: Any = None) -> list[Example]:
    """The worked rationales as training examples; a seeded share shows the hint. Chat
    prompts are rendered with `tokenizer` (loaded here when none is given and the model
    is not the embedded tiny one)."""
    if tokenizer is None and cfg.name_or_path != models.TINY:
        tokenizer = models.load_tokenizer(models.base_model(cfg, seed), cfg)
    out = []
    for p, completion in worked:
        hinted = _unit(f"{seed}/hint/{p.id}") < cfg.cold_start.hint_fraction
        prompt = render(task.prompt(p, hint=p.answer if hinted else None), tokenizer)
        out.append(Example(prompt=prompt, completion=completion, problem_id=p.id, hinted=hinted))
    return out


class Probe(TrainerCallback):
    """Every `eval_every` steps: greedy accuracy on the held-out probe, per group; stops
    training once the `measure` (the weakest group's accuracy, or the overall one)
    reaches `target`. `generator` makes the probe's generator from the model in training
    (default: the HF backend)."""

    def __init__(self, task: Task, problems: list[Problem], cs: ColdStartConfig, pool: Any, tokenizer: Any,
                 generator: Callable[[Any], Generator] | None = None):
        self.task, self.problems, self.cs, self.pool, self.tokenizer = task, problems, cs, pool, tokenizer
        self.generator = generator or (lambda model: HFGenerator(model, self.tokenizer, PROBE_GENERATOR))
        self.history: list[dict[str, float]] = []
        self.reached = False

    def on_step_end(self, args, state, control, model=None, **kw):
        if state.global_step % self.cs.eval_every and state.global_step < state.max_steps:
            return
        accuracy = self.measure(model)
        self.history.append({"step": state.global_step, **accuracy})
        value = accuracy["overall"] if self.cs.measure == "overall" else min(
            (v for k, v in accuracy.items() if k != "overall"), default=accuracy["overall"])
        log.debug("cold start step %d: probe %s", state.global_step, accuracy)
        if self.cs.target is not None and value >= self.cs.target:
            self.reached = True
            control.should_training_stop = True

    def measure(self, model) -> dict[str, float]:
        was_training, use_cache = model.training, model.config.use_cache
        model.eval()
        model.config.use_cache = True
        try:
            samples = attempt(self.generator(model), self.task, self.problems, self.pool, self.tokenizer,
                              desc="probe")
        finally:
            model.config.use_cache = use_cache
            model.train(was_training)
        values = greedy_values(self.problems, samples)
        return {(g or "overall"): round(sum(values[p.id] for p in ps) / len(ps), 4)
                for g, ps in by_group(self.task, self.problems).items()}


def _record(model_dir: str | Path) -> dict[str, Any] | None:
    """A cold start's train_log.json; None where `model_dir` is none (a base model, a hub
    name, a fine-tuned model's log without the cold-start section)."""
    try:
        record = json.loads((Path(model_dir) / "train_log.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("cold_start"), dict):
        return None
    return record


def history(model_dir: str | Path) -> list[dict[str, float]]:
    """The probe curve of a cold start: one {"step", "overall", <group>...} per probe."""
    record = _record(model_dir)
    return list(record.get("probe") or []) if record else []


def summary(model_dir: str | Path) -> dict[str, Any]:
    """The cold start's metrics for iteration 0's row, from its train_log.json:
    `cold_start/reached` (the probe reached its target; absent without a target),
    `cold_start/steps`, `cold_start/target` (absent without one), and the last probe,
    `cold_start/probe/overall` and `cold_start/probe/<group>` (e.g. digits=3). Empty when
    `model_dir` is no cold start (a base model, a hub name)."""
    record = _record(model_dir)
    if record is None:
        return {}
    info = record["cold_start"]
    out: dict[str, Any] = {}
    if info.get("target") is not None:
        out[key("reached", section="cold_start")] = bool(info.get("reached"))
        out[key("target", section="cold_start")] = float(info["target"])
    out[key("steps", section="cold_start")] = int(record.get("steps", 0))
    last = (record.get("probe") or [{}])[-1]
    for group in sorted((g for g in last if g != "step"), key=lambda g: (g != "overall", natural(g))):
        out[key("probe", group, section="cold_start")] = last[group]
    return out


def _warn_if_short(out: Path) -> None:
    """A cold start that ended at its cap below the target: STaR may find nothing to learn from."""
    metrics = summary(out)
    if metrics.get("cold_start/reached", True):
        zero = [k.removeprefix("cold_start/probe/") for k, v in metrics.items()
                if k.startswith("cold_start/probe/") and k != "cold_start/probe/overall" and v == 0]
        if zero:  # a target over the whole probe (measure=overall) can hide a group with no foothold
            log.warning("cold start %s: reached its target, but the probe solves none of %s: STaR learns a "
                        "group from what it solves, so there it rests on rationalization alone. Levers: %s.",
                        out.name, ", ".join(zero), LEVERS)
        return
    probe = ", ".join(f"{k.removeprefix('cold_start/probe/')} {v:.2f}" for k, v in metrics.items()
                      if k.startswith("cold_start/probe/"))
    log.warning("cold start %s: the probe stayed below its target %g after %d steps, the cap "
                "(model.cold_start.train.steps); probe accuracy %s. STaR may find no foothold: the "
                "problems the starting model solves are what it learns from. Levers: %s.", out.name,
                metrics["cold_start/target"], metrics["cold_start/steps"], probe or "not measured", LEVERS)


def _unit(name: str) -> float:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
