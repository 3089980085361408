"""Do independently trained models make the same mistakes? (docs/REPRODUCING.md, "Without gold labels")

    python docs/analysis/agreement.py runs/multirun/label_free_t06 [--iteration 1]

Takes single-model `loop.labels=majority` runs of different seeds on the same task (their
sweep folder, or the run directories), each model's majority answer per training problem
(from iter_NNN/samples.jsonl: the models before that iteration's training), and prints how
often a label is right against the hidden gold when it comes from one model's majority,
from the models' majority (at least 2 of 3), or from all of them agreeing; per digit group.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--iteration", type=int, default=1)
    args = ap.parse_args()

    from omegaconf import OmegaConf

    from star.config import make_task

    dirs = [Path(p.read_text().strip()) for r in args.runs for p in sorted(r.rglob("run_dir.txt"))] or args.runs
    task = make_task(OmegaConf.load(dirs[0] / "config.yaml").task)
    problems = task.load("train")
    majority = []  # per model: problem id -> its majority answer
    for d in dirs:
        preds = collections.defaultdict(list)
        for line in (d / f"iter_{args.iteration:03d}" / "samples.jsonl").read_text().splitlines():
            row = json.loads(line)
            preds[row["problem_id"]].append(row["pred"])
        majority.append({pid: collections.Counter(p for p in ps if p).most_common(1)[0][0]
                         for pid, ps in preds.items() if any(ps)})
    rules = {
        "model 1's majority": lambda answers: answers[0],
        f"at least {len(dirs) // 2 + 1} of {len(dirs)} models": lambda answers: next(
            (a for a, n in collections.Counter(a for a in answers if a).most_common(1) if n > len(dirs) // 2), None),
        f"all {len(dirs)} models": lambda answers: answers[0] if answers[0] and len(set(answers)) == 1 else None,
    }
    print(f"{len(dirs)} models, iteration {args.iteration}'s samples\n")
    print("| label from | group | labeled | right |")
    print("| --- | --- | ---: | ---: |")
    for name, rule in rules.items():
        for group in [None, *sorted({task.groups(p)["digits"] for p in problems})]:
            members = [p for p in problems if group is None or task.groups(p)["digits"] == group]
            labels = {p.id: rule([m.get(p.id) for m in majority]) for p in members}
            labeled = [p for p in members if labels[p.id] is not None]
            right = sum(task.checker.check(p.answer, labels[p.id]) == "correct" for p in labeled)
            print(f"| {name} | {'all' if group is None else f'digits={group}'} | {len(labeled)} | "
                  f"{right} ({100 * right / max(len(labeled), 1):.0f}%) |")


if __name__ == "__main__":
    main()
