"""Figures: a grid of panels, each with lines and their 95% bands, as PNG bytes; and the
CSV form of metric rows.

Every figure of star (accuracy.png after each iteration, `star report`, `star eval`) is
drawn by `plot_panels`; matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


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
                ylabel: str = "eval accuracy", title: str = "", log2x: bool = False,
                point_ticks: bool = True) -> bytes:
    """A grid of panels (up to 3 across), one legend for all, as PNG bytes. `point_ticks`: an x
    tick at every data point (iterations, k); false: matplotlib's own (tokens, seconds)."""
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
        if point_ticks and xs and len(xs) <= 20:
            ax.set_xticks(sorted(xs), [f"{x:g}" for x in sorted(xs)])
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    if title:
        fig.suptitle(title)
    # As many legend columns as the longest label leaves room for (about 16 characters an inch at 8 pt).
    ncol = max(1, min(len(handles), 4, int(fig.get_figwidth() * 16 // (max(map(len, handles), default=1) + 6))))
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, min(0.08 * math.ceil(len(handles) / ncol), 0.3) / rows, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
