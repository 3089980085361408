"""Does a run's starting model read the hint? (docs/REPRODUCING.md, "What the hint does")

    python docs/analysis/hint_use.py runs/bench_learning/arithmetic/seed0-star [--group digits=3] [-n 300]

For a run of an arithmetic task, loads its starting model (the cached cold start, rebuilt
if missing) and, on up to n training-pool problems of the group, decodes greedily three
ways: without a hint, with the right hint (the gold answer), and with a wrong hint (the
gold plus 10^k for a random place k). It prints the accuracy of each, how often the output
follows the wrong hint, how many of the problems failed without a hint the right hint
solves, and how many of those hinted answers come with the exact worked scratchpad (every
line right, not only the final answer). A model that ignores the hint scores the same
with the right and the wrong one.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--group", default="digits=3")
    ap.add_argument("-n", type=int, default=300)
    args = ap.parse_args()

    from omegaconf import OmegaConf

    from star.checkers import CheckPool
    from star.cold_start import starting_model
    from star.config import make_task, to_config
    from star.generation import HFGenerator
    from star.models import load_model, load_tokenizer, quiet_libraries

    quiet_libraries()
    composed = OmegaConf.load(args.run / "config.yaml")
    cfg, task = to_config(composed), make_task(composed.task)
    kind, value = args.group.split("=")
    problems = [p for p in task.load("train") if task.groups(p).get(kind) == value][: args.n]
    if not problems:
        sys.exit(f"no training problem in group {args.group}")
    with CheckPool(1, 5.0) as pool:
        base = starting_model(cfg.model, task, cfg.seed, pool)
    gen = HFGenerator(load_model(base, cfg.model), load_tokenizer(base, cfg.model), cfg.generator)
    budget = [task.max_new_tokens(p) for p in problems]
    rng = random.Random(0)
    wrong = {p.id: str(int(p.answer) + 10 ** rng.randrange(len(p.answer))) for p in problems}

    def decode(hint) -> list[str]:
        prompts = [task.prompt(p, hint=hint(p)) for p in problems]
        return [o[0].text for o in gen.generate(prompts, max_new_tokens=budget, desc="hint-use")]

    plain, right, bad = decode(lambda p: None), decode(lambda p: p.answer), decode(lambda p: wrong[p.id])
    n = len(problems)

    def acc(texts: list[str]) -> float:
        return sum(task.extract_answer(t) == p.answer for t, p in zip(texts, problems, strict=True)) / n

    follows = sum(task.extract_answer(t) == wrong[p.id] for t, p in zip(bad, problems, strict=True)) / n
    failed = [i for i, p in enumerate(problems) if task.extract_answer(plain[i]) != p.answer]
    solved = [i for i in failed if task.extract_answer(right[i]) == problems[i].answer]
    exact = [i for i in solved if right[i].strip() == task.solve(problems[i]).strip()]
    print(f"{args.run} ({args.group}, {n} training problems, starting model {base})")
    print(f"  accuracy: no hint {acc(plain):.3f}, right hint {acc(right):.3f}, wrong hint {acc(bad):.3f}; "
          f"output follows the wrong hint {follows:.3f}")
    print(f"  of {len(failed)} problems failed without a hint, the right hint solves {len(solved)} "
          f"({len(solved) / max(len(failed), 1):.3f}); exact worked scratchpad in {len(exact)} of those "
          f"({len(exact) / max(len(solved), 1):.3f})")


if __name__ == "__main__":
    main()
