"""Is the majority right? Pseudo-label precision by vote share (docs/REPRODUCING.md, "Without gold labels").

    python docs/analysis/votes.py runs/arithmetic/label_free-<hash> [--iteration 1]

For one iteration of a `loop.labels=majority` run, groups each training problem's k
samples (iter_NNN/samples.jsonl) by their extracted answer, and prints, for each size of
the largest group (the majority's votes out of k), how many problems had it and how often
that majority answer equals the gold answer, which the task still has but training never
saw. Self-consistency can only teach where the majority is right more often than not.
For a run with `loop.voters=m` (samples of voter i numbered from i k), the rows are how
many of the m models' plurality answers agree, instead.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--iteration", type=int, default=1)
    args = ap.parse_args()

    from omegaconf import OmegaConf

    from star.config import make_task

    cfg = OmegaConf.load(args.run / "config.yaml")
    task = make_task(cfg.task)
    voters = int(OmegaConf.select(cfg, "loop.voters", default=1))
    gold = {p.id: p.answer for p in task.load("train")}
    by: dict[str, list[str | None]] = collections.defaultdict(list)
    for line in (args.run / f"iter_{args.iteration:03d}" / "samples.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            by[row["problem_id"]].append(row["pred"])
    if voters > 1:  # each voter's plurality answer (None on a tie) is one ballot
        per = max(len(v) for v in by.values()) // voters
        by = {pid: [_plurality(preds[i * per:(i + 1) * per]) for i in range(voters)] for pid, preds in by.items()}
    table: dict[int, list[int]] = collections.defaultdict(lambda: [0, 0])
    k = max(len(v) for v in by.values())
    for pid, preds in by.items():
        votes = collections.Counter(p for p in preds if p is not None)
        if not votes:
            continue
        answer, n = votes.most_common(1)[0]
        table[n][0] += 1
        table[n][1] += gold.get(pid) is not None and task.checker.check(gold[pid], answer) == "correct"
    print(f"| majority {'models' if voters > 1 else 'votes'} (of {k}) | problems | majority right |")
    print("| ---: | ---: | ---: |")
    for n in sorted(table):
        total, right = table[n]
        print(f"| {n} | {total} | {right} ({100 * right / total:.0f}%) |")


def _plurality(preds: list[str | None]) -> str | None:
    top = collections.Counter(p for p in preds if p is not None).most_common(2)
    return top[0][0] if top and (len(top) == 1 or top[1][1] < top[0][1]) else None


if __name__ == "__main__":
    main()
