"""Trackers: where per-iteration metrics go besides metrics.jsonl, and the plots drawn from them.

`metrics.jsonl` in the run directory is always written (by the loop, append-only) and is
the source of truth; `metrics.csv` and `accuracy.png` are derived from it after every
iteration (`RunFiles`). TensorBoard, MLflow and W&B are optional extras
(`pip install 'star[tensorboard]'`, ...), imported only when selected with
`tracker=tensorboard|mlflow|wandb`, and offline by default: TensorBoard event files in
`<run dir>/tensorboard/`, MLflow in `sqlite:///<run dir>/mlflow.db`, W&B in offline mode
under `<run dir>/wandb/`. A resumed run logs into the same MLflow and W&B run.

`plot_panels` draws every figure of star (accuracy.png, `star report`, `star eval`): a
grid of panels, each with lines and their 95% bands.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from star.config import TrackerConfig
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
            from star.report import Run, plot  # report draws with this module's plot_panels

            figure = plot([Run(self.run_dir, rows, label=self.run_dir.name)], panels="runs")
            atomic_write_bytes(self.run_dir / "accuracy.png", figure)
        except Exception as e:  # a plot must never stop a run
            log.warning("could not draw accuracy.png: %s", e)

    def close(self) -> None:
        pass


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


# -- figures ------------------------------------------------------------------------------------
@dataclass
class Line:
    """One curve of a panel; `lo`/`hi` (optional) draw its 95% band."""

    label: str
    x: Sequence[float]
    y: Sequence[float | None]
    lo: Sequence[float | None] | None = None
    hi: Sequence[float | None] | None = None
    color: str | None = None
    style: str = "-"
    width: float = 1.5


def plot_panels(panels: Mapping[str, Sequence[Line]], *, xlabel: str = "iteration",
                ylabel: str = "eval accuracy", title: str = "", log2x: bool = False) -> bytes:
    """A grid of panels (up to 3 across), one legend for all, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(panels), 3) or 1
    rows = math.ceil(len(panels) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows + 0.6), dpi=100, squeeze=False,
                             sharey=True)
    handles: dict[str, Any] = {}
    for ax, (name, lines) in zip(axes.flat, panels.items(), strict=False):
        xs: set[float] = set()
        for line in lines:
            pts = [(x, y) for x, y in zip(line.x, line.y, strict=True) if y is not None]
            if not pts:
                continue
            (h,) = ax.plot(*zip(*pts, strict=True), line.style, color=line.color, lw=line.width,
                           marker="o", ms=3, label=line.label)
            handles.setdefault(line.label, h)
            if line.lo is not None and line.hi is not None:
                band = [(x, lo, hi) for x, lo, hi in zip(line.x, line.lo, line.hi, strict=True)
                        if lo is not None and hi is not None]
                if band:
                    ax.fill_between(*zip(*band, strict=True), color=h.get_color(), alpha=0.12, lw=0)
            xs |= {x for x, _ in pts}
        ax.set(title=name, xlabel=xlabel, ylim=(-0.02, 1.02))
        if log2x:
            ax.set_xscale("log", base=2)
        if xs and len(xs) <= 20:
            ax.set_xticks(sorted(xs), [f"{x:g}" for x in sorted(xs)])
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    if title:
        fig.suptitle(title)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(len(handles), 4), fontsize=8,
                   frameon=False)
    fig.tight_layout(rect=(0, min(0.08 * math.ceil(len(handles) / 4), 0.3) / rows, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


# -- optional trackers ---------------------------------------------------------------------------
def make_trackers(backends: Sequence[str], run_dir: Path, config: Mapping[str, Any]) -> list[Tracker]:
    """RunFiles, plus one tracker per selected backend; a missing extra stops the run here,
    before any model work, with the command that installs it."""
    cfg = TrackerConfig(**{k: v for k, v in (config.get("tracker") or {}).items()
                           if k in TrackerConfig.__dataclass_fields__})
    trackers: list[Tracker] = [RunFiles(run_dir)]
    for name in backends:
        if name not in BACKENDS:
            raise SystemExit(f"config error: tracker backend {name!r} is unknown (available: {', '.join(BACKENDS)})")
        try:
            trackers.append(BACKENDS[name](Path(run_dir), config, cfg))
        except ImportError as e:
            raise SystemExit(f"config error: tracker={name} needs the {name} extra, which is not installed "
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
