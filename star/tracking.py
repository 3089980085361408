"""Trackers: where per-iteration metrics go besides metrics.jsonl, and the plots drawn from them.

`metrics.jsonl` in the run directory is always written (by the loop, append-only) and is
the source of truth; `metrics.csv` and `accuracy.png` are derived from it after every
iteration (`RunFiles`). TensorBoard, MLflow and W&B are optional extras
(`pip install 'star[tensorboard]'`, ...), imported only when selected with
`tracker=tensorboard|mlflow|wandb`, and offline by default: TensorBoard event files in
`<run dir>/tensorboard/`, MLflow in `sqlite:///<run dir>/mlflow.db`, W&B in offline mode
under `<run dir>/wandb/`. A resumed run logs into the same MLflow and W&B run.

The figures themselves are drawn by star.report (with star.plots).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from star.config import ConfigError, TrackerConfig
from star.plots import to_csv
from star.report import Run, plot
from star.rundir import atomic_write_bytes, atomic_write_text, read_jsonl, results_config

log = logging.getLogger(__name__)


class Tracker(Protocol):
    def log(self, metrics: Mapping[str, Any], step: int) -> None: ...
    def close(self) -> None: ...


class RunFiles:
    """Rebuilds metrics.csv and accuracy.png from metrics.jsonl."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        rows = read_jsonl(self.run_dir / "metrics.jsonl")
        atomic_write_text(self.run_dir / "metrics.csv", to_csv(rows))
        try:
            figure = plot([Run(self.run_dir, rows, label=self.run_dir.name)], panels="runs")
            atomic_write_bytes(self.run_dir / "accuracy.png", figure)
        except Exception as e:  # a plot must never stop a run
            log.warning("could not draw accuracy.png: %s", e)

    def close(self) -> None:
        pass


# -- optional trackers ---------------------------------------------------------------------------
def make_trackers(cfg: TrackerConfig, run_dir: Path, config: Mapping[str, Any]) -> list[Tracker]:
    """RunFiles, plus one tracker per backend in `cfg.backends`; a missing extra stops the
    run here, before any model work, with the command that installs it. `config` (the
    resolved config) is logged as the run's parameters."""
    trackers: list[Tracker] = [RunFiles(run_dir)]
    for name in cfg.backends:
        if name not in BACKENDS:
            raise ConfigError(f"config error: tracker backend {name!r} is unknown (available: {', '.join(BACKENDS)})")
        try:
            trackers.append(BACKENDS[name](Path(run_dir), config, cfg))
        except ImportError as e:
            raise ConfigError(f"config error: tracker={name} needs the {name} extra, which is not installed "
                              f"({e}): pip install 'star[{name}]'") from None
    return trackers


def _scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}


class TensorBoard:
    """Scalars in TensorBoard event files under <run dir>/tensorboard/ (`tensorboard --logdir runs`)."""

    def __init__(self, run_dir: Path, config: Mapping[str, Any], cfg: TrackerConfig):
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in results_config(dict(config)).items()))

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        for key, value in _scalars(metrics).items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MLflow:
    """One MLflow run per run directory (its id kept in <run dir>/mlflow_run_id), in
    `tracker.mlflow_uri` or a local sqlite file in the run directory."""

    def __init__(self, run_dir: Path, config: Mapping[str, Any], cfg: TrackerConfig):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=cfg.mlflow_uri or f"sqlite:///{run_dir.resolve() / 'mlflow.db'}")
        exp = self.client.get_experiment_by_name(cfg.project)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(
            cfg.project, artifact_location=(run_dir.resolve() / "mlflow-artifacts").as_uri())
        id_file = run_dir / "mlflow_run_id"
        if id_file.exists():
            self.run_id = id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            self.run_id = self.client.create_run(exp_id, run_name=run_dir.name).info.run_id
            atomic_write_text(id_file, self.run_id + "\n")
            for key, value in results_config(dict(config)).items():
                self.client.log_param(self.run_id, mlflow_key(key), str(value)[:500])

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(mlflow_key(k), v, now, step)
                                                    for k, v in _scalars(metrics).items()])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


def mlflow_key(key: str) -> str:
    """MLflow names allow letters, digits, _ - . / and spaces: maj@8 -> maj_at_8, digits=3 -> digits_3."""
    return re.sub(r"[^\w\-./ ]", "_", key.replace("@", "_at_"))


class WandB:
    """One W&B run per run directory (its id derived from the path), offline by default:
    `wandb sync <run dir>/wandb/offline-run-*` uploads it later."""

    def __init__(self, run_dir: Path, config: Mapping[str, Any], cfg: TrackerConfig):
        import wandb

        run_id = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:16]
        self.run = wandb.init(project=cfg.project, name=run_dir.name, id=run_id, resume="allow",
                              dir=str(run_dir), mode=cfg.wandb_mode, config=dict(config))

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        self.run.log(_scalars(metrics), step=step)

    def close(self) -> None:
        self.run.finish()


BACKENDS: dict[str, type] = {"tensorboard": TensorBoard, "mlflow": MLflow, "wandb": WandB}
