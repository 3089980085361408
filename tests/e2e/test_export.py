"""`star export`: a smoke run's accepted examples as a Hugging Face dataset that
`datasets.load_from_disk` and TRL's SFTTrainer read as they are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("export")
    run = subprocess.run([sys.executable, "-m", "star.cli", "run", "experiment=smoke", "loop.iterations=1",
                          f"out_dir={tmp}", "run_name=r"], capture_output=True, text=True, cwd=tmp, timeout=600,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    rundir = tmp / "arithmetic" / "r"
    out = subprocess.run([sys.executable, "-m", "star.cli", "export", str(rundir), "--out", str(tmp / "ex")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return rundir, tmp / "ex"


def test_the_schema_and_the_rows_are_the_accepted_examples(exported):
    from datasets import load_from_disk

    rundir, out = exported
    train = [json.loads(line) for line in (rundir / "iter_001" / "train.jsonl").read_text().splitlines()]
    ds = load_from_disk(str(out / "dataset"))
    assert len(ds) == len(train) > 0
    assert set(ds.column_names) == {"prompt", "completion", "problem_id", "group", "verdict", "hinted",
                                    "iteration", "model"}
    assert [r["completion"] for r in ds] == [e["completion"] for e in train]
    assert [r["prompt"] for r in ds] == [e["prompt"] for e in train]
    assert set(ds["verdict"]) == {"correct"} and set(ds["iteration"]) == {1}
    assert all(g.startswith("digits=") for g in ds["group"])
    manifest = json.loads((rundir / "manifest.json").read_text())
    assert all(m == f"{manifest['models']['starting_model']['hash']}+starting_model" for m in ds["model"])
    assert any(ds["hinted"]) == any(e["hinted"] for e in train)
    messages = load_from_disk(str(out / "messages"))
    first = messages[0]["messages"]
    assert [m["role"] for m in first] == ["user", "assistant"] and first[-1]["content"] == train[0]["completion"]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["config_hash"] == manifest["config_hash"] and meta["rows"] == len(train)
    rows = [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]
    assert len(rows) == len(train) and "messages" in rows[0]


def test_trls_sft_trainer_trains_on_it_as_it_is(exported, tmp_path):
    from datasets import load_from_disk
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    rundir, out = exported
    start = Path(json.loads((rundir / "manifest.json").read_text())["models"]["starting_model"]["path"])
    tok = AutoTokenizer.from_pretrained(str(start))
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(str(start)), processing_class=tok,
                         train_dataset=load_from_disk(str(out / "dataset")),
                         args=SFTConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=2,
                                        report_to="none", use_cpu=True, logging_steps=1, save_strategy="no"))
    assert trainer.args.completion_only_loss is not False  # prompt-completion: loss on the completion only
    trainer.train()
    assert trainer.state.global_step == 2
    assert all(h["loss"] > 0 for h in trainer.state.log_history if "loss" in h)


def test_a_missing_iteration_names_the_finished_ones(exported):
    rundir, _ = exported
    proc = subprocess.run([sys.executable, "-m", "star.cli", "export", str(rundir), "--iteration", "7"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "finished: [1]" in proc.stderr
