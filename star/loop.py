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
from dataclasses import replace
from pathlib import Path
from typing import Any

from star import curriculum, evaluation
from star.attempts import attempt
from star.checkers import CheckPool
from star.cold_start import starting_model
from star.config import Config
from star.filtering import select
from star.labels import LABELS, Labels
from star.policy import Policy
from star.rationalization import reject_leaks, unsolved
from star.rundir import Iteration, RunDir, append_jsonl, atomic_write_json
from star.train_process import train
from star.training import steps_for
from star.types import Example, Problem, Sample, Task

log = logging.getLogger(__name__)
# What each stage writes in iter_NNN/ -> the stage's name in metrics (time/<stage>_s).
STAGE = {"samples": "generate", "rationalized": "rationalize", "train": "filter", "adapter": "train",
         "model": "train", "eval": "eval"}


def run(cfg: Config, task: Task, rundir: RunDir, pool: CheckPool, trackers: list) -> list[dict[str, Any]]:
    # Data first: a bad row or a missing file should fail before minutes of cold start.
    train_set, eval_set = task.load("train"), task.load(cfg.eval.split)[: cfg.eval.max_problems]
    labels = LABELS[cfg.loop.labels](cfg.loop.min_agreement, cfg.loop.voters)
    visible = labels.visible(train_set)  # labels=majority: the training side never sees a gold answer
    gold = {p.id: p for p in train_set}  # ... which is measured against, never trained on
    base = Path(starting_model(cfg.model, task, cfg.seed, pool))
    log.info("%s: %d training problems, %d eval problems; starting model %s",
             task.name, len(train_set), len(eval_set), base)
    peers = [Policy(Path(starting_model(cfg.model, task, peer_seed(cfg.seed, i), pool)), cfg, rundir.path, f"peer{i}")
             for i in range(1, cfg.loop.voters)]  # loop.voters > 1: more models vote on the labels
    stages = Stages(cfg, task, pool, Policy(base, cfg, rundir.path), labels, peers)
    for t in range(cfg.loop.iterations + 1):
        it = rundir.iteration(t)
        if it.done:
            continue
        row: dict[str, Any] = {"iteration": t}
        if t > 0:
            problems = curriculum.pool(task, visible, rundir.metrics(), cfg.loop.curriculum, t)
            samples = it.records("samples", Sample, stages.generate, t, problems)
            hinted = it.records("rationalized", Sample, stages.rationalize, t, problems, samples)
            examples = it.records("train", Example, select, samples + hinted, cfg.loop.max_per_problem)
            weights = it.folder(stages.policy.weights_name, stages.train, t, examples)
            for peer in peers:  # every voter learns from the same accepted samples
                it.folder(peer.weights_name, stages.train, t, examples, peer)
            row |= evaluation.train_metrics(task, problems, samples, hinted, examples, steps_for(cfg.trainer, t),
                                            _json(weights / "train_log.json"))
            row |= labels.metrics(task, [gold[p.id] for p in problems], samples, pool)
        finish(rundir, it, row, stages, eval_set, trackers)
    return rundir.metrics()


class Stages:
    """The loop's phases, bound to the run's config, task, checker pool and policy."""

    def __init__(self, cfg: Config, task: Task, pool: CheckPool, policy: Policy, labels: Labels | None = None,
                 peers: list[Policy] | None = None):
        self.cfg, self.task, self.pool, self.policy, self.peers = cfg, task, pool, policy, peers or []
        self.labels = labels or LABELS[cfg.loop.labels](cfg.loop.min_agreement, cfg.loop.voters)

    def _attempt(self, t: int, problems: list[Problem], stage: str, policy: Policy | None = None,
                 **kw) -> list[Sample]:
        g, policy = self.cfg.generator, policy or self.policy
        return attempt(policy.generator(t), self.task, problems, self.pool, policy.tokenizer,
                       max_new_tokens=g.max_new_tokens, seed=seed_for(self.cfg.seed, t, stage), desc=stage, **kw)

    def generate(self, t: int, problems: list[Problem]) -> list[Sample]:
        """The previous iteration's model attempts every training problem; the samples are
        judged by the labels (the gold answer, or the majority of the k answers). Peer voters'
        samples follow each problem's own, voter i's numbered from i k."""
        g, order = self.cfg.generator, {p.id: n for n, p in enumerate(problems)}
        samples = self._attempt(t - 1, problems, "generate", n=g.num_samples, temperature=g.temperature,
                                check=self.labels.checks_gold)
        for i, peer in enumerate(self.peers, 1):
            self.release()  # one model (one vLLM engine) awake at a time
            samples += [replace(s, index=s.index + i * g.num_samples) for s in self._attempt(
                t - 1, problems, f"generate-{peer.name}", peer, n=g.num_samples, temperature=g.temperature,
                check=self.labels.checks_gold)]
        samples.sort(key=lambda s: (order[s.problem_id], s.index))
        return self.labels.judge(self.task, problems, samples, self.pool)

    def rationalize(self, t: int, problems: list[Problem], samples: list[Sample]) -> list[Sample]:
        """A second attempt, with the gold answer as a hint, at every problem no sample solved;
        a completion that repeats its hint is rejected."""
        if not (self.cfg.loop.rationalize and self.labels.rationalizes):
            return []
        g, failed = self.cfg.generator, unsolved(problems, samples)
        hinted = self._attempt(t - 1, failed, "rationalize", hint=True, n=g.num_samples, temperature=g.temperature)
        return reject_leaks(self.task, failed, hinted)

    def train(self, out: Path, t: int, examples: list[Example], policy: Policy | None = None) -> None:
        if not examples:  # nothing accepted: the iteration keeps the previous model
            log.warning("iteration %d accepted no samples: it keeps the previous model", t)
            (out / "EMPTY").write_text("")
            return
        self.release()  # the trainer (here or under accelerate launch) gets the accelerator
        policy = policy or self.policy
        model, adapter = policy.train_from(t)
        train(model, examples, self.cfg.trainer, out, steps=steps_for(self.cfg.trainer, t),
              seed=seed_for(self.cfg.seed, t, "train" + (f"-{policy.name}" if policy.name else "")),
              model_cfg=self.cfg.model, init_adapter=adapter)

    def release(self) -> None:
        for policy in [self.policy, *self.peers]:
            policy.release()

    def evaluate(self, t: int, problems: list[Problem]) -> list[Sample]:
        """Greedy attempts at the eval split; with eval.samples=n, also n sampled ones (maj@k, pass@k)."""
        e, greedy = self.cfg.eval, self._attempt(t, problems, "eval")
        sampled = self._attempt(t, problems, "eval-sampled", n=e.samples, temperature=e.temperature) if e.samples else []
        return evaluation.join(greedy, sampled)


def finish(rundir: RunDir, it: Iteration, row: dict[str, Any], stages: Stages, eval_set: list[Problem],
           trackers: list) -> None:
    """An iteration's end, for every algorithm: evaluate, add accuracy and stage seconds, record."""
    evals = it.records("eval", Sample, stages.evaluate, row["iteration"], eval_set)
    row |= evaluation.accuracy(eval_set, evals, stages.task, stages.pool, stages.cfg.eval.k)
    for name, seconds in it.seconds().items():  # peer voters' stages (peer1_adapter) count with the stage
        stage = f"time/{STAGE[name.rsplit('_', 1)[-1]]}_s"
        row[stage] = round(row.get(stage, 0) + seconds, 2)
    record(rundir, it, row, trackers)


def record(rundir: RunDir, it: Iteration, row: dict[str, Any], trackers: list) -> None:
    """metrics.json, then one metrics.jsonl row (never twice), then trackers, then DONE."""
    atomic_write_json(it.path / "metrics.json", row)
    if row["iteration"] not in {r["iteration"] for r in rundir.metrics()}:
        append_jsonl(rundir.metrics_path, row)
    for tracker in trackers:
        tracker.log(row, row["iteration"])
    it.mark_done()
    log.info(evaluation.summary(row))


def peer_seed(run_seed: int, i: int) -> int:
    """Peer voter i's cold-start seed (loop.voters > 1): one the run's own seeds never reach."""
    return run_seed + 1000 * i


def seed_for(run_seed: int, iteration: int, stage: str) -> int:
    """Seeds derive from (run seed, iteration, stage), never from process state."""
    return int(hashlib.sha256(f"{run_seed}/{iteration}/{stage}".encode()).hexdigest()[:8], 16)


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}
