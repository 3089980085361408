"""Iteration 0 across seeds: what the cold start hands the loop (docs/REPRODUCING.md, "The cold start").

    python docs/analysis/iter0.py runs/bench_learning/arithmetic/seed*-star
    python docs/analysis/iter0.py runs/coldstart/arithmetic/old_s*

For each run directory, prints the starting model's eval accuracy overall and per group
(iteration 0 of metrics.jsonl) and, where bench/bench_learning.py left the run's log
beside its task folder (`<out>/<run name>.log`), the number of steps the criterion-driven
cold start took. Then the mean, minimum, maximum and standard deviation of each column.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path


def main() -> None:
    runs = [Path(a) for a in sys.argv[1:]]
    if not runs:
        sys.exit(__doc__)
    table: list[tuple[str, dict[str, float]]] = []
    for run in runs:
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
        row = next(r for r in rows if r.get("iteration") == 0)
        cols = {"overall": row["eval/accuracy"]}
        cols |= {k.removeprefix("eval/accuracy/"): v for k, v in row.items() if k.startswith("eval/accuracy/")}
        log = run.parent.parent / f"{run.name}.log"
        text = log.read_text() if log.exists() else ""
        if m := re.search(r"stopped after (\d+) steps", text):
            cols["cold-start steps"] = float(m.group(1))
        elif (m := re.search(r"starting model (\S+)", text)) and (Path(m.group(1)) / "train_log.json").exists():
            cols["cold-start steps"] = float(json.loads((Path(m.group(1)) / "train_log.json").read_text())["steps"])
        table.append((run.name, cols))
    names = list(dict.fromkeys(k for _, cols in table for k in cols))
    print("| run | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    fmt = {n: (lambda v: f"{v:.0f}") if n == "cold-start steps" else (lambda v: f"{100 * v:.1f}") for n in names}
    for name, cols in table:
        print(f"| {name} | " + " | ".join(fmt[n](cols[n]) if n in cols else "-" for n in names) + " |")
    for label, fn in [("mean", statistics.mean), ("min", min), ("max", max), ("sd", statistics.stdev)]:
        cells = []
        for n in names:
            xs = [cols[n] for _, cols in table if n in cols]
            cells.append(fmt[n](fn(xs)) if len(xs) >= (2 if label == "sd" else 1) else "-")
        print(f"| **{label}** | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
