"""The models that attempt the training problems and vote on their labels: one, or a committee.

The loop asks the committee for judged samples and tells it to train; it does not know how
many models vote. With `loop.voters=1` (every gold-label run) the committee is the run's
own policy. With `loop.voters=m` (labels=majority) it also holds m - 1 peers, each
cold-started from its own seed (`peer_seed`), which sample beside the run's model: each
sample carries its `voter` (0 for the run's own model), the labels (star.labels) count
each voter's plurality answer as one ballot, and every voter trains on the same accepted
examples into its own folder (`iter_NNN/peer<i>_adapter`). Only the run's own model is
evaluated and rationalizes. Before a training stage every voter releases the accelerator,
and only one model (one vLLM engine) is awake at a time while generating.

The models that attempt need not be the models that train. With `loop.teacher` (distillation)
a fixed `Teacher` attempts the training problems and rationalizes its failures in place of
the run's model: a finished run's final model (its starting model plus its last finished
iteration's weights; a chained run's last stage) or a plain model (a path or a hub name).
Its samples are checked, filtered and rationalized as the run's own would be, each marked
`voter=TEACHER`, and the run's model (the student) trains on them and is the one evaluated.
The training prompts are rendered with the student's tokenizer (`attempt`'s
`train_tokenizer`): the two may differ, chat template included, and completions are text
the student tokenizes itself. The teacher is pinned in manifest.json like the starting
model: a resume against a teacher that changed (a run that went on training) is refused.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from star import models
from star.cold_start import starting_model
from star.config import Config, ModelConfig, TrainConfig, to_config
from star.identity import model_identity, tree_hash
from star.iteration import draw, seed_for
from star.labels import Labels
from star.policy import Policy
from star.rationalization import reject_leaks, unsolved
from star.rundir import Iteration, RunDir, RunDirError, final_model, stage_dirs
from star.train_process import train
from star.training import steps_for
from star.types import TEACHER, Example, Problem, Sample, Task

log = logging.getLogger(__name__)

def peer_seed(run_seed: int, i: int) -> int:
    """Peer voter i's cold-start seed (loop.voters > 1): one the run's own seeds never reach."""
    return run_seed + 1000 * i


class Committee:
    """The run's policy (voter 0) and its peers, bound to the run's config, task, checker pool
    and labels."""

    def __init__(self, cfg: Config, task: Task, pool: Any, labels: Labels, voters: list[Policy],
                 teacher: Teacher | None = None):
        self.cfg, self.task, self.pool, self.labels, self.voters = cfg, task, pool, labels, voters
        self.teacher = teacher

    @classmethod
    def build(cls, cfg: Config, task: Task, pool: Any, labels: Labels, rundir: RunDir, base: Path) -> Committee:
        """The run's policy on `base`, and loop.voters - 1 peers on their own cold starts (each
        pinned in the manifest, as the starting model is); with loop.teacher, the teacher (pinned too)."""
        voters = [Policy(base, cfg, rundir.path)]
        for i in range(1, cfg.loop.voters):
            start = Path(starting_model(cfg.model, task, peer_seed(cfg.seed, i), pool))
            rundir.pin_model(f"peer{i}_starting_model", start, tree_hash(start))
            voters.append(Policy(start, cfg, rundir.path, f"peer{i}"))
        teacher = Teacher.load(cfg.loop.teacher, cfg) if cfg.loop.teacher else None
        if teacher is not None:
            rundir.pin_model("teacher", teacher.where, teacher.digest)
            log.info("teacher: %s (%s)", teacher.where, teacher.describe)
        return cls(cfg, task, pool, labels, voters, teacher)

    @property
    def policy(self) -> Policy:
        """The run's own model: the one evaluated, and the one that rationalizes."""
        return self.voters[0]

    @property
    def attempting(self) -> list[tuple[int, Any]]:
        """(voter id, model) of the models that attempt: the voters, or the teacher alone."""
        return [(TEACHER, self.teacher)] if self.teacher is not None else list(enumerate(self.voters))

    def attempt(self, t: int, problems: list[Problem]) -> list[Sample]:
        """Every voter's model of iteration t - 1 (or the teacher) attempts every problem (k
        samples each); the samples, grouped by problem, are judged by the labels (the gold
        answer, or the voters' majority)."""
        g, order = self.cfg.generator, {p.id: n for n, p in enumerate(problems)}
        samples: list[Sample] = []
        for i, voter in self.attempting:
            if i:
                self.release()  # one model awake at a time
            stage = "generate" + (f"-{voter.name}" if voter.name else "")
            samples += [replace(s, voter=i) for s in draw(self.cfg, self.task, self.pool, voter, t - 1, problems,
                                                          stage, n=g.num_samples, temperature=g.temperature,
                                                          check=self.labels.checks_gold, **self._trainee())]
        samples.sort(key=lambda s: (order[s.problem_id], s.voter, s.index))
        return self.labels.judge(self.task, problems, samples, self.pool)

    def rationalize(self, t: int, problems: list[Problem], samples: list[Sample]) -> list[Sample]:
        """A second attempt, with the gold answer as a hint, at every problem no sample solved;
        a completion that repeats its hint is rejected."""
        if not (self.cfg.loop.rationalize and self.labels.rationalizes):
            return []
        g, failed = self.cfg.generator, unsolved(problems, samples)
        voter, model = self.attempting[0]  # the run's own model, or the teacher
        hinted = draw(self.cfg, self.task, self.pool, model, t - 1, failed, "rationalize", hint=True,
                      n=g.num_samples, temperature=g.temperature, **self._trainee())
        return [replace(s, voter=voter) for s in reject_leaks(self.task, failed, hinted)]

    def _trainee(self) -> dict[str, Any]:
        """A teacher's samples train the run's model: their training prompts in its rendering."""
        return {"train_tokenizer": self.policy.tokenizer} if self.teacher is not None else {}

    def train(self, it: Iteration, t: int, examples: list[Example]) -> Path:
        """Every voter fine-tunes on the accepted examples; the run's own weights folder."""
        for voter in self.voters:
            it.folder(voter.weights_name, self._train, t, examples, voter)
        return it.path / self.policy.weights_name

    def _train(self, out: Path, t: int, examples: list[Example], voter: Policy) -> None:
        if not examples:  # nothing accepted: the iteration keeps the previous model
            log.warning("iteration %d accepted no samples: it keeps the previous model", t)
            (out / "EMPTY").write_text("")
            return
        self.release()  # the trainer (here or under accelerate launch) gets the accelerator
        model, adapter = voter.train_from(t)
        train(model, examples, self.cfg.trainer, out, steps=steps_for(self.cfg.trainer, t),
              seed=seed_for(self.cfg.seed, t, "train" + (f"-{voter.name}" if voter.name else "")),
              model_cfg=self.cfg.model, init_adapter=adapter)

    def release(self) -> None:
        for voter in self.voters:
            voter.release()
        if self.teacher is not None:
            self.teacher.release()


class Teacher:
    """loop.teacher: a fixed model that attempts in place of the run's own, at every iteration
    (the seeds still come from the iteration): a finished run's final model, or a plain model.
    `where` and `digest` name and identify it (manifest.json pins them)."""

    name = "teacher"  # its stages' names: generate-teacher

    def __init__(self, policy: Policy, t: int, where: Path, digest: str, describe: str):
        self.policy, self.t, self.where, self.digest, self.describe = policy, t, where, digest, describe
        self.tokenizer = policy.tokenizer

    def generator(self, t: int) -> Any:
        return self.policy.generator(self.t)  # the same model whatever the student's iteration

    def release(self) -> None:
        self.policy.release()

    @classmethod
    def load(cls, source: str, cfg: Config) -> Teacher:
        """A run directory (manifest.json; a chained run's last stage) gives its final model,
        loaded as that run loaded its models (its model.* and trainer.* keys); anything else
        is a model, loaded with this run's model.* keys. The sampling is this run's (generator.*)."""
        path = Path(source).expanduser()
        if not (path / "manifest.json").is_file():
            model = replace(cfg.model, name_or_path=source, gguf_file=None,
                            cold_start=replace(cfg.model.cold_start, enabled=False))
            base = models.base_model(model, cfg.seed)
            return cls(Policy(Path(base), replace(cfg, model=model), path), 0, path, model_identity(base),
                       "a model")
        run = (stage_dirs(path) or [path])[-1]
        if not (run / "config.yaml").is_file():
            raise FileNotFoundError(f"loop.teacher={source}: {run} holds no config.yaml (not a run directory)")
        own = OmegaConf.load(run / "config.yaml")
        model, trainer = to_config(own.model, ModelConfig), to_config(own.trainer, TrainConfig)
        final = final_model(run, "adapter" if trainer.method == "lora" else "model")
        if not final.base.is_dir() or tree_hash(final.base) != final.base_hash:
            raise RunDirError(f"loop.teacher={source}: its starting model {final.base} is gone or changed (content "
                              f"{final.base_hash} pinned in {run / 'manifest.json'}); rebuild it (rerun that run's "
                              "command on this machine) or name another teacher")
        weights = tree_hash(final.weights) if final.weights is not None else "none"
        digest = hashlib.sha256(f"{final.base_hash}/{weights}".encode()).hexdigest()
        policy = Policy(final.base, replace(cfg, model=model, trainer=trainer), run)
        return cls(policy, final.iteration, final.weights or final.base, digest,
                   f"iteration {final.iteration} of {run}")
