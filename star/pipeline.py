"""algorithm=pipeline: algorithms chained in one run directory, each stage starting from the
previous stage's final model (DeepSeek-R1's recipe: reinforcement learning, then rejection
sampling fine-tuning on the RL model's own accepted rationales, ...).

A stage is an entry of `algorithm.stages`: an algorithm group of conf/algorithm/ (star, rft,
grpo) and the keys it sets itself (`overrides`: algorithm.*, loop.* such as iterations and
rationalize, trainer.*, generator.*, eval.*), merged onto the run's config in that order
(`stage_config`). Each stage runs the algorithm table's entry for its algorithm.name
(star.cli.algorithms: the STaR loop, GRPO) on a stage folder, itself a run directory:

    runs/<task>/<run_name>/
      config.yaml  manifest.json       the run's config (its stages in it) and hash
      metrics.jsonl                    every stage's rows, each with `stage`, `stage_index`
      metrics.csv  accuracy.png        and its own `iteration`
      stage_1_grpo/  config.yaml manifest.json metrics.jsonl iter_000/ ... DONE
      stage_2_star/  starting_model/  config.yaml ... iter_000/ ... DONE

The handoff: stage i > 1 starts from stage i - 1's final model (its starting model plus its
last finished iteration's weights), merged into one model and saved once, atomically, as
`stage_<i>_<name>/starting_model/` (`handoff`). The stage's config names it as its model
(model.name_or_path, no cold start), so every algorithm runs unchanged on it: "the starting
model" of a stage is what its iteration 0 evaluates, what trainer.init=base trains from,
what GRPO's KL term (algorithm.beta) is measured against. A stage's iteration 0 is thus the
previous stage's last model, evaluated again (the same greedy numbers: a check of the merge);
`star report --x tokens|seconds` does not count its work twice.

Resume: a finished stage (its DONE) is never redone; the unfinished one resumes at its
iterations, as a run of its algorithm does, and the merged model is rebuilt only if it was
never written (a kill while merging leaves no half-written model). The stages' keys are in
the run's config hash, so a resume with other stages is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from star import models
from star.checkers import CheckPool
from star.config import Config, to_config
from star.policy import free_accelerator
from star.rundir import (
    RunDir,
    append_jsonl,
    atomic_dir,
    atomic_write_json,
    atomic_write_text,
    config_hash,
    final_model,
    last_iteration,
    pinned_model,
    results_config,
)
from star.tracking import RunFiles
from star.types import Task

log = logging.getLogger(__name__)

Runner = Callable[[Config, Task, RunDir, CheckPool, list], list[dict[str, Any]]]


def chain(algorithms: Mapping[str, Runner]) -> Runner:
    """algorithm=pipeline's runner over the algorithm table (star.cli.algorithms): each stage
    runs the entry of its own algorithm.name."""

    def run(cfg: Config, task: Task, rundir: RunDir, pool: CheckPool, trackers: list) -> list[dict[str, Any]]:
        return Pipeline(cfg, algorithms).run(task, rundir, pool, trackers)

    return run


def stage_name(cfg: Config, index: int) -> str:
    stage = cfg.algorithm.stages[index]
    return stage.name or stage.algorithm


def stage_config(cfg: Config, index: int, start: Path | None = None) -> Config:
    """Stage `index`'s (from 0) typed config: the run's, then its algorithm group
    (conf/algorithm/<algorithm>.yaml), then its own overrides; from `start` (the previous
    stage's final model) with no cold start, for a later stage."""
    stage = cfg.algorithm.stages[index]
    run = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    run["algorithm"]["stages"] = []  # type: ignore[index]
    group = OmegaConf.create((files("star.conf") / "algorithm" / f"{stage.algorithm}.yaml").read_text())
    merged = OmegaConf.merge(run, group, stage.overrides)
    if start is not None:
        merged.model.name_or_path = str(Path(start).resolve())
        merged.model.gguf_file = None
        merged.model.cold_start.enabled = False
    return to_config(merged)


def handoff(previous: Path, cfg: Config, out: Path) -> Path:
    """The model the stage after `previous` (a finished stage folder run with `cfg`) starts
    from: its starting model, when no iteration trained anything; else its final weights
    merged into that model and saved once into `out` (atomically; reused when there)."""
    lora = cfg.trainer.method == "lora"
    final = final_model(previous, "adapter" if lora else "model")
    if final.weights is None:
        return final.base
    if (out / "config.json").is_file():
        return out
    log.info("handoff: %s + %s -> %s", final.base, final.weights, out)
    plain = replace(cfg.model, quantization="none")  # quantized weights (QLoRA) would round the update
    with atomic_dir(out) as tmp:
        model = (models.load_model(final.base, plain, adapter=final.weights) if lora
                 else models.load_model(final.weights, plain))
        model.save_pretrained(str(tmp))
        models.load_tokenizer(final.base, cfg.model).save_pretrained(str(tmp))
        del model
    free_accelerator()
    return out


class StageRows:
    """The run's trackers as stage `index` sees them: each row names its stage (`stage`,
    `stage_index`) and is appended once to the run's metrics.jsonl, then logged to the run's
    trackers at the run-wide step (the stages' iterations laid end to end: `offset`, the
    iterations of the stages before). A resumed iteration that logs its row again does
    not append it twice."""

    def __init__(self, rundir: RunDir, index: int, name: str, trackers: Sequence[Any], offset: int):
        self.rundir, self.index, self.name, self.trackers, self.offset = rundir, index, name, trackers, offset

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        row = {"stage": self.name, "stage_index": self.index, **metrics}
        if not any(r.get("stage_index") == self.index and r["iteration"] == row["iteration"]
                   for r in self.rundir.metrics()):
            append_jsonl(self.rundir.metrics_path, row)
        for tracker in self.trackers:
            tracker.log(row, self.offset + step)

    def close(self) -> None:
        pass  # the run's trackers are closed by the run


class Pipeline:
    def __init__(self, cfg: Config, algorithms: Mapping[str, Runner]):
        self.cfg, self.algorithms = cfg, algorithms

    def run(self, task: Task, rundir: RunDir, pool: CheckPool, trackers: list) -> list[dict[str, Any]]:
        stages = self.cfg.algorithm.stages
        plans = [stage_config(self.cfg, i) for i in range(len(stages))]  # every stage's keys checked up front
        previous: tuple[Path, Config] | None = None
        offset = 0
        for i, cfg in enumerate(plans, 1):
            name = stage_name(self.cfg, i - 1)
            sub = rundir.stage(i, name)
            try:
                if previous is not None:
                    cfg = stage_config(self.cfg, i - 1, handoff(*previous, sub.path / "starting_model"))
                if not sub.done:
                    self.write(sub, cfg, i, name, previous)
                    log.info("stage %d of %d: %s (algorithm %s, %d iterations) in %s", i, len(plans), name,
                             cfg.algorithm.name, cfg.loop.iterations, sub.path)
                    self.algorithms[cfg.algorithm.name](cfg, task, sub, pool,
                                                        [RunFiles(sub.path), StageRows(rundir, i, name, trackers, offset)])
                    sub.mark_done()
                offset += last_iteration(sub.path) or 0
                previous = (sub.path, cfg)
            finally:
                sub.close()
        return rundir.metrics()

    @staticmethod
    def write(sub: RunDir, cfg: Config, index: int, name: str, previous: tuple[Path, Config] | None) -> None:
        """The stage folder as a run directory of its own (`star report`, `star export` and
        loop.teacher read it): its resolved config, and a manifest naming the stage and
        where its starting model came from."""
        resolved = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
        atomic_write_text(sub.path / "config.yaml", OmegaConf.to_yaml(resolved))
        manifest = sub.path / "manifest.json"
        if manifest.exists():
            return
        came = None
        if previous is not None:
            lora = previous[1].trainer.method == "lora"
            final = final_model(previous[0], "adapter" if lora else "model")
            came = {"stage": previous[0].name, "iteration": final.iteration,
                    "model": pinned_model(previous[0], "starting_model"),
                    "weights": str(final.weights.relative_to(previous[0])) if final.weights else None}
        atomic_write_json(manifest, {"stage": name, "stage_index": index, "seed": cfg.seed,
                                     "config_hash": config_hash(resolved), "results_config": results_config(resolved),
                                     "started_from": came})
