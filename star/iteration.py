"""One iteration's shape, shared by every algorithm: which iterations are left, their seeds,
the attempts a model makes, the evaluation, and the record that ends an iteration.

The STaR loop (star.loop), GRPO's rounds (star.grpo) and `star eval` all run on this:

    for t, it in pending(rundir, iterations):      # an iteration whose DONE exists is skipped
        row = {"iteration": t} | <the algorithm's training side>
        finish(rundir, it, row, evaluation, policy, trackers)

`finish` evaluates iteration t's model on the eval split (greedy, plus `eval.samples`
sampled attempts for maj@k/pass@k), adds the accuracy and the stage seconds to the row,
and records it: metrics.json, one metrics.jsonl row (never twice), the trackers (once:
a TRACKED marker keeps a resumed iteration from logging again), then DONE. Seeds derive
from (run seed, iteration, stage), never from process state, so a resumed run draws
what an uninterrupted one draws.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from star import evaluation
from star.attempts import attempt
from star.config import Config
from star.rundir import Iteration, RunDir, append_jsonl, atomic_write_json
from star.types import Problem, Sample, Task

log = logging.getLogger(__name__)

# What each stage writes in iter_NNN/ -> the stage's name in metrics (time/<stage>_s).
# A peer voter's weights (peer1_adapter) count with the training stage.
STAGE = {"samples": "generate", "rationalized": "rationalize", "train": "filter", "adapter": "train",
         "model": "train", "eval": "eval"}


class Model(Protocol):
    """What an attempt needs of a policy (star.policy.Policy): iteration t's generator, the tokenizer."""

    tokenizer: Any

    def generator(self, t: int) -> Any: ...


def seed_for(run_seed: int, iteration: int, stage: str) -> int:
    """Seeds derive from (run seed, iteration, stage), never from process state."""
    return int(hashlib.sha256(f"{run_seed}/{iteration}/{stage}".encode()).hexdigest()[:8], 16)


def pending(rundir: RunDir, iterations: int) -> Iterator[tuple[int, Iteration]]:
    """Iterations 0..`iterations` that have not finished (no DONE), in order."""
    for t in range(iterations + 1):
        it = rundir.iteration(t)
        if not it.done:
            yield t, it


def draw(cfg: Config, task: Task, pool: Any, model: Model, t: int, problems: Sequence[Problem], stage: str,
         **kw: Any) -> list[Sample]:
    """Iteration t's model attempts `problems` (star.attempts), seeded by (run seed, t, stage)."""
    return attempt(model.generator(t), task, problems, pool, model.tokenizer,
                   max_new_tokens=cfg.generator.max_new_tokens, seed=seed_for(cfg.seed, t, stage), desc=stage, **kw)


class Evaluation:
    """The eval stage: greedy attempts at the eval problems; with eval.samples=n, also n sampled
    ones at eval.temperature (maj@k, pass@k)."""

    def __init__(self, cfg: Config, task: Task, pool: Any, problems: Sequence[Problem]):
        self.cfg, self.task, self.pool, self.problems = cfg, task, pool, list(problems)

    def attempts(self, model: Model, t: int) -> list[Sample]:
        e = self.cfg.eval
        greedy = draw(self.cfg, self.task, self.pool, model, t, self.problems, "eval")
        sampled = draw(self.cfg, self.task, self.pool, model, t, self.problems, "eval-sampled", n=e.samples,
                       temperature=e.temperature) if e.samples else []
        return evaluation.join(greedy, sampled)

    def metrics(self, samples: Sequence[Sample]) -> dict[str, Any]:
        return evaluation.accuracy(self.problems, samples, self.task, self.pool, self.cfg.eval.k)


def finish(rundir: RunDir, it: Iteration, row: dict[str, Any], ev: Evaluation, model: Model,
           trackers: Sequence[Any]) -> None:
    """An iteration's end, for every algorithm: evaluate, add accuracy and stage seconds, record."""
    samples = it.records("eval", Sample, ev.attempts, model, row["iteration"])
    row |= ev.metrics(samples)
    row |= stage_seconds(it)
    warn_unlearnable(row)
    record(rundir, it, row, trackers)


def warn_unlearnable(row: Mapping[str, Any]) -> None:
    """A group none of whose training problems gave an example this iteration (solved neither
    unhinted nor by rationalization) cannot improve from it: say so, per group."""
    empty = [k.removeprefix("train/yield/") for k, v in row.items() if k.startswith("train/yield/") and v == 0]
    if empty:
        log.warning("iteration %d: no training example of %s (solve rate 0 and rationalization rate 0): STaR "
                    "cannot learn a group it never gets right. Levers: a cold start that reaches it "
                    "(model.cold_start.*), k samples at a temperature (generator.num_samples), a hint the model "
                    "can read (docs/ADDING_A_TASK.md, Making a task learnable).", row["iteration"], ", ".join(empty))


def stage_seconds(it: Iteration) -> dict[str, float]:
    """`time/<stage>_s` from the iteration's seconds.json (a peer's weights add to training)."""
    out: dict[str, float] = {}
    for name, seconds in it.seconds().items():
        stage = f"time/{STAGE[name.rsplit('_', 1)[-1]]}_s"
        out[stage] = round(out.get(stage, 0) + seconds, 2)
    return out


def record(rundir: RunDir, it: Iteration, row: dict[str, Any], trackers: Sequence[Any]) -> None:
    """metrics.json, then one metrics.jsonl row (never twice), then the trackers (once: TRACKED),
    then DONE. A run killed after the row was appended logs it to the trackers on resume; only
    a kill while the trackers themselves write can log a row to them twice."""
    atomic_write_json(it.path / "metrics.json", row)
    if row["iteration"] not in {r["iteration"] for r in rundir.metrics()}:
        append_jsonl(rundir.metrics_path, row)
    if not (it.path / "TRACKED").exists():
        for tracker in trackers:
            tracker.log(row, row["iteration"])
        it.mark("TRACKED")
    it.mark_done()
    log.info(evaluation.summary(row))
