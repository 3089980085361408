"""Right answers through wrong steps, per iteration, and which groups improve together
(docs/REPRODUCING.md, "The paper's experiment")

    python docs/analysis/unfaithful.py runs/paper/arithmetic/seed0-filter runs/paper/arithmetic/seed0-nofilter \
        [--group digits=4] [--gain 0.10] [--within 2] [--format markdown]

Reads each run's metrics.jsonl (a task with `check_steps` logs `train/unfaithful*` every
iteration, whatever `loop.process_filter` is) and prints, per run and iteration:
correct samples with a false step that the accepted set kept (`train/unfaithful_accepted`),
those found among unhinted and among hinted attempts, the accuracy of --group, and the
held-out groups whose accuracy rose by at least --gain over iteration 0 within the first
--within iterations: the paper's "several lengths improving at once" is two or more of
them. Groups whose eval problems are not held out (`eval/accuracy_held_out` exists and the
group is fully seen in training, like 1-digit sums) can be left out with --skip.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path}: no metrics.jsonl (not a run directory, or no iteration finished)")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: not JSON ({e.msg})") from None
    return sorted(rows, key=lambda r: r["iteration"])


def groups(rows: list[dict]) -> list[str]:
    prefix = "eval/accuracy/"
    return sorted({k[len(prefix):] for r in rows for k in r if k.startswith(prefix)})


def improving(rows: list[dict], gain: float, within: int, skip: set[str]) -> list[str]:
    """Groups whose accuracy at some iteration 1..within is at least `gain` above iteration 0's."""
    base = next((r for r in rows if r["iteration"] == 0), None)
    if base is None:
        return []
    out = []
    for g in groups(rows):
        if g in skip or f"eval/accuracy/{g}" not in base:
            continue
        early = [r[f"eval/accuracy/{g}"] for r in rows if 1 <= r["iteration"] <= within and f"eval/accuracy/{g}" in r]
        if early and max(early) - base[f"eval/accuracy/{g}"] >= gain:
            out.append(g)
    return out


def cell(v) -> str:
    return "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--group", default="digits=4", help="the group whose accuracy curve is printed")
    ap.add_argument("--gain", type=float, default=0.10)
    ap.add_argument("--within", type=int, default=2)
    ap.add_argument("--skip", default="digits=1", help="comma-separated groups left out of the improving count")
    args = ap.parse_args(argv)
    skip = {g for g in args.skip.split(",") if g}

    print("| run | iter | accepted unfaithful | found unhinted | found hinted | "
          f"{args.group} accuracy |")
    print("|---|---:|---:|---:|---:|---:|")
    summary = []
    for run in args.runs:
        rows = load(run)
        if not any("train/unfaithful_accepted" in r for r in rows):
            raise SystemExit(f"{run}: no train/unfaithful_* in metrics.jsonl: its task has no check_steps hook")
        for r in rows:
            print(f"| {run.name} | {r['iteration']} | {cell(r.get('train/unfaithful_accepted'))} | "
                  f"{cell(r.get('train/unfaithful'))} | {cell(r.get('train/unfaithful_hinted'))} | "
                  f"{cell(r.get(f'eval/accuracy/{args.group}'))} |")
        up = improving(rows, args.gain, args.within, skip)
        summary.append(f"{run.name}: {len(up)} group(s) +{args.gain:.2f} within {args.within} "
                       f"iteration(s): {', '.join(up) or 'none'}")
    print()
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
