"""The example tasks' runs as tables (docs/figures/new_tasks.md): what each iteration did.

    python docs/analysis/new_tasks.py RUN_DIR [RUN_DIR ...]            # markdown tables
    python docs/analysis/new_tasks.py --plot out.png --title T RUN_DIR ...   # and a figure

For each run directory (a `star run` of one seed), from its metrics.jsonl: the cold start
(steps, whether the probe reached its target, the last probe overall and per group), then
one row per iteration: eval accuracy overall and per group, and the training side (problems
solved without a hint, rationalized with one, accepted; correct samples with a false step,
`train/unfaithful` and, of the hinted ones, `train/unfaithful_hinted`, where the task has
`check_steps`; the rationalization rate). Then, over all runs, a summary line per run: the
gain (last iteration minus iteration 0) overall and per group. With `--plot`, eval accuracy
per iteration, overall and per group, one line per run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def rows(run: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]


def groups(rs: list[dict[str, Any]]) -> list[str]:
    names = {k.removeprefix("eval/accuracy/") for r in rs for k in r if k.startswith("eval/accuracy/")}
    return sorted(names)


def pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def num(v: Any) -> str:
    return "-" if v is None else f"{v:.0f}" if isinstance(v, (int, float)) else str(v)


def run_table(run: Path) -> str:
    rs = rows(run)
    gs = groups(rs)
    first = rs[0]
    probe = " ".join(f"{k.removeprefix('cold_start/probe/')} {v:.2f}" for k, v in first.items()
                     if k.startswith("cold_start/probe/"))
    out = [f"**{run.name}** (`{run}`): cold start {num(first.get('cold_start/steps'))} steps, "
           f"target reached: {first.get('cold_start/reached')}; last probe: {probe or '-'}", ""]
    head = ["iter", "overall", *gs, "solved", "rationalized", "accepted", "unfaithful (hinted)", "rationalization rate"]
    out += ["| " + " | ".join(head) + " |", "|" + " ---: |" * len(head)]
    for r in rs:
        unfaithful = "-" if "train/unfaithful" not in r else \
            f"{num(r['train/unfaithful'])} ({num(r.get('train/unfaithful_hinted'))})"
        solved = "" if "train/solved" not in r else f"{num(r['train/solved'])}/{num(r.get('train/problems'))}"
        cells = [str(r["iteration"]), pct(r["eval/accuracy"]), *(pct(r.get(f"eval/accuracy/{g}")) for g in gs),
                 solved, num(r.get("train/rationalized", "")) if "train/rationalized" in r else "",
                 num(r["train/accepted"]) if "train/accepted" in r else "", unfaithful if r["iteration"] else "",
                 pct(r.get("train/rationalization_rate")) if r["iteration"] else ""]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def gains(runs: list[Path]) -> str:
    all_groups = sorted({g for run in runs for g in groups(rows(run))})
    head = ["run", "iter 0", "last", "gain", *(f"gain {g}" for g in all_groups)]
    out = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for run in runs:
        rs = rows(run)
        a, b = rs[0], rs[-1]
        cells = [run.name, pct(a["eval/accuracy"]), pct(b["eval/accuracy"]),
                 f"{b['eval/accuracy'] - a['eval/accuracy']:+.3f}"]
        for g in all_groups:
            k = f"eval/accuracy/{g}"
            cells.append(f"{b[k] - a[k]:+.2f}" if k in a and k in b else "-")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def plot(runs: list[Path], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gs = groups(rows(runs[0]))
    fig, axes = plt.subplots(1, 1 + len(gs), figsize=(3.2 * (1 + len(gs)), 3), sharey=True)
    for ax, key, label in zip(axes, ["eval/accuracy", *(f"eval/accuracy/{g}" for g in gs)], ["overall", *gs],
                              strict=True):
        for run in runs:
            rs = rows(run)
            ax.plot([r["iteration"] for r in rs], [r.get(key) for r in rs], marker="o", label=run.name)
        ax.set_title(label)
        ax.set_xlabel("iteration")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("eval accuracy")
    axes[-1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    for run in args.runs:
        print(run_table(run), end="\n\n")
    print(gains(args.runs))
    if args.plot:
        plot(args.runs, args.plot, args.title)


if __name__ == "__main__":
    main()
