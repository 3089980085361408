"""loop.process_filter=prm (star.process.PRMSteps): a correct sample a process reward model
scores below loop.prm_threshold is rejected ("prm"), wrong and already rejected samples are
not scored, the counts measure the PRM against the task's check_steps; the PRM's folder is
pinned in the run's manifest; validation names the keys of every misuse, a label-free run
with a gold-labeled PRM included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from star.config import ConfigError, validate
from star.filtering import select
from star.process import PRMSteps, build
from star.rundir import RunDir, RunDirError
from star.tasks.arithmetic import Arithmetic
from star.types import Problem, Sample, Verdict


def typed(*overrides: str):
    from star.task_cli import compose

    return OmegaConf.to_object(compose(list(overrides)))


def prm_folder(tmp_path: Path, objective: str = "prm", labels: str = "gold") -> Path:
    folder = tmp_path / f"{objective}-abc"
    folder.mkdir(parents=True)
    (folder / "verifier.json").write_text(json.dumps({"objective": objective, "labels": labels,
                                                      "base": {"path": str(tmp_path / "gone"), "hash": "x"}}))
    return folder


class FakePRM:
    """Scores a completion by a number written in it after '#' (1.0 without one); records what it saw."""

    def __init__(self):
        self.seen: list[tuple[str, str]] = []

    def score(self, prompts, completions, desc="score"):
        self.seen += list(zip(prompts, completions, strict=True))
        return [float(c.rsplit("#", 1)[1]) if "#" in c else 1.0 for c in completions]


def sample(p: Problem, completion: str, hinted=False, verdict=Verdict.CORRECT, rejected=None) -> Sample:
    return Sample(problem_id=p.id, index=0, prompt="hinted" if hinted else "plain", train_prompt="plain",
                  completion=completion, pred=p.answer, verdict=verdict, hinted=hinted, rejected=rejected)


def test_the_prm_filter_rejects_low_scored_correct_samples_and_measures_itself_against_the_steps(tmp_path):
    task = Arithmetic(style="lookup")
    p, q = task.load("train")[:2]
    cfg = typed("loop.process_filter=prm", f"loop.prm={prm_folder(tmp_path)}", "loop.prm_threshold=0.5")
    scorer = FakePRM()
    filt = PRMSteps(task, cfg, scorer=scorer)
    bad_q = task.solve(q).replace(task.solve(q)[1], str((int(task.solve(q)[1]) + 1) % 10), 1)  # a misread digit
    samples = [sample(p, task.solve(p) + "\n#0.9"),           # faithful, scored high: kept
               sample(p, task.solve(p) + "\n#0.1"),           # faithful, scored low: rejected (a PRM error)
               sample(q, bad_q + "\n#0.2", hinted=True),      # unfaithful hinted copy, scored low: rejected
               sample(q, bad_q + "\n#0.8"),                   # unfaithful, scored high: kept (a PRM error)
               sample(q, "wrong #0.0", verdict=Verdict.INCORRECT),            # wrong: never scored
               sample(q, "leak #0.0", hinted=True, rejected="hint-leak")]     # already out: never scored
    # the task judges the scratchpad lines; the '#' score line is one more line it rejects, so
    # judge faithfulness on the text before it
    task.check_steps = lambda prob, c: Arithmetic.check_steps(task, prob, c.rsplit("\n#", 1)[0])
    scored = filt.score([p, q], samples)
    assert [s.rejected for s in scored] == [None, "prm", "prm", None, None, "hint-leak"]
    assert [s.faithful for s in scored[:4]] == [True, True, False, False]
    assert [c for _, c in scorer.seen] == [s.completion for s in samples[:4]]
    assert {pr for pr, _ in scorer.seen} == {"plain"}  # the training prompt, never the hinted one
    examples = select(scored, max_per_problem=2)
    row = filt.metrics([p, q], scored, examples)
    assert (row["train/prm_scored"], row["train/prm_rejected"], row["train/prm_rejected_hinted"]) == (4, 2, 1)
    assert (row["train/prm_rejected_faithful"], row["train/prm_kept_unfaithful"]) == (1, 1)
    assert row["train/unfaithful_accepted"] == 1 and row["train/unfaithful"] == 1


def test_nothing_correct_scores_nothing(tmp_path):
    cfg = typed("loop.process_filter=prm", f"loop.prm={prm_folder(tmp_path)}")
    p = Problem("a", "q", "1")
    filt = PRMSteps(Arithmetic(), cfg, scorer=FakePRM())
    out = filt.score([p], [sample(p, "x", verdict=Verdict.INCORRECT)])
    assert out[0].rejected is None and filt._scorer.seen == []


def test_the_prm_is_pinned_in_the_manifest_and_a_changed_one_is_refused(tmp_path):
    folder = prm_folder(tmp_path)
    cfg = typed("loop.process_filter=prm", f"loop.prm={folder}")
    run = RunDir(tmp_path / "run")

    build(cfg, Arithmetic(), run)
    assert json.loads((run.path / "manifest.json").read_text())["models"]["prm"]["path"] == str(folder)
    build(cfg, Arithmetic(), run)  # the same PRM: a resume goes on
    (folder / "steps.jsonl").write_text("{}\n")  # the PRM changed (retrained in place)
    with pytest.raises(RunDirError, match="its iterations were filtered by the PRM .*retrained or replaced"):
        build(cfg, Arithmetic(), run)


def test_a_prm_whose_base_model_is_gone_says_so(tmp_path):
    cfg = typed("loop.process_filter=prm", f"loop.prm={prm_folder(tmp_path)}")
    p = Problem("a", "q", "1")
    with pytest.raises(RunDirError, match="the model it was trained on.*is gone or changed"):
        PRMSteps(Arithmetic(), cfg).score([p], [sample(p, "x")])


@pytest.mark.parametrize("overrides, message", [
    (["loop.process_filter=prm"], "loop.process_filter=prm needs loop.prm"),
    (["loop.process_filter=prm", "loop.prm={missing}"], "loop.prm=.*not a trained verifier"),
    (["loop.process_filter=prm", "loop.prm={dpo}"], "objective 'dpo', not a process reward model"),
    (["loop.process_filter=prm", "loop.prm={prm}", "loop.prm_threshold=1.5"], r"loop.prm_threshold=1.5 must be in \[0, 1\]"),
    (["loop.process_filter=task", "loop.prm={prm}"], "loop.prm=.* is read only by loop.process_filter=prm"),
    (["loop.process_filter=prm", "loop.prm={prm}", "loop.labels=majority", "generator.num_samples=4",
      "generator.temperature=0.7"], "loop.labels=majority with loop.process_filter=prm .*gold answers"),
])
def test_validation_names_the_keys(tmp_path, overrides, message):
    paths = {"missing": tmp_path / "nope", "dpo": prm_folder(tmp_path / "d", "dpo"), "prm": prm_folder(tmp_path / "p")}
    with pytest.raises(ConfigError, match=message):
        validate(typed(*(o.format(**paths) for o in overrides)))


def test_a_label_free_prm_is_allowed_in_a_label_free_run(tmp_path):
    folder = prm_folder(tmp_path, labels="majority")
    validate(typed("loop.process_filter=prm", f"loop.prm={folder}", "loop.labels=majority",
                   "generator.num_samples=4", "generator.temperature=0.7"))
