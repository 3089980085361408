"""The verifier table over seeds: maj@k, bon@k, wmaj@k and pass@k of each run's `star eval
--verifier` files, per seed, then the mean over seeds with its 95% t-interval, overall and per
group, and bon@k's share of the maj@k-pass@k gap; with two verifier names, their paired
difference per seed.

    python docs/analysis/verifier_seeds.py RUN... [--verifier dpo] [--against orm] [--k 16] [--plot F.png]

RUN is a run directory that `star eval RUN --verifier NAME eval.k=...,16` has scored
(its eval_k/eval-<settings>/scaling-<NAME>.json); NAME is an objective (dpo, orm) or a
verifier's folder name (dpo-<key>), matched as a prefix, and must match one verifier per run.
Reads files only: no model is loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from star.evaluation import mean_ci
from star.verifiers import named

METRICS = ("maj", "bon", "wmaj", "pass")


def rows(run: Path, name: str, k: int) -> dict[int, dict[str, float]]:
    """Iteration -> the scaling row's values at k, from the run's one scaling-<name>-*.json with k samples."""
    found = sorted(p for p in run.glob(f"eval_k/eval-*/scaling-{name}*.json")
                   if not p.stem.endswith("_tokens") and named(p.stem.removeprefix("scaling-"), name))
    if not found:
        raise SystemExit(f"{run}: no eval_k/eval-*/scaling-{name}*.json (run star eval {run} --verifier {name} "
                         f"eval.k=1,4,{k})")
    names = sorted({p.stem.removeprefix("scaling-") for p in found})
    if len(names) > 1:
        raise SystemExit(f"{run}: {len(names)} verifiers match {name!r} ({', '.join(names)}): name one")
    out: dict[int, dict[str, float]] = {}
    for f in found:  # several files (one per settings folder): later iterations fill in
        for r in json.loads(f.read_text()):
            if f"eval/maj@{k}" in r:
                out.setdefault(r["iteration"], {}).update(r)
    return out


def groups(row: dict[str, float], k: int) -> list[str]:
    return sorted(key.split("/", 2)[2] for key in row if key.startswith(f"eval/maj@{k}/") and not key.endswith(("_lo", "_hi")))


def share(row: dict[str, float], k: int, metric: str = "bon", group: str = "") -> float | None:
    g = f"/{group}" if group else ""
    gap = row[f"eval/pass@{k}{g}"] - row[f"eval/maj@{k}{g}"]
    return None if gap <= 0 else (row[f"eval/{metric}@{k}{g}"] - row[f"eval/maj@{k}{g}"]) / gap


def fmt(xs: list[float], unit: str = "") -> str:
    m, lo, hi = mean_ci(xs)
    return f"{m * 100:.1f}{unit} [{lo * 100:.1f}, {hi * 100:.1f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--verifier", default="dpo")
    ap.add_argument("--against", default=None, help="a second verifier name: its paired difference at the first iteration")
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--plot", type=Path, help="a PNG: the mean over seeds (95%% band) against k, one panel an iteration")
    args = ap.parse_args(argv)
    k = args.k
    per_run = {run: rows(run, args.verifier, k) for run in args.runs}
    iterations = sorted(set.intersection(*(set(r) for r in per_run.values())))
    print(f"verifier {args.verifier}, k={k}: per seed (maj / bon / wmaj / pass, %; bon's and wmaj's share of the gap)")
    for run, by_it in per_run.items():
        for t in iterations:
            r = by_it[t]
            vals = " / ".join(f"{r[f'eval/{m}@{k}'] * 100:.1f}" for m in METRICS)
            s, w = share(r, k), share(r, k, "wmaj")
            print(f"  {run.name:<14} iter {t}: {vals}   bon {s if s is None else f'{s:.0%}'}  wmaj "
                  f"{w if w is None else f'{w:.0%}'}")
    print(f"\n| iteration | group | maj@{k} | bon@{k} | wmaj@{k} | pass@{k} | bon@{k}'s share of the gap | wmaj@{k}'s |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in iterations:
        first = next(iter(per_run.values()))[t]
        for g in ["", *groups(first, k)]:
            sfx = f"/{g}" if g else ""
            cells = [fmt([by_it[t][f"eval/{m}@{k}{sfx}"] for by_it in per_run.values()]) for m in METRICS]
            shares = [[share(by_it[t], k, m, g) for by_it in per_run.values()] for m in ("bon", "wmaj")]
            sh = [fmt([x for x in xs if x is not None], "%") if all(x is not None for x in xs) else "-" for xs in shares]
            print(f"| {t} | {g or 'overall'} | " + " | ".join(cells) + f" | {sh[0]} | {sh[1]} |")
    if args.plot:
        plot(per_run, iterations, args.plot, args.verifier)
    if args.against:
        other = {run: rows(run, args.against, k) for run in args.runs}
        t = iterations[0]
        for m in ("bon", "wmaj"):
            d = [per_run[run][t][f"eval/{m}@{k}"] - other[run][t][f"eval/{m}@{k}"] for run in args.runs]
            print(f"\n{args.verifier} - {args.against}, {m}@{k} at iteration {t}: per seed "
                  + ", ".join(f"{x * 100:+.1f}" for x in d) + f"; mean {fmt(d)} points")
    return 0


def plot(per_run: dict[Path, dict[int, dict[str, float]]], iterations: list[int], out: Path, name: str) -> None:
    from star.plots import Line, plot_panels

    colors = {"maj": "tab:blue", "bon": "tab:red", "wmaj": "tab:purple", "pass": "tab:gray"}
    panels = {}
    for t in iterations:
        first = next(iter(per_run.values()))[t]
        ks = sorted(int(key.split("@")[1]) for key in first if key.startswith("eval/maj@") and key.count("/") == 1
                    and not key.endswith(("_lo", "_hi")))
        lines = []
        for m in METRICS:
            stats = [mean_ci([by_it[t][f"eval/{m}@{k}"] for by_it in per_run.values()]) for k in ks]
            lines.append(Line(f"{m}@k", ks, [x[0] for x in stats], [x[1] for x in stats], [x[2] for x in stats],
                              color=colors[m], style="--" if m == "pass" else "-"))
        panels[f"iteration {t}"] = lines
    out.write_bytes(plot_panels(panels, xlabel="k (samples per problem)", log2x=True,
                                title=f"verifier {name}: mean of {len(per_run)} seeds (95% interval)"))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
