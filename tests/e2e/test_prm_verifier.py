"""End to end: `star verifier verifier.objective=prm` on a smoke run (tiny sizes, a few steps)
and `star eval --beam-search`: the PRM's folder, its labeled steps (training problems only,
under their training prompts, cached per iteration), a TOKEN_CLS adapter with its head, the
step-label accuracy against the task's check_steps printed and kept; beam search's rows
and table on the generated-tokens axis, searched once; and a training killed with SIGKILL
that, rerun, ends with the weights of an uninterrupted one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from verifier_helpers import adapter, killed_and_redone, lines, smoke_run, star

pytestmark = pytest.mark.slow  # a smoke run, rollouts and a few tiny PRM trainings: a minute or two on 2 cores

PRM = ["verifier.objective=prm", "verifier.steps=4", "verifier.batch_size=4"]




@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return smoke_run(tmp_path_factory.mktemp("prm"))


@pytest.fixture(scope="module")
def trained(run: Path) -> tuple[Path, str]:
    proc = star("verifier", str(run), *PRM)
    folder = Path(proc.stdout.strip().splitlines()[-1])
    assert folder.parent == run / "verifier" and folder.name.startswith("prm-")
    return folder, proc.stdout


def test_a_prm_trains_on_steps_labeled_from_the_runs_own_samples(run: Path, trained: tuple[Path, str]):
    folder, out = trained
    info = json.loads((folder / "verifier.json").read_text())
    assert info["objective"] == "prm" and info["iterations"] == [1, 2] and info["train"]["steps"] == 4
    assert folder.name == f"prm-{info['key'][:12]}" and info["delimiter"] == "\n"
    assert {p.name for p in folder.iterdir()} == {"verifier.json", "steps.jsonl", "adapter", "train_log.json",
                                                  "agreement.json"}
    config = json.loads((folder / "adapter" / "adapter_config.json").read_text())
    assert config["task_type"] == "TOKEN_CLS" and "score" in (config.get("modules_to_save") or [])
    # labeled steps: training problems only, under their training prompts, one label per step in [0, 1]
    train_prompts = {s["problem_id"]: s["train_prompt"] for s in lines(run / "iter_001" / "samples.jsonl")}
    made = lines(folder / "steps.jsonl")
    assert len(made) == info["data"]["solutions"] and sum(len(e["steps"]) for e in made) == info["data"]["steps"]
    for e in made:
        assert e["prompt"] == train_prompts[e["problem_id"]] and len(e["labels"]) == len(e["steps"])
        assert all(0 <= x <= 1 for x in e["labels"])
    cached = sorted((run / "verifier" / "steps").glob("n4-T0.7-*/iter_*.jsonl"))
    assert [p.name for p in cached] == ["iter_001.jsonl", "iter_002.jsonl"]
    # the step-label accuracy against the task's own check: printed, and kept with its cost
    agreement = json.loads((folder / "agreement.json").read_text())
    assert agreement["source"] == "iter_002/eval.jsonl" and agreement["steps"] > 0 and agreement["tokens"] > 0
    assert f"PRM step-label accuracy vs the task's check_steps on iter_002/eval.jsonl: {agreement['accuracy']}" in out
    assert "rollout labels vs the task's check_steps" in out
    again = star("verifier", str(run), *PRM)
    assert Path(again.stdout.strip().splitlines()[-1]) == folder and "trained already" in again.stderr


def test_star_eval_adds_beam_search_on_the_tokens_axis(run: Path, trained: tuple[Path, str]):
    folder, _ = trained
    args = ["eval", str(run), "--iterations", "0", "--beam-search", "prm", "--beam-width", "2", "--expansions", "2",
            "eval.k=1,4"]
    proc = star(*args)
    assert "Step-level beam search" in proc.stdout
    settings = next((run / "eval_k").iterdir())
    found = sorted((settings / "beam").glob(f"{folder.name}-B2-n2/iter_000.jsonl"))
    assert len(found) == 1
    results = lines(found[0])
    assert len(results) == 32 and all(r["tokens"] > 0 for r in results)
    table = json.loads((settings / f"beam-{folder.name}-B2-n2.json").read_text())
    beam = [x for x in table if x["strategy"] == "beam"]
    assert len(beam) == 1 and beam[0]["tokens"] == pytest.approx(sum(r["tokens"] for r in results) / 32, abs=1e-3)
    assert {x["strategy"] for x in table} >= {"maj@1", "maj@4", "pass@4"}
    stamp = found[0].stat().st_mtime_ns
    star(*args)  # searched once: the second call reads the results back
    assert found[0].stat().st_mtime_ns == stamp



def test_a_killed_prm_training_is_redone_to_the_same_weights(run: Path, trained: tuple[Path, str], tmp_path: Path):
    args = ["verifier.objective=prm", "verifier.steps=400", "verifier.batch_size=4"]
    reference, redone = killed_and_redone(run, tmp_path, args, "prm", "steps.jsonl", settle=3)
    import torch

    a, b = adapter(reference), adapter(redone)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert lines(redone / "steps.jsonl") == lines(reference / "steps.jsonl")


def test_the_loop_filters_its_samples_with_the_prm(run: Path, trained: tuple[Path, str], tmp_path: Path):
    """loop.process_filter=prm with the smoke run's PRM: the filter scores every correct sample,
    rejects those below the threshold (none at 0, all at 1), pins the PRM in the manifest, and a
    resume against a PRM that changed in place is refused."""
    folder = tmp_path / "prm"
    shutil.copytree(trained[0], folder)  # changed in place below
    rows = {}
    for threshold in ("0.0", "1.0"):
        star("run", "experiment=smoke", f"out_dir={tmp_path}", f"run_name=t{threshold}", "loop.iterations=1",
             "loop.process_filter=prm", f"loop.prm={folder}", f"loop.prm_threshold={threshold}")
        out = tmp_path / "arithmetic" / f"t{threshold}"
        rows[threshold] = lines(out / "metrics.jsonl")[-1]
        assert json.loads((out / "manifest.json").read_text())["models"]["prm"]["path"] == str(folder)
    kept, strict = rows["0.0"], rows["1.0"]
    assert kept["train/prm_scored"] > 0 and kept["train/prm_rejected"] == 0 and kept["train/accepted"] > 0
    # a sigmoid's score is below 1: every scored sample is rejected, nothing is accepted
    assert strict["train/prm_rejected"] == strict["train/prm_scored"] == kept["train/prm_scored"]
    assert strict["train/accepted"] == 0
    (tmp_path / "arithmetic" / "t0.0" / "iter_001" / "DONE").unlink()  # a resume ...
    (folder / "steps.jsonl").write_text("")  # ... with the PRM retrained in place
    proc = star("run", "experiment=smoke", f"out_dir={tmp_path}", "run_name=t0.0", "loop.iterations=1",
                "loop.process_filter=prm", f"loop.prm={folder}", "loop.prm_threshold=0.0", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "its iterations were filtered by the PRM" in proc.stderr and "retrained or replaced" in proc.stderr
