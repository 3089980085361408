"""The STaR outer loop: generate, check, rationalize, filter, fine-tune, evaluate, record.

`run` reads like the algorithm (Zelikman et al. 2022, Algorithm 1). Every stage's output
lands in the run directory before the next stage starts; on a rerun, finished stages are
read back instead of recomputed, so a killed run resumes where it stopped and ends with
the same numbers (seeds derive from the run seed, the iteration and the stage, and every
model is loaded from disk, whether or not the run was interrupted). Iteration 0 evaluates
the starting model before any STaR iteration.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from star import evaluation, models
from star.attempts import attempt
from star.config import Config
from star.filtering import select
from star.generation import Generator, HFGenerator
from star.prompting import render
from star.rationalization import unsolved
from star.rundir import Iteration, RunDir, append_jsonl, atomic_write_json
from star.training import finetune, steps_for
from star.types import Example, Problem, Sample, Verdict

log = logging.getLogger(__name__)
# What each stage writes in iter_NNN/ -> the stage's name in metrics (time/<stage>_s).
STAGE = {"samples": "generate", "rationalized": "rationalize", "train": "filter", "adapter": "train",
         "model": "train", "eval": "eval"}


def run(cfg: Config, task, rundir: RunDir, pool, trackers: list) -> list[dict[str, Any]]:
    # Data first: a bad row or a missing file should fail before minutes of cold start.
    train_set, eval_set = task.load("train"), task.load(cfg.eval.split)[: cfg.eval.max_problems]
    base = models.starting_model(cfg.model, cold_start_examples(task, cfg), cfg.seed)
    log.info("%s: %d training problems, %d eval problems; starting model %s",
             task.name, len(train_set), len(eval_set), base)
    stages = Stages(cfg, task, pool, Policy(base, cfg, rundir))
    for t in range(cfg.loop.iterations + 1):
        it = rundir.iteration(t)
        if it.done:
            continue
        row: dict[str, Any] = {"iteration": t}
        if t > 0:
            samples = it.records("samples", Sample, stages.generate, t, train_set)
            hinted = it.records("rationalized", Sample, stages.rationalize, t, train_set, samples)
            examples = it.records("train", Example, select, samples + hinted, cfg.loop.max_per_problem)
            it.folder(stages.policy.weights_name, stages.train, t, examples)
            row |= train_metrics(task, train_set, samples, hinted, examples, steps_for(cfg.trainer, t), it)
        evals = it.records("eval", Sample, stages.evaluate, t, eval_set)
        row |= evaluation.accuracy(eval_set, evals, task, pool, cfg.eval.k)
        row |= {f"time/{STAGE[k]}_s": v for k, v in it.seconds().items()}
        record(rundir, it, row, trackers)
    return rundir.metrics()


class Stages:
    """The loop's phases, bound to the run's config, task, checker pool and policy."""

    def __init__(self, cfg: Config, task, pool, policy: Policy):
        self.cfg, self.task, self.pool, self.policy = cfg, task, pool, policy

    def _attempt(self, t: int, problems: list[Problem], stage: str, **kw) -> list[Sample]:
        g = self.cfg.generator
        return attempt(self.policy.generator(t), self.task, problems, self.pool, self.policy.tokenizer,
                       max_new_tokens=g.max_new_tokens, seed=seed_for(self.cfg.seed, t, stage), desc=stage, **kw)

    def generate(self, t: int, problems: list[Problem]) -> list[Sample]:
        """The previous iteration's model attempts every training problem."""
        g = self.cfg.generator
        return self._attempt(t - 1, problems, "generate", n=g.num_samples, temperature=g.temperature)

    def rationalize(self, t: int, problems: list[Problem], samples: list[Sample]) -> list[Sample]:
        """A second attempt, with the gold answer as a hint, at every problem no sample solved."""
        if not self.cfg.loop.rationalize:
            return []
        g = self.cfg.generator
        return self._attempt(t - 1, unsolved(problems, samples), "rationalize", hint=True,
                             n=g.num_samples, temperature=g.temperature)

    def train(self, out: Path, t: int, examples: list[Example]) -> None:
        if not examples:  # nothing accepted: the iteration keeps the previous model
            log.warning("iteration %d accepted no samples: it keeps the previous model", t)
            (out / "EMPTY").write_text("")
            return
        self.policy.release()  # the trainer (here or under accelerate launch) gets the GPU
        finetune(self.policy.base, examples, self.cfg.trainer, out, steps=steps_for(self.cfg.trainer, t),
                 seed=seed_for(self.cfg.seed, t, "train"), model_cfg=self.cfg.model,
                 init_adapter=self.policy.init_adapter(t))

    def evaluate(self, t: int, problems: list[Problem]) -> list[Sample]:
        """Greedy attempts at the eval split; with eval.samples=n, also n sampled ones (maj@k, pass@k)."""
        e, greedy = self.cfg.eval, self._attempt(t, problems, "eval")
        sampled = self._attempt(t, problems, "eval-sampled", n=e.samples, temperature=e.temperature) if e.samples else []
        return evaluation.join(greedy, sampled)


class Policy:
    """The model of iteration t (the starting model plus that iteration's weights), loaded
    once and shared by the evaluation of t and the generation of t + 1.

    generator=hf loads the weights and merges a LoRA adapter in memory; generator=vllm
    keeps one engine on the starting model for the whole run and gives it iteration t's
    adapter as a new LoRA request (a fully fine-tuned model needs an engine of its own)."""

    def __init__(self, base: Path, cfg: Config, rundir: RunDir):
        self.base, self.cfg, self.rundir = base, cfg, rundir
        self.tokenizer = models.load_tokenizer(base, cfg.model)
        self.weights_name = "adapter" if cfg.trainer.method == "lora" else "model"
        self._loaded: tuple[int, Generator] | None = None
        self._engine = None  # the vLLM engine, kept across iterations

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

    def generator(self, t: int) -> Generator:
        if self._loaded is None or self._loaded[0] != t:
            self._loaded = None  # free the previous model before loading the next
            self._loaded = (t, self._vllm(t) if self.cfg.generator.backend == "vllm" else self._hf(t))
        return self._loaded[1]

    def _hf(self, t: int) -> HFGenerator:
        w = self.weights(t)
        model = (models.load_model(w, self.cfg.model) if w is not None and self.weights_name == "model"
                 else models.load_model(self.base, self.cfg.model, adapter=w))
        return HFGenerator(model, self.tokenizer, self.cfg.generator)

    def _vllm(self, t: int) -> Generator:
        from star.vllm_generator import VLLMGenerator

        w = self.weights(t)
        lora = self.weights_name == "adapter"
        model = self.base if lora or w is None else w
        if self._engine is None or self._engine.model != str(model):
            if self._engine is not None:
                self._engine.shutdown()
            self._engine = VLLMGenerator(model, self.cfg.generator, self.cfg.model, seed=self.cfg.seed,
                                         lora_rank=self.cfg.trainer.lora.r if lora else None)
        self._engine.use_adapter(w if lora else None)
        return self._engine

    def release(self) -> None:
        """Free the accelerator for training: drop the HF model; the vLLM engine sleeps
        (or shuts down, generator.release=shutdown) until the next generation."""
        self._loaded = None
        if self._engine is not None:
            self._engine.release()
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def train_metrics(task, problems: list[Problem], samples: list[Sample], hinted: list[Sample],
                  examples: list[Example], steps: int, it: Iteration) -> dict[str, Any]:
    """What the iteration's training side did: solve rate without hint, rationalization rate
    (of the unsolved problems), accepted examples and their share of problems per group
    (yield), unverifiable verdicts, generated tokens, mean accepted rationale length."""
    log_file = next(iter(sorted(it.path.glob("*/train_log.json"))), None)
    train_log = json.loads(log_file.read_text()) if log_file else {}
    solved = {s.problem_id for s in samples if s.verdict is Verdict.CORRECT}
    rationalized = {s.problem_id for s in hinted if s.verdict is Verdict.CORRECT}
    tokens = {(s.problem_id, s.completion): s.tokens for s in samples + hinted}
    accepted = {e.problem_id for e in examples}
    row = {
        "train/problems": len(problems),
        "train/solved": len(solved),
        "train/solve_rate": len(solved) / max(len(problems), 1),
        "train/rationalized": len(rationalized),
        "train/rationalization_rate": len(rationalized) / max(len(problems) - len(solved), 1),
        "train/accepted": len(examples),
        "train/unverifiable": sum(s.verdict is Verdict.UNVERIFIABLE for s in samples + hinted),
        "train/tokens": sum(s.tokens for s in samples + hinted),
        "train/rationale_tokens": (sum(tokens.get((e.problem_id, e.completion), 0) for e in examples)
                                   / max(len(examples), 1)),
        "train/steps": steps,
        "train/loss": train_log.get("loss_last"),
    }
    per_group: dict[str, list[bool]] = {}
    for p in problems:
        for kind, value in task.groups(p).items():
            per_group.setdefault(f"train/yield/{kind}={value}", []).append(p.id in accepted)
    return row | {k: sum(v) / len(v) for k, v in per_group.items()}


def record(rundir: RunDir, it: Iteration, row: dict[str, Any], trackers: list) -> None:
    """metrics.json, then one metrics.jsonl row (never twice), then trackers, then DONE."""
    atomic_write_json(it.path / "metrics.json", row)
    if row["iteration"] not in {r["iteration"] for r in rundir.metrics()}:
        append_jsonl(rundir.metrics_path, row)
    for tracker in trackers:
        tracker.log(row, row["iteration"])
    it.mark_done()
    log.info(summary(row))


def summary(row: dict[str, Any]) -> str:
    """One line per iteration: accuracy with its 95% interval, per group, maj@k/pass@k, train side, seconds."""
    groups = " ".join(f"{k.removeprefix('eval/accuracy/')}:{v:.2f}" for k, v in row.items()
                      if k.startswith("eval/accuracy/"))
    parts = [f"iter {row['iteration']}", f"eval acc {row['eval/accuracy']:.3f} "
             f"[{row.get('eval/accuracy_lo', 0):.3f},{row.get('eval/accuracy_hi', 1):.3f}]"
             + (f" ({groups})" if groups else "")]
    sampled = " ".join(f"{k[5:]} {v:.3f}" for k, v in row.items()
                       if k.startswith(("eval/maj@", "eval/pass@")) and evaluation.parse_key(k)[1] == ""
                       and not k.endswith(("_lo", "_hi")))
    parts += [sampled] if sampled else []
    if "train/solved" in row:
        parts.append(f"solved {row['train/solved']}/{row['train/problems']} "
                     f"rationalized {row['train/rationalized']} accepted {row['train/accepted']}")
    parts.append(" ".join(f"{k[5:-2]} {v:.0f}s" for k, v in row.items() if k.startswith("time/")))
    return " | ".join(parts)


def cold_start_examples(task, cfg: Config) -> list[Example]:
    """The task's worked rationales as training examples; a seeded share shows the hint,
    so that the model also learns to read one (which rationalization relies on)."""
    if not cfg.model.cold_start.enabled:
        return []
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
