"""Shared by the verifier e2e tests (test_verifier.py: DPO/ORM, test_prm_verifier.py: the PRM):
the `star` subprocess, JSONL rows, a smoke run to train on, a verifier's adapter weights, and
the kill-mid-training-then-redo procedure that both objectives must survive."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

STAR = [sys.executable, "-m", "star.cli"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def star(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*STAR, *args], capture_output=True, text=True, env=ENV, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"star {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def smoke_run(tmp: Path) -> Path:
    star("run", "experiment=smoke", f"out_dir={tmp}", "run_name=ref")
    return tmp / "arithmetic" / "ref"


def adapter(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter" / "adapter_model.safetensors"))


def killed_and_redone(run: Path, tmp: Path, args: list[str], objective: str, data_file: str,
                      settle: float) -> tuple[Path, Path]:
    """Train `objective` on two copies of `run`: once uninterrupted (the reference), once
    SIGKILLed `settle` seconds after its data file appears in the temporary folder (the model
    loads, the steps begin), then rerun. Asserts the kill left only a temporary folder and
    the rerun cleared it; returns (reference folder, redone folder)."""
    plain, killed = tmp / "plain", tmp / "killed"
    for d in (plain, killed):  # cached inputs come along (the PRM's labeled steps): only training is redone
        shutil.copytree(run, d, ignore=shutil.ignore_patterns("eval_k", ".lock", "dpo-*", "orm-*", "prm-*"))
    reference = Path(star("verifier", str(plain), *args).stdout.strip().splitlines()[-1])

    proc = subprocess.Popen([*STAR, "verifier", str(killed), *args], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((killed / "verifier").glob(f".{objective}-*.tmp-*/{data_file}")):  # written just before training
        assert proc.poll() is None, "star verifier ended before the kill point"
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(settle)
    assert proc.poll() is None, "training ended before the kill: raise verifier.steps"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list((killed / "verifier").glob(f"{objective}-*")), "a killed training must leave no verifier behind"
    assert list((killed / "verifier").glob(f".{objective}-*.tmp-*"))

    redone = Path(star("verifier", str(killed), *args).stdout.strip().splitlines()[-1])
    assert redone.name == reference.name and not list((killed / "verifier").glob(f".{objective}-*.tmp-*"))
    return reference, redone
