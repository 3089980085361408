"""Process checks: the stage between check and select that looks at a rationale's steps.

The answer checker trusts every rationale that ends at the right answer. A rationale can
reach it through wrong steps (a misread scratchpad, a hinted answer copied through steps
that do not produce it), and training on it teaches the wrong steps. Tasks that can check
their own steps say so with an optional hook,

    check_steps(problem, completion) -> list[bool] | None

one verdict per step (True: the step is right), or None when the task cannot judge this
completion's steps. A scratchpad's column sums, countdown's `a op b = c` lines over the
given numbers, an equation's arithmetic.

Every correct, not yet rejected sample of a task with the hook is marked `faithful`
(all steps right) or not, whatever the filter, so that unfaithful acceptances are
measured in every run (`train/unfaithful`, `train/unfaithful_hinted`, per group too, and
`train/unfaithful_accepted`). `loop.process_filter` (the FILTERS table) decides what
happens to them: `none` keeps them (the STaR paper), `task` rejects them
(`rejected="unfaithful"`) before the filter stage selects the training examples.

For tasks without the hook, `prm` asks a learned process reward model (`loop.prm`, a folder
that `star verifier RUN verifier.objective=prm` trained: star.prm, star.verifiers): every
correct, unrejected sample is scored under its training prompt (its step scores aggregated
as the PRM was trained, min or last), and one scored below `loop.prm_threshold` is rejected
(`rejected="prm"`). The PRM's folder is pinned in manifest.json (a resume against a PRM
that changed is refused). Where the task can check its steps too, `train/prm_rejected_faithful`
and `train/prm_kept_unfaithful` measure the PRM against it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from star import verifiers
from star.config import Config
from star.evaluation import by_group, key
from star.identity import tree_hash
from star.rundir import RunDir, RunDirError, pinned_model
from star.types import Example, Problem, Sample, Task, Verdict

log = logging.getLogger(__name__)


def mark_faithful(task: Task, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[Sample]:
    """`samples` with `faithful` set on every correct, unrejected one the task's `check_steps`
    can judge (others keep None); a hook that raises judges nothing (a plugin's bug must not
    reject samples, nor crash the run)."""
    check = getattr(task, "check_steps", None)
    if not callable(check):
        return list(samples)
    by_id, out = {p.id: p for p in problems}, []
    for s in samples:
        if s.verdict is Verdict.CORRECT and not s.rejected and s.problem_id in by_id:
            try:
                steps = check(by_id[s.problem_id], s.completion)
            except Exception as e:  # the hook is the task's; say so once per sample, judge nothing
                log.warning("%s.check_steps raised on %s: %s", type(task).__name__, s.problem_id, e)
                steps = None
            if steps is not None:
                s = replace(s, faithful=bool(steps) and all(steps))
        out.append(s)
    return out


class KeepAll:
    """loop.process_filter=none: steps are measured where the task can check them, never used."""

    def __init__(self, task: Task, cfg: Config | None = None, rundir: RunDir | None = None):
        self.task = task

    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[Sample]:
        return mark_faithful(self.task, problems, samples)

    def metrics(self, problems: Sequence[Problem], scored: Sequence[Sample],
                examples: Sequence[Example]) -> dict[str, Any]:
        return metrics(self.task, problems, scored, examples)


class TaskSteps(KeepAll):
    """loop.process_filter=task: a correct sample with a false step is rejected ("unfaithful")."""

    def __init__(self, task: Task, cfg: Config | None = None, rundir: RunDir | None = None):
        if not callable(getattr(task, "check_steps", None)):
            raise ValueError(f"loop.process_filter=task needs the task to check its steps: {type(task).__name__} "
                             "has no check_steps(problem, completion) method (docs/ADDING_A_TASK.md)")
        super().__init__(task)

    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[Sample]:
        return [replace(s, rejected="unfaithful") if s.faithful is False else s
                for s in super().score(problems, samples)]


class PRMSteps(KeepAll):
    """loop.process_filter=prm: a correct sample the process reward model `loop.prm` scores
    below `loop.prm_threshold` is rejected ("prm"). The PRM loads on first use, on the model it
    was trained on (its verifier.json names it, with its content hash)."""

    def __init__(self, task: Task, cfg: Config, rundir: RunDir | None = None, scorer: verifiers.Scorer | None = None):
        super().__init__(task)
        self.folder, self.threshold, self.model_cfg = Path(cfg.loop.prm).expanduser(), cfg.loop.prm_threshold, cfg.model
        if rundir is not None:  # the run's filter is this PRM: a resume against another one is refused
            digest, pinned = tree_hash(self.folder), pinned_model(rundir.path, "prm")
            if pinned is not None and pinned["hash"] != digest:
                raise RunDirError(f"{rundir.path}: its iterations were filtered by the PRM {pinned['path']} (content "
                                  f"{pinned['hash']}, manifest.json), but loop.prm={self.folder} is now content "
                                  f"{digest} (retrained or replaced): resume with that PRM, or start a new run "
                                  "(another run_name=...)")
            rundir.pin_model("prm", self.folder, digest)
        self._scorer = scorer

    def scorer(self) -> verifiers.Scorer:
        if self._scorer is None:
            base = verifiers.info(self.folder)["base"]
            path = Path(base["path"])
            if not path.exists() or tree_hash(path) != base["hash"]:
                raise RunDirError(f"loop.prm={self.folder}: the model it was trained on, {path}, is gone or changed "
                                  f"(content {base['hash']}): rebuild it (rerun that run's command on this machine) "
                                  "or train another PRM")
            self._scorer = verifiers.load(self.folder, path, self.model_cfg, base["hash"])
            log.info("process filter: PRM %s, threshold %g", self.folder, self.threshold)
        return self._scorer

    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[Sample]:
        marked = super().score(problems, samples)
        todo = [i for i, s in enumerate(marked) if s.verdict is Verdict.CORRECT and not s.rejected]
        if not todo:
            return marked
        values = self.scorer().score([marked[i].train_prompt for i in todo], [marked[i].completion for i in todo],
                                     desc="prm filter")
        for i, v in zip(todo, values, strict=True):
            if v < self.threshold:
                marked[i] = replace(marked[i], rejected="prm")
        return marked

    def metrics(self, problems: Sequence[Problem], scored: Sequence[Sample],
                examples: Sequence[Example]) -> dict[str, Any]:
        """The task's step counts, plus what the PRM rejected (hinted apart) and, where the task
        checks its steps too, the PRM's two errors against it."""
        out = super().metrics(problems, scored, examples)
        judged = [s for s in scored if s.verdict is Verdict.CORRECT and s.rejected in (None, "prm")]
        out |= {"train/prm_scored": len(judged), "train/prm_rejected": sum(s.rejected == "prm" for s in judged),
                "train/prm_rejected_hinted": sum(s.rejected == "prm" and s.hinted for s in judged)}
        if callable(getattr(self.task, "check_steps", None)):
            out["train/prm_rejected_faithful"] = sum(s.rejected == "prm" and s.faithful is True for s in judged)
            out["train/prm_kept_unfaithful"] = sum(s.rejected is None and s.faithful is False for s in judged)
        return out


FILTERS: dict[str, type[KeepAll]] = {"none": KeepAll, "task": TaskSteps, "prm": PRMSteps}


def build(cfg: Config, task: Task, rundir: RunDir | None = None) -> KeepAll:
    """The run's process filter, `loop.process_filter` in the FILTERS table."""
    return FILTERS[cfg.loop.process_filter](task, cfg, rundir)


def metrics(task: Task, problems: Sequence[Problem], scored: Sequence[Sample],
            examples: Sequence[Example]) -> dict[str, Any]:
    """Correct samples with a false step, unhinted and hinted, overall and per group, and how
    many of them the accepted set still holds (0 under process_filter=task). Empty for a
    task that cannot check its steps."""
    if not callable(getattr(task, "check_steps", None)):
        return {}
    bad = [s for s in scored if s.faithful is False]
    accepted = {(e.problem_id, e.completion) for e in examples}
    row: dict[str, Any] = {"train/unfaithful_accepted": sum((s.problem_id, s.completion) in accepted for s in bad),
                           "train/steps_checked": sum(s.faithful is not None for s in scored)}
    for g, members in by_group(task, problems).items():
        ids = {p.id for p in members}
        row[key("unfaithful", g, "train")] = sum(s.problem_id in ids and not s.hinted for s in bad)
        row[key("unfaithful_hinted", g, "train")] = sum(s.problem_id in ids and s.hinted for s in bad)
    return row
