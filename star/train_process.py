"""Where a training stage runs: in this process, or as its own group of processes.

`train` is the one place that decides: `trainer.launcher=none` calls
star.training.finetune here; `trainer.launcher=accelerate` runs the stage as

    accelerate launch --config_file conf/accelerate/<name>.yaml --num_processes N \\
        --main_process_port P -m star.train_process REQUEST.json

The parent (the `star run` process) fixes everything that must not differ between
ranks before launching: the output directory (the run directory's temporary adapter
folder), the examples, the steps and the seed, all in REQUEST.json. Every rank runs the
same `finetune` (transformers' Trainer, which takes DDP, FSDP or DeepSpeed from the
accelerate config); only rank 0 writes, and only into that output directory, so one run
directory exists however many processes train. The parent reads `train_log.json` back.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from star.config import ModelConfig, TrainConfig, accelerate_config_path, to_config
from star.training import finetune
from star.types import Example

log = logging.getLogger(__name__)


def train(base: str | Path, examples: Sequence[Example], cfg: TrainConfig, out: Path, *, steps: int,
          seed: int, model_cfg: ModelConfig, init_adapter: Path | None = None) -> dict[str, Any]:
    """One training stage, here (`trainer.launcher=none`) or under `accelerate launch`."""
    if not examples:
        raise ValueError("nothing to train on: the accepted set is empty")
    if cfg.launcher == "accelerate":
        return launch(base, examples, cfg, out, steps=steps, seed=seed, model_cfg=model_cfg,
                      init_adapter=init_adapter)
    return finetune(base, examples, cfg, out, steps=steps, seed=seed, model_cfg=model_cfg,
                    init_adapter=init_adapter)


def default_num_processes() -> int:
    import torch

    return max(torch.cuda.device_count(), 1)


def command(config: Path, num_processes: int, request: Path, port: int, module: str = "star.train_process") -> list[str]:
    """The `accelerate launch` command line (the venv's own accelerate, through this Python)."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
            "--num_processes", str(num_processes), "--main_process_port", str(port),
            "-m", module, str(request)]


def accelerate(module: str, request: dict[str, Any], cfg: TrainConfig, what: str) -> None:
    """Run `python -m <module> REQUEST.json` under `accelerate launch` with the trainer's
    accelerate config and process count (STaR's fine-tuning here, GRPO's rounds in
    star.grpo); the children inherit stdout/stderr, so their progress bar and any traceback
    reach the user. `what` names the stage in the messages."""
    n = cfg.num_processes or default_num_processes()
    with tempfile.TemporaryDirectory(prefix="star-launch-") as tmp:
        path = Path(tmp) / "request.json"
        path.write_text(json.dumps(request))
        cmd = command(accelerate_config_path(cfg.accelerate_config), n, path, _free_port(), module)
        log.info("%s with %d processes: %s", what, n, " ".join(cmd))
        proc = subprocess.run(cmd, env=_child_env())
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed under accelerate launch (exit {proc.returncode}); its output is above")


def launch(base: str | Path, examples: Sequence[Example], cfg: TrainConfig, out: Path, *, steps: int,
           seed: int, model_cfg: ModelConfig, init_adapter: Path | None = None) -> dict[str, Any]:
    """Run `finetune` under `accelerate launch`; rank 0 writes `out`. Returns its train_log."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    accelerate("star.train_process", {
        "base": str(base), "out": str(out), "steps": steps, "seed": seed,
        "init_adapter": str(init_adapter) if init_adapter else None,
        "train": asdict(cfg), "model": asdict(model_cfg), "examples": [e.to_dict() for e in examples],
    }, cfg, "the training stage")
    return json.loads((out / "train_log.json").read_text())


def _free_port() -> int:
    """A free TCP port for the process group's rendezvous: two runs on one machine never collide."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def main(argv: list[str] | None = None) -> int:
    """One rank: rebuild the typed configs from the request and fine-tune in this process."""
    argv = sys.argv[1:] if argv is None else argv
    request = json.loads(Path(argv[0]).read_text())
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"[rank {rank}] %(levelname)s %(name)s: %(message)s")
    train_cfg = to_config(request["train"], TrainConfig)
    model = to_config(request["model"], ModelConfig)
    train_cfg = replace(train_cfg, launcher="none", progress=train_cfg.progress and rank == 0)
    examples = [Example.from_dict(e) for e in request["examples"]]
    init = Path(request["init_adapter"]) if request["init_adapter"] else None
    finetune(request["base"], examples, train_cfg, Path(request["out"]), steps=request["steps"],
             seed=request["seed"], model_cfg=model, init_adapter=init)
    return 0


if __name__ == "__main__":
    sys.exit(main())
