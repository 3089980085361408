"""The STaR outer loop: generate, check, rationalize, filter, fine-tune, evaluate, record.

`run` reads like the algorithm (Zelikman et al. 2022, Algorithm 1). Every stage's output
lands in the run directory before the next stage starts; on a rerun, finished stages are
read back instead of recomputed, so a killed run resumes where it stopped and ends with
the same numbers. Iteration 0 evaluates the starting model before any STaR iteration.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from star import models
from star.attempts import attempt
from star.config import Config
from star.evaluation import accuracy
from star.filtering import select
from star.generation import HFGenerator
from star.rationalization import rationalize
from star.rundir import RunDir, append_jsonl, atomic_write_json
from star.training import finetune, steps_for
from star.types import Example, Problem, Sample, Verdict

log = logging.getLogger(__name__)


def run(cfg: Config, task, rundir: RunDir, pool, trackers: list) -> list[dict[str, Any]]:
    base = models.starting_model(cfg.model, cold_start_examples(task, cfg), cfg.seed)
    policy = Policy(base, cfg, rundir)
    train_set, eval_set = task.load("train"), task.load(cfg.eval.split)[: cfg.eval.max_problems]
    log.info("%s: %d training problems, %d eval problems, starting model %s",
             task.name, len(train_set), len(eval_set), base)
    gen = dict(n=cfg.generator.num_samples, temperature=cfg.generator.temperature,
               max_new_tokens=cfg.generator.max_new_tokens)
    for t in range(cfg.loop.iterations + 1):
        it, timer = rundir.iteration(t), Timer()
        if it.done:
            continue
        row: dict[str, Any] = {"iteration": t}
        if t > 0:
            samples = timer("generate", lambda: it.rows("samples", lambda: _rows(attempt(
                policy.generator(t - 1), task, train_set, pool, policy.tokenizer,
                seed=seed_for(cfg.seed, t, "generate"), **gen))), Sample)
            hinted = timer("rationalize", lambda: it.rows("rationalized", lambda: _rows(rationalize(
                policy.generator(t - 1), task, train_set, samples, pool, policy.tokenizer,
                seed=seed_for(cfg.seed, t, "rationalize"), **gen)) if cfg.loop.rationalize else []), Sample)
            examples = timer("filter", lambda: it.rows("train", lambda: _rows(select(
                samples + hinted, cfg.loop.max_per_problem))), Example)
            steps = steps_for(cfg.trainer, t)
            timer("train", lambda: it.folder(policy.weights_name, lambda out: finetune(
                base, examples, cfg.trainer, out, steps=steps, seed=seed_for(cfg.seed, t, "train"),
                model_cfg=cfg.model, init_adapter=policy.init_adapter(t)) if examples else
                _no_examples(out)))
            row.update(train_metrics(train_set, samples, hinted, examples, steps, it.path))
        evals = timer("eval", lambda: it.rows("eval", lambda: _rows(attempt(
            policy.generator(t), task, eval_set, pool, policy.tokenizer, max_new_tokens=gen["max_new_tokens"],
            seed=seed_for(cfg.seed, t, "eval"), desc="eval"))), Sample)
        row.update(accuracy(eval_set, evals, task))
        row.update(timer.seconds())
        record(rundir, it, row, trackers)
    return rundir.metrics()


@dataclass
class Timer:
    """Times each stage; a stage read back from disk keeps the seconds it took when it ran."""

    spent: dict[str, float] = field(default_factory=dict)

    def __call__(self, stage: str, work: Callable[[], Any], record_type: type | None = None) -> Any:
        t0 = time.perf_counter()
        out = work()
        self.spent[stage] = time.perf_counter() - t0
        return [record_type.from_dict(r) for r in out] if record_type else out

    def seconds(self) -> dict[str, float]:
        return {f"time/{k}_s": round(v, 2) for k, v in self.spent.items()}


class Policy:
    """The model of iteration t (the starting model plus that iteration's weights), loaded
    once and shared by the evaluation of t and the generation of t + 1."""

    def __init__(self, base: Path, cfg: Config, rundir: RunDir):
        self.base, self.cfg, self.rundir = base, cfg, rundir
        self.tokenizer = models.load_tokenizer(base, cfg.model)
        self.weights_name = "adapter" if cfg.trainer.method == "lora" else "model"
        self._loaded: tuple[int, HFGenerator] | None = None

    def weights(self, t: int) -> Path | None:
        """Iteration t's weights; an iteration that accepted nothing keeps the one before."""
        while t > 0:
            w = self.rundir.iteration(t).path / self.weights_name
            if not (w / "EMPTY").exists():
                return w
            t -= 1
        return None

    def init_adapter(self, t: int) -> Path | None:
        """What iteration t trains from: the base model (the paper), or t - 1's adapter."""
        if self.cfg.trainer.init == "previous" and self.cfg.trainer.method == "lora":
            return self.weights(t - 1)
        return None

    def generator(self, t: int) -> HFGenerator:
        if self._loaded is None or self._loaded[0] != t:
            self._loaded = None  # free the previous model before loading the next
            w = self.weights(t)
            model = (models.load_model(w, self.cfg.model) if w is not None and self.weights_name == "model"
                     else models.load_model(self.base, self.cfg.model, adapter=w))
            self._loaded = (t, HFGenerator(model, self.tokenizer, self.cfg.generator))
        return self._loaded[1]


def _no_examples(out: Path) -> None:
    # Nothing was accepted: the iteration keeps the previous weights (marked, not copied).
    log.warning("no accepted samples: this iteration keeps the previous model")
    (out / "EMPTY").write_text("")


def train_metrics(problems: list[Problem], samples: list[Sample], hinted: list[Sample],
                  examples: list[Example], steps: int, iter_dir: Path) -> dict[str, Any]:
    import json

    solved = {s.problem_id for s in samples if s.verdict is Verdict.CORRECT}
    rationalized = {s.problem_id for s in hinted if s.verdict is Verdict.CORRECT}
    log_file = next(iter(sorted(iter_dir.glob("*/train_log.json"))), None)
    train_log = json.loads(log_file.read_text()) if log_file else {}
    return {
        "train/problems": len(problems),
        "train/solved": len(solved),
        "train/rationalized": len(rationalized),
        "train/accepted": len(examples),
        "train/unverifiable": sum(s.verdict is Verdict.UNVERIFIABLE for s in samples + hinted),
        "train/steps": steps,
        "train/loss": train_log.get("loss_last"),
    }


def record(rundir: RunDir, it, row: dict[str, Any], trackers: list) -> None:
    """metrics.json, then one metrics.jsonl row (never twice), then trackers, then DONE."""
    atomic_write_json(it.path / "metrics.json", row)
    done = [r["iteration"] for r in rundir.metrics()]
    if row["iteration"] not in done:
        append_jsonl(rundir.metrics_path, row)
    for tr in trackers:
        tr.log(row, row["iteration"])
    it.mark_done()
    log.info(summary(row))


def summary(row: dict[str, Any]) -> str:
    groups = " ".join(f"{k.removeprefix('eval/accuracy/')}:{v:.2f}" for k, v in row.items()
                      if k.startswith("eval/accuracy/"))
    parts = [f"iter {row['iteration']}", f"eval acc {row['eval/accuracy']:.3f} ({groups})"]
    if "train/solved" in row:
        parts.append(f"solved {row['train/solved']}/{row['train/problems']} "
                     f"rationalized {row['train/rationalized']} accepted {row['train/accepted']}")
    parts.append(" ".join(f"{k[5:-2]} {v:.0f}s" for k, v in row.items() if k.startswith("time/")))
    return " | ".join(parts)


def cold_start_examples(task, cfg: Config) -> list[Example]:
    """The task's worked rationales as training examples; a seeded share shows the hint,
    so that the model also learns to use one (which rationalization relies on)."""
    if not cfg.model.cold_start.enabled:
        return []
    from star.prompting import render

    tokenizer = None if cfg.model.name_or_path == models.TINY else models.load_tokenizer(
        cfg.model.name_or_path, cfg.model)
    out = []
    for p, completion in task.seed_rationales():
        hinted = _unit(f"{cfg.seed}/hint/{p.id}") < cfg.model.cold_start.hint_fraction
        prompt = render(task.prompt(p, hint=p.answer if hinted else None), tokenizer)
        out.append(Example(prompt=prompt, completion=completion, problem_id=p.id, hinted=hinted))
    return out


def seed_for(run_seed: int, iteration: int, stage: str) -> int:
    """Seeds derive from (run seed, iteration, stage), never from process state."""
    return int(hashlib.sha256(f"{run_seed}/{iteration}/{stage}".encode()).hexdigest()[:8], 16)


def _unit(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _rows(records: list) -> list[dict[str, Any]]:
    return [r.to_dict() for r in records]
