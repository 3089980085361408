"""How a run's completions look, iteration by iteration (docs/REPRODUCING.md, SmolLM2).

    python docs/analysis/completions.py runs/mental_arithmetic/<run> [--format REGEX]

For every iteration's eval.jsonl (greedy, no hint) it prints: accuracy; the share of
completions in the exemplars' format (`--format`, by default mental_arithmetic's
"a + b = c. The answer is c."); the share with no answer the task can extract (format
drift); the share that ran to the task's token budget for the problem (runaway length,
recomputed from the task); the mean number of tokens; and the share whose equation and
stated answer disagree ("a + b = c. The answer is d." with c != d). For the hinted
attempts of the training side (rationalized.jsonl) it prints how many were accepted, how
many restate the hinted answer in the exemplars' format with nothing else (the hinted
answer copied, no reasoning added), and how many were rejected for naming the hint.
Then, for completions in the format, the wrong answers by their distance d from the true
sum a + b: a carry slip (|d| a power of ten, 10 or more), the units digit (|d| < 10), or
farther (a misaligned place value, as "61 + 7 = 128"). Last, each iteration's gain over iteration 0 on the same eval problems: the mean of the
per-problem differences (1 correct, 0 not) with a 95% normal-approximation interval.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import re
from pathlib import Path

FORMAT = r"^(\d+) \+ (\d+) = (-?\d+)\. The answer is (-?\d+)\.$"


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--format", default=FORMAT, help="regex of the exemplars' format")
    args = ap.parse_args()

    from omegaconf import OmegaConf

    from star.config import make_task

    task = make_task(OmegaConf.load(args.run / "config.yaml").task)
    problems = {p.id: p for split in ("train", "eval") for p in task.load(split)}
    fmt = re.compile(args.format)
    gains, errors = [], []
    base: dict[str, bool] | None = None
    print("| iter | eval acc | in format | no answer | at token budget | mean tokens | equation != answer "
          "| hinted accepted | ... copied answer only | rejected (names the hint) |")
    print("| ---: |" + " ---: |" * 9)
    for it in sorted(args.run.glob("iter_*")):
        ev = rows(it / "eval.jsonl")
        if not ev:
            continue
        n = len(ev)
        matches = [fmt.match(r["completion"].strip()) for r in ev]
        at_budget = sum(r["tokens"] >= task.max_new_tokens(problems[r["problem_id"]]) for r in ev)
        disagree = sum(1 for m in matches if m and m.lastindex and m.lastindex >= 4 and m.group(3) != m.group(4))
        rat = rows(it / "rationalized.jsonl")
        kept = [r for r in rat if r["verdict"] == "correct" and not r.get("rejected")]
        copied = sum(1 for r in kept if fmt.match(r["completion"].strip()))
        rejected = sum(1 for r in rat if r.get("rejected"))
        kinds = collections.Counter()
        for r, m in zip(ev, matches, strict=True):
            if m and r["verdict"] != "correct" and r["pred"] is not None and re.fullmatch(r"-?\d+", r["pred"]):
                d = abs(int(r["pred"]) - (int(m.group(1)) + int(m.group(2))))
                kinds["carry slip" if d >= 10 and str(d).strip("0") == "1" else "units" if d < 10 else "farther"] += 1
        errors.append((it.name, kinds))
        right = {r["problem_id"]: r["verdict"] == "correct" for r in ev}
        base = base if base is not None else right
        diffs = [right[k] - base[k] for k in right if k in base]
        m = sum(diffs) / len(diffs)
        sd = math.sqrt(sum((d - m) ** 2 for d in diffs) / max(1, len(diffs) - 1))
        gains.append((it.name, m, 1.96 * sd / math.sqrt(len(diffs)), len(diffs)))
        pct = lambda k, n=n: f"{100 * k / n:.1f}%"  # noqa: E731
        print(f"| {int(it.name[5:])} | {pct(sum(r['verdict'] == 'correct' for r in ev))} | {pct(sum(map(bool, matches)))} "
              f"| {pct(sum(r['pred'] is None for r in ev))} | {pct(at_budget)} "
              f"| {sum(r['tokens'] for r in ev) / n:.1f} | {pct(disagree)} "
              f"| {len(kept) if rat else '-'} | {copied if rat else '-'} | {rejected if rat else '-'} |")
    print()
    for name, kinds in errors:
        print(f"{name}: wrong answers in the format: " + ", ".join(f"{k} {kinds[k]}" for k in ("carry slip", "units", "farther")))
    print()
    for name, m, half, n in gains[1:]:
        print(f"{name}: gain over iteration 0 {m:+.3f}, 95% interval [{m - half:+.3f}, {m + half:+.3f}] ({n} problems)")


if __name__ == "__main__":
    main()
