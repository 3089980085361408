"""Label-free gain against the gold-label gain of the same seeds (docs/REPRODUCING.md, "Without gold labels").

    python docs/analysis/label_free.py --label-free runs/multirun/label_free_voters \
        --gold runs/multirun/gold_t06 runs/multirun/gold_t06_34

Finds every run under the given folders (a sweep's job folders hold `run_dir.txt`, or a
run directory itself), pairs label-free and gold runs by seed, and prints per seed the
starting accuracy (iteration 0, the same cold start in both), each arm's last iteration
and gain, and the label-free share of the gold gain; then the means, a 95% t-interval of
the per-seed gain difference, and the share of the mean gains.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def runs(folders: list[Path]) -> dict[int, list[dict]]:
    """seed -> metrics rows, for every run directory under `folders`."""
    out = {}
    for folder in folders:
        dirs = [Path(p.read_text().strip()) for p in folder.rglob("run_dir.txt")] or [folder]
        for d in dirs:
            if (d / "metrics.jsonl").is_file():
                seed = json.loads((d / "manifest.json").read_text())["seed"]
                out[seed] = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines() if line]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label-free", type=Path, nargs="+", required=True)
    ap.add_argument("--gold", type=Path, nargs="+", required=True)
    args = ap.parse_args()
    free, gold = runs(args.label_free), runs(args.gold)
    seeds = sorted(set(free) & set(gold))
    print("| seed | iteration 0 | gold labels, last | gain | majority labels, last | gain | share of the gold gain |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    gains = []
    for s in seeds:
        start = gold[s][0]["eval/accuracy"]
        assert abs(free[s][0]["eval/accuracy"] - start) < 1e-9, f"seed {s}: the two arms start from different models"
        g, f = gold[s][-1]["eval/accuracy"], free[s][-1]["eval/accuracy"]
        gains.append((g - start, f - start))
        print(f"| {s} | {start:.3f} | {g:.3f} | {g - start:+.3f} | {f:.3f} | {f - start:+.3f} | "
              f"{(f - start) / (g - start):.0%} |")
    from star.evaluation import mean_ci

    mg, mf = statistics.mean(g for g, _ in gains), statistics.mean(f for _, f in gains)
    m, lo, hi = mean_ci([f - g for g, f in gains])
    print(f"\nmean gain: gold {mg:+.3f}, majority {mf:+.3f}; share of the mean gold gain {mf / mg:.0%}; "
          f"majority minus gold {m:+.3f} [{lo:+.3f}, {hi:+.3f}] (95% t-interval over {len(gains)} seeds)")


if __name__ == "__main__":
    main()
