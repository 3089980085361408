"""Trackers: where per-iteration metrics go besides metrics.jsonl.

`metrics.jsonl` in the run directory is always written (by the loop, append-only) and is
the source of truth; `metrics.csv` and `accuracy.png` are derived from it after every
iteration. TensorBoard, MLflow and W&B are optional extras, imported only when selected.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from star.rundir import atomic_write_bytes, atomic_write_text, read_jsonl

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
            atomic_write_bytes(self.run_dir / "accuracy.png", plot_accuracy(rows, title=self.run_dir.name))
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


def plot_accuracy(rows: Sequence[Mapping[str, Any]], title: str = "") -> bytes:
    """Overall and per-group eval accuracy against iteration, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    its = [r["iteration"] for r in rows]
    groups = [k for k in rows[-1] if k.startswith("eval/accuracy/")] if rows else []
    for key in groups:
        ax.plot(its, [r.get(key) for r in rows], marker="o", lw=1, label=key.removeprefix("eval/accuracy/"))
    ax.plot(its, [r.get("eval/accuracy") for r in rows], marker="o", lw=2.5, color="black", label="overall")
    ax.set(xlabel="iteration", ylabel="eval accuracy", ylim=(-0.02, 1.02), title=title)
    ax.set_xticks(its)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def make_trackers(backends: Sequence[str], run_dir: Path, config: Mapping[str, Any]) -> list[Tracker]:
    trackers: list[Tracker] = [RunFiles(run_dir)]
    for name in backends:
        raise ValueError(f"tracker: unknown backend {name!r} (available: tensorboard, mlflow, wandb)")
    return trackers
