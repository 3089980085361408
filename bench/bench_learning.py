"""Does STaR learn, on every seed, and does rationalization help? A benchmark, not a test.

Runs `star run` (the demo, or whatever overrides you pass) over N seeds, with and without
rationalization, and prints per seed: the overall gain (last iteration minus iteration 0)
and the frontier group's gain (the group with the lowest iteration-0 accuracy, averaged
over the seed's two runs, which share their starting model), then their mean and minimum, and the paired
difference in final frontier-group accuracy (with minus without rationalization), with a
95% t interval over seeds, and the mean rationalization rate of the frontier group at
iteration 1 (hinted attempts that solved a failed problem).

    python bench/bench_learning.py                       # the demo, seeds 0-4, 2 runs at a time
    python bench/bench_learning.py --seeds 0-2 -- task=arithmetic trainer.steps=60
    python bench/bench_learning.py --only-report runs/bench_learning   # re-read finished runs

Each run is an ordinary run directory under --out (resumable: rerunning skips what is
done); `star report --mean-over seed` reads them too. With --jobs 2, each run gets one
thread (two torch processes with two threads each on two cores are several times slower
than either alone).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from star.evaluation import mean_ci


def seeds_arg(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def run_one(out: Path, seed: int, rationalize: bool, overrides: list[str], threads: int) -> tuple[Path, float]:
    name = f"seed{seed}-{'star' if rationalize else 'norat'}"
    cmd = [sys.executable, "-m", "star.cli", "run", f"seed={seed}", f"loop.rationalize={str(rationalize).lower()}",
           f"out_dir={out}", f"run_name={name}", *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    log = out / f"{name}.log"
    with open(log, "a") as f:  # a resumed run appends: the first attempt's cold start stays on record
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed; see {log}")
    return next(out.glob(f"*/{name}")), time.perf_counter() - t0


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def groups(row: dict) -> list[str]:
    return [k.removeprefix("eval/accuracy/") for k in row if k.startswith("eval/accuracy/")]


def report(out: Path, seeds: list[int]) -> None:
    table, gains, frontier_gains, diffs, rates = [], [], [], [], []
    for seed in seeds:
        runs = {r: next(iter(out.glob(f"*/seed{seed}-{'star' if r else 'norat'}")), None) for r in (True, False)}
        if not all(run and (run / "metrics.jsonl").exists() for run in runs.values()):
            print(f"seed {seed}: not finished, skipped")
            continue
        with_r, without = rows(runs[True]), rows(runs[False])
        first = with_r[0]
        frontier = min(groups(first), key=lambda g: first[f"eval/accuracy/{g}"])
        key = f"eval/accuracy/{frontier}"
        for arm, rs in (("with", with_r), ("without", without)):
            gain, fgain = rs[-1]["eval/accuracy"] - rs[0]["eval/accuracy"], rs[-1][key] - rs[0][key]
            table.append((seed, arm, rs[0]["eval/accuracy"], rs[-1]["eval/accuracy"], gain, frontier,
                          rs[0][key], rs[-1][key], fgain, len(rs) - 1))
            if arm == "with":
                gains.append(gain)
                frontier_gains.append(fgain)
        diffs.append(with_r[-1][key] - without[-1][key])
        rates.append(with_r[1].get(f"train/rationalization_rate/{frontier}", math.nan) if len(with_r) > 1 else math.nan)
    print(f"\n{'seed':>4} {'arm':>8} {'iter0':>6} {'last':>6} {'gain':>7} {'frontier':>10} {'f.iter0':>8} "
          f"{'f.last':>7} {'f.gain':>7} {'iters':>5}")
    for seed, arm, a0, a1, g, fr, f0, f1, fg, n in table:
        print(f"{seed:>4} {arm:>8} {a0:6.3f} {a1:6.3f} {g:+7.3f} {fr:>10} {f0:8.3f} {f1:7.3f} {fg:+7.3f} {n:>5}")
    if not gains:
        return
    print(f"\nwith rationalization, over {len(gains)} seeds: gain mean {sum(gains) / len(gains):+.3f} "
          f"min {min(gains):+.3f}; frontier gain mean {sum(frontier_gains) / len(frontier_gains):+.3f} "
          f"min {min(frontier_gains):+.3f}")
    m, lo, hi = mean_ci(diffs)
    print(f"paired difference in final frontier accuracy (with - without): mean {m:+.3f}, 95% CI [{lo:+.3f}, {hi:+.3f}] "
          f"(per seed: {' '.join(f'{d:+.3f}' for d in diffs)})")
    finite = [r for r in rates if not math.isnan(r)]
    if finite:
        print(f"frontier rationalization rate at iteration 1 (failed problems solved with the hint): "
              f"mean {sum(finite) / len(finite):.3f} min {min(finite):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0-4", type=seeds_arg, help="e.g. 0-4 or 0,2,5 (default 0-4)")
    ap.add_argument("--out", default="runs/bench_learning", type=Path)
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per run (default: cores / jobs)")
    ap.add_argument("--only-report", action="store_true", help="read finished runs under --out, run nothing")
    ap.add_argument("overrides", nargs="*", help="star run overrides for every run (after --)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.only_report:
        threads = args.threads or max(1, (os.cpu_count() or 2) // args.jobs)
        # Every seed's first run builds its cold start, which its second run then reuses.
        jobs = [(s, True) for s in args.seeds] + [(s, False) for s in args.seeds]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.jobs) as pool:
            for (seed, r), (run, seconds) in zip(jobs, pool.map(
                    lambda j: run_one(args.out, j[0], j[1], args.overrides, threads), jobs), strict=True):
                print(f"seed {seed} rationalize={str(r).lower()}: {run} ({seconds:.0f} s)", flush=True)
        print(f"all runs: {time.perf_counter() - t0:.0f} s with {args.jobs} at a time, {threads} thread(s) each")
    report(args.out, args.seeds)


if __name__ == "__main__":
    main()
