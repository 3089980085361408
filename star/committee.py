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
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from star.cold_start import starting_model
from star.config import Config
from star.identity import tree_hash
from star.iteration import draw, seed_for
from star.labels import Labels
from star.policy import Policy
from star.rationalization import reject_leaks, unsolved
from star.rundir import Iteration, RunDir
from star.train_process import train
from star.training import steps_for
from star.types import Example, Problem, Sample, Task

log = logging.getLogger(__name__)


def peer_seed(run_seed: int, i: int) -> int:
    """Peer voter i's cold-start seed (loop.voters > 1): one the run's own seeds never reach."""
    return run_seed + 1000 * i


class Committee:
    """The run's policy (voter 0) and its peers, bound to the run's config, task, checker pool
    and labels."""

    def __init__(self, cfg: Config, task: Task, pool: Any, labels: Labels, voters: list[Policy]):
        self.cfg, self.task, self.pool, self.labels, self.voters = cfg, task, pool, labels, voters

    @classmethod
    def build(cls, cfg: Config, task: Task, pool: Any, labels: Labels, rundir: RunDir, base: Path) -> Committee:
        """The run's policy on `base`, and loop.voters - 1 peers on their own cold starts (each
        pinned in the manifest, as the starting model is)."""
        voters = [Policy(base, cfg, rundir.path)]
        for i in range(1, cfg.loop.voters):
            start = Path(starting_model(cfg.model, task, peer_seed(cfg.seed, i), pool))
            rundir.pin_model(f"peer{i}_starting_model", start, tree_hash(start))
            voters.append(Policy(start, cfg, rundir.path, f"peer{i}"))
        return cls(cfg, task, pool, labels, voters)

    @property
    def policy(self) -> Policy:
        """The run's own model: the one evaluated, and the one that rationalizes."""
        return self.voters[0]

    def attempt(self, t: int, problems: list[Problem]) -> list[Sample]:
        """Every voter's model of iteration t - 1 attempts every problem (k samples each);
        the samples, grouped by problem, are judged by the labels (the gold answer, or the
        voters' majority)."""
        g, order = self.cfg.generator, {p.id: n for n, p in enumerate(problems)}
        samples: list[Sample] = []
        for i, voter in enumerate(self.voters):
            if i:
                self.release()  # one model awake at a time
            stage = "generate" + (f"-{voter.name}" if voter.name else "")
            samples += [replace(s, voter=i) for s in draw(self.cfg, self.task, self.pool, voter, t - 1, problems,
                                                          stage, n=g.num_samples, temperature=g.temperature,
                                                          check=self.labels.checks_gold)]
        samples.sort(key=lambda s: (order[s.problem_id], s.voter, s.index))
        return self.labels.judge(self.task, problems, samples, self.pool)

    def rationalize(self, t: int, problems: list[Problem], samples: list[Sample]) -> list[Sample]:
        """A second attempt, with the gold answer as a hint, at every problem no sample solved;
        a completion that repeats its hint is rejected."""
        if not (self.cfg.loop.rationalize and self.labels.rationalizes):
            return []
        g, failed = self.cfg.generator, unsolved(problems, samples)
        hinted = draw(self.cfg, self.task, self.pool, self.policy, t - 1, failed, "rationalize", hint=True,
                      n=g.num_samples, temperature=g.temperature)
        return reject_leaks(self.task, failed, hinted)

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
