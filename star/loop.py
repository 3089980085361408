"""The STaR outer loop: generate, check, rationalize, filter, fine-tune, evaluate, record.

`run` reads like the algorithm (Zelikman et al. 2022, Algorithm 1). Every stage's output
lands in the run directory before the next stage starts; on a rerun, finished stages are
read back instead of recomputed, so a killed run resumes where it stopped and ends with
the same numbers (seeds derive from the run seed, the iteration and the stage, and every
model is loaded from disk, whether or not the run was interrupted). Iteration 0 evaluates
the starting model before any STaR iteration.

Who attempts the problems and who votes on their labels hides behind two seams: the
labels (star.labels: the gold answer, or majority votes) and the committee of models
(star.committee: the run's own policy, plus peers with loop.voters > 1). What a
rationale's steps are worth is the process filter's (star.process), between check and
select. The iteration's shape (pending iterations, seeds, evaluation, record) is
star.iteration's, shared with GRPO and `star eval`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from star import cold_start, curriculum, evaluation, process
from star.checkers import CheckPool
from star.committee import Committee
from star.config import Config
from star.filtering import select
from star.identity import tree_hash
from star.iteration import Evaluation, finish, pending
from star.labels import LABELS
from star.rundir import RunDir
from star.training import steps_for
from star.types import Example, Sample, Task

log = logging.getLogger(__name__)


def run(cfg: Config, task: Task, rundir: RunDir, pool: CheckPool, trackers: list) -> list[dict[str, Any]]:
    # Data first: a bad row or a missing file should fail before minutes of cold start.
    train_set, eval_set = task.load("train"), task.load(cfg.eval.split)[: cfg.eval.max_problems]
    labels = LABELS[cfg.loop.labels](cfg.loop, task)
    visible = labels.visible(train_set)  # labels=majority: the training side never sees a gold answer
    gold = {p.id: p for p in train_set}  # ... which is measured against, never trained on
    base = Path(cold_start.starting_model(cfg.model, task, cfg.seed, pool))
    rundir.pin_model("starting_model", base, tree_hash(base))  # a resume applies its adapters to this model
    log.info("%s: %d training problems, %d eval problems; starting model %s",
             task.name, len(train_set), len(eval_set), base)
    voters = Committee.build(cfg, task, pool, labels, rundir, base)
    steps, evaluate = process.build(cfg, task, rundir), Evaluation(cfg, task, pool, eval_set)
    for t, it in pending(rundir, cfg.loop.iterations):
        row: dict[str, Any] = {"iteration": t} | (cold_start.summary(base) if t == 0 else {})  # a foothold?
        if t > 0:
            problems = curriculum.pool(task, visible, rundir.metrics(), cfg.loop.curriculum, t)
            samples = it.records("samples", Sample, voters.attempt, t, problems)
            hinted = it.records("rationalized", Sample, voters.rationalize, t, problems, samples)
            scored = steps.score(problems, samples + hinted)  # process check: a false step may reject
            examples = it.records("train", Example, select, scored, cfg.loop.max_per_problem)
            weights = voters.train(it, t, examples)
            row |= evaluation.train_metrics(task, problems, samples, hinted, examples, steps_for(cfg.trainer, t),
                                            _json(weights / "train_log.json"))
            row |= steps.metrics(problems, scored, examples)
            row |= labels.metrics(task, [gold[p.id] for p in problems], samples, pool)
        finish(rundir, it, row, evaluate, voters.policy, trackers)
    return rundir.metrics()


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}
