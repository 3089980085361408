"""The training stage under `accelerate launch` (trainer.launcher=accelerate), on CPU.

Two processes (DDP over gloo, through the shipped conf/accelerate/ddp.yaml) of batch 2
must give what one process of batch 4 gives on the same global batches: the same
per-step losses and the same adapter, within float tolerance. Only rank 0 writes, into
the iteration's folder of one run directory.

The examples are built so that the packed rows divide evenly into global batches (every
example is 10 tokens, two per 20-token row, 8 rows, global batch 4): then the sharded
sampler of 2 processes and the sampler of 1 process deal out exactly the same rows,
epoch after epoch.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from star.config import ModelConfig, TinyConfig, TrainConfig
from star.models import build_tiny
from star.rundir import RunDir
from star.train_process import train
from star.training import finetune
from star.types import Example

STEPS = 4  # two epochs of 8 rows in global batches of 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("model") / "tiny",
                      TinyConfig(hidden_size=32, intermediate_size=64, layers=2, heads=2, max_positions=64), seed=0)


def examples() -> list[Example]:
    """16 sums of two 2-digit numbers: <bos> + 'ab+cd=' + 'ef' + <eos> = 10 tokens each."""
    pairs = [(10 + 3 * i, 11 + 2 * i) for i in range(16)]
    return [Example(prompt=f"{a}+{b}=", completion=str(a + b), problem_id=f"p{i}")
            for i, (a, b) in enumerate(pairs)]


def train_config(**kw) -> TrainConfig:
    return replace(TrainConfig(steps=STEPS, seq_len=20, lr=1e-2, warmup_steps=0, progress=False), **kw)


@pytest.fixture(scope="module")
def runs(tiny: Path, tmp_path_factory) -> tuple[dict, dict, Path, Path]:
    """One process of batch 4, then 2 processes of batch 2 writing into a run directory."""
    model_cfg = ModelConfig(name_or_path=str(tiny), dtype="float32")
    tmp = tmp_path_factory.mktemp("runs")
    one = finetune(tiny, examples(), train_config(batch_size=4), tmp / "one", seed=3, model_cfg=model_cfg)
    rundir = RunDir(tmp / "run")
    try:
        out = rundir.iteration(1).folder("adapter", lambda d: train(
            tiny, examples(), train_config(batch_size=2, launcher="accelerate", num_processes=2), d,
            steps=STEPS, seed=3, model_cfg=model_cfg))
    finally:
        rundir.close()
    two = json.loads((out / "train_log.json").read_text())
    return one, two, tmp / "one", tmp / "run"


def test_the_rows_fill_whole_global_batches(runs):
    one, two, _, _ = runs
    assert one["rows"] == two["rows"] == 8
    assert (one["processes"], two["processes"]) == (1, 2)
    assert one["tokens"] == two["tokens"]  # same global batch: 4 rows of 20 tokens a step


def test_two_processes_log_the_losses_of_one(runs):
    one, two, _, _ = runs
    assert len(one["losses"]) == len(two["losses"]) == STEPS
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-4)
    assert one["losses"][-1] < one["losses"][0], "training must move the loss"


def test_two_processes_train_the_adapter_of_one(runs):
    from safetensors.torch import load_file

    _, _, one_dir, run = runs
    a = load_file(one_dir / "adapter_model.safetensors")
    b = load_file(run / "iter_001" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and a
    assert any(v.abs().sum() > 0 for k, v in b.items() if "lora_B" in k), "LoRA B starts at zero"
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-3, atol=1e-5, msg=k)


def test_rank_zero_alone_writes_one_run_directory(runs):
    _, _, one_dir, run = runs
    files = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
    adapter = sorted(p.name for p in one_dir.iterdir())
    assert files == sorted([".lock", "iter_001/seconds.json"] + [f"iter_001/adapter/{f}" for f in adapter])
    assert adapter == ["README.md", "adapter_config.json", "adapter_model.safetensors", "train_log.json"]


def test_shipped_accelerate_configs():
    from star.config import accelerate_config_path, shipped_accelerate_configs

    assert {"ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"} <= set(shipped_accelerate_configs())
    assert accelerate_config_path("fsdp").name == "fsdp.yaml"
    with pytest.raises(FileNotFoundError, match="ddp"):
        accelerate_config_path("nosuch")


@pytest.mark.slow
def test_star_run_with_two_training_processes_keeps_one_run_directory(tmp_path):
    """The whole loop (experiment=smoke, one iteration) with its training stage under
    accelerate launch: one run directory, the adapter trained by 2 processes."""
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "star.cli", "run", "experiment=smoke", "loop.iterations=1",
                           "trainer.launcher=accelerate", "trainer.num_processes=2", f"out_dir={tmp_path}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=900,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [p for p in tmp_path.rglob("manifest.json")]
    assert len(runs) == 1, runs
    run = runs[0].parent
    log = json.loads((run / "iter_001" / "adapter" / "train_log.json").read_text())
    assert log["processes"] == 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1] and rows[1]["train/loss"] == log["loss_last"]
