"""Generation throughput of generator=ray against generator=hf, and whether the local
CheckPool keeps up with generation (docs/SCALE.md quotes this script).

On the demo's prompts (task=arithmetic defaults: the training pool, each problem's own
token budget, greedy) and the demo's cold-started tiny model (`--model fresh`: a freshly
built tiny one, no cold start), in one run:
  - generator=hf in this process (torch's threads: the machine's; and 1 thread; best of 2),
  - generator=ray with 1 replica of 1 thread,
  - generator=ray with 2 replicas of 1 thread each (0.5 CPU reserved each),
each on a local Ray instance started once (its start is printed, not counted). For each
Ray run: the wall time of the call, the time to its first shard, the seconds spent inside
the replicas' HFGenerator.generate, and from them Ray's overhead per batch (shard):
    start-up  = time to the first shard - that shard's generate seconds
                (actors start, import torch, load the model)
    per batch = (wall - start-up - replica seconds / replicas) / (shards / replicas)
                (about 0, or below: Ray hands a replica its next shard while it works)
Then checks/s of a local CheckPool (check.workers, default 2) on realistic answers: the
arithmetic completions just generated (extracted and checked as the loop does),
GSM8K-style numbers and MATH-style LaTeX (bench_checkers' generators; unique pairs, so no
deduplication helps), against the generation rate in completions/s.

    python bench/bench_ray.py [--prompts 256] [--shard-size 32] [--model cold|fresh] [--checks 2000]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import demo_config, demo_model  # noqa: E402
from star.config import GeneratorConfig, ReplicaResources, TinyConfig  # noqa: E402
from star.generation import HFGenerator  # noqa: E402
from star.models import build_tiny, load_model, load_tokenizer  # noqa: E402
from star.prompting import render  # noqa: E402


def hf_run(base: Path, cfg, prompts, budgets, stop, threads: int) -> tuple[float, list]:
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = HFGenerator(load_model(base, cfg.model), load_tokenizer(base, cfg.model), replace(cfg.generator, progress=False))
        gen.generate(prompts[:8], max_new_tokens=budgets[:8], stop=stop)  # warm-up: one-time costs
        best = float("inf")
        for _ in range(2):  # best of 2: these machines are shared
            t0 = time.perf_counter()
            out = gen.generate(prompts, max_new_tokens=budgets, stop=stop)
            best = min(best, time.perf_counter() - t0)
        return best, out
    finally:
        torch.set_num_threads(saved)


def ray_run(base: Path, cfg, gcfg: GeneratorConfig, prompts, budgets, stop):
    from star.ray_generator import RayGenerator, replica_spec

    gen = RayGenerator(replica_spec(base, None, True, gcfg, cfg.model))
    out = gen.generate(prompts, max_new_tokens=budgets, stop=stop)
    return gen.stats, out


def checks_per_second(pool, checker, pairs) -> float:
    t0 = time.perf_counter()
    pool.check(checker, pairs)
    return len(pairs) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=256, help="training problems generated for (default 256)")
    ap.add_argument("--shard-size", type=int, default=32)
    ap.add_argument("--model", choices=("cold", "fresh"), default="cold")
    ap.add_argument("--checks", type=int, default=2000, help="pairs per checker rate (default 2000)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    cfg, task = demo_config("generator=ray")
    if args.model == "cold":
        base = demo_model(cfg, task)
    else:
        import tempfile

        base = build_tiny(Path(tempfile.mkdtemp()) / "tiny", TinyConfig(), seed=0)
    tok = load_tokenizer(base, cfg.model)
    problems = task.load("train")[: args.prompts]
    prompts = [render(task.prompt(p), tok) for p in problems]
    budgets = [task.max_new_tokens(p) or cfg.generator.max_new_tokens for p in problems]
    stop = list(task.stop)

    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=torch.get_num_threads() if torch.get_num_threads() > 1 else 2, include_dashboard=False,
             logging_level="WARNING")
    ray_start = time.perf_counter() - t0

    hf_s, hf_out = hf_run(base, cfg, prompts, budgets, stop, torch.get_num_threads())
    hf1_s, _ = hf_run(base, cfg, prompts, budgets, stop, 1)
    tokens = sum(c[0].tokens for c in hf_out)
    one = replace(cfg.generator, num_replicas=1, shard_size=args.shard_size, progress=False,
                  resources=ReplicaResources(cpus=0.5, threads=1))
    runs = {"ray, 1 replica x 1 thread": ray_run(base, cfg, one, prompts, budgets, stop),
            "ray, 2 replicas x 1 thread": ray_run(base, cfg, replace(one, num_replicas=2), prompts, budgets, stop)}

    print(f"model={args.model} ({base.name}) prompts={len(prompts)} tokens={tokens} shard_size={args.shard_size} "
          f"machine threads={torch.get_num_threads()}; ray.init {ray_start:.1f}s (not counted)")
    print(f"{'run':34s} {'wall s':>7s} {'tokens/s':>9s} {'x hf':>6s}  {'start-up s':>10s} {'per batch s':>11s}")
    hf_name = f"hf in-process, {torch.get_num_threads()} threads"
    print(f"{hf_name:34s} {hf_s:7.1f} {tokens / hf_s:9.0f} {1:6.2f}")
    print(f"{'hf in-process, 1 thread':34s} {hf1_s:7.1f} {tokens / hf1_s:9.0f} {hf_s / hf1_s:6.2f}")
    for name, (stats, out) in runs.items():
        assert out == hf_out, f"{name}: greedy completions differ from generator=hf"
        n = max(len(stats.replicas), 1)
        startup = stats.first_s - (stats.replica_s[0] if stats.replica_s else 0)
        per_batch = (stats.wall_s - startup - sum(stats.replica_s) / n) / max(stats.shards / n, 1)
        print(f"{name:34s} {stats.wall_s:7.1f} {tokens / stats.wall_s:9.0f} {hf_s / stats.wall_s:6.2f}  "
              f"{startup:10.1f} {per_batch:11.3f}   (in replicas {sum(stats.replica_s):.1f}s, {stats.shards} shards)")
    s1, s2 = runs["ray, 1 replica x 1 thread"][0], runs["ray, 2 replicas x 1 thread"][0]
    steady1 = sum(s1.replica_s) / 1
    steady2 = sum(s2.replica_s) / max(len(s2.replicas), 1)
    print(f"ratios: ray-2 / ray-1 wall {s1.wall_s / s2.wall_s:.2f}x; in replicas (start-up excluded) "
          f"{steady1 / steady2:.2f}x; hf 1 thread / ray-1 in replicas {hf1_s / steady1:.2f}x")

    # --- checking: does the local pool keep up? -------------------------------------------
    from bench.bench_checkers import latex_pairs, number_pairs
    from star.checkers import CheckPool, get_checker

    gen_rate = len(prompts) / hf_s
    answers = [(p.answer, task.extract_answer(c[0].text)) for p, c in zip(problems, hf_out, strict=True)]
    with CheckPool(cfg.check.workers, cfg.check.timeout) as pool:
        pool.check(get_checker("math"), latex_pairs(8, seed=99))  # workers started, sympy imported
        rates = {f"arithmetic completions ({task.checker.__class__.__name__})":
                 checks_per_second(pool, task.checker, answers * max(1, args.checks // len(answers))),
                 "GSM8K-style numbers (numeric)": checks_per_second(pool, get_checker("numeric"),
                                                                    number_pairs(args.checks)),
                 "MATH-style LaTeX (math)": checks_per_second(pool, get_checker("math"),
                                                              latex_pairs(args.checks // 4))}
        stats = dict(pool.stats)
    print(f"checking, CheckPool(workers={cfg.check.workers}): generation here {gen_rate:.1f} completions/s")
    for name, rate in rates.items():
        print(f"  {name:48s} {rate:9.0f} checks/s  ({rate / gen_rate:.0f}x generation here)")
    print(f"  pool: {stats}")


if __name__ == "__main__":
    main()
