"""Generation throughput of the HF backend on the demo model and prompts.

Compares, on the same model and the same prompts (greedy, same token budgets):
  - star's HFGenerator (batched, length-sorted, left-padded, KV cache),
  - a hand-written batched greedy loop with a KV cache (the ceiling for plain PyTorch),
  - batch-1 generation (what a naive loop over prompts gets).
Prints tokens/s for each (best of 3 runs; batch 1: one run) and the ratios from the same
run (these machines are shared).

    python bench/bench_generation.py [--prompts 512] [--batch 256] [--batch1-prompts 48]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import demo_config, demo_model  # noqa: E402
from star.config import GeneratorConfig
from star.generation import HFGenerator
from star.models import load_model, load_tokenizer


@torch.inference_mode()
def handwritten_greedy(model, tok, prompts: list[str], budget: int, batch: int) -> int:
    """Batched greedy decoding with an explicit KV cache; returns generated tokens (EOS excluded)."""
    from transformers import DynamicCache

    total = 0
    enc = tok(prompts).input_ids
    order = sorted(range(len(enc)), key=lambda i: -len(enc[i]))
    for s in range(0, len(order), batch):
        ids = [enc[i] for i in order[s:s + batch]]
        w = max(map(len, ids))
        x = torch.tensor([[tok.pad_token_id] * (w - len(r)) + r for r in ids])
        mask = torch.tensor([[0] * (w - len(r)) + [1] * len(r) for r in ids])
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        done = torch.zeros(len(ids), dtype=torch.bool)
        out = model(input_ids=x, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True)
        for _ in range(budget):
            nxt = out.logits[:, -1].argmax(-1)
            total += int((~done).sum())
            done |= nxt == tok.eos_token_id
            if done.all():
                break
            mask = torch.cat([mask, torch.ones(len(ids), 1, dtype=mask.dtype)], 1)
            pos = pos[:, -1:] + 1
            out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos,
                        past_key_values=out.past_key_values, use_cache=True)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=512)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batch1-prompts", type=int, default=48)
    args = ap.parse_args()
    cfg, task = demo_config(f"task.eval_size={args.prompts}")
    base = demo_model(cfg, task)
    tok, model = load_tokenizer(base), load_model(base, cfg.model)
    problems = task.load("eval")
    prompts = [task.prompt(p) for p in problems]
    budget = max(task.max_new_tokens(p) for p in problems)

    def timed(fn, repeat: int = 3):
        """Best of `repeat` runs (tokens/s, tokens): a first run pays one-time costs."""
        best = (0.0, 0)
        for _ in range(repeat):
            t0 = time.perf_counter()
            n = fn()
            best = max(best, (n / (time.perf_counter() - t0), n))
        return best

    gen = HFGenerator(model, tok, GeneratorConfig(batch_size=args.batch, progress=False))
    star_tps, star_n = timed(lambda: sum(c[0].tokens for c in gen.generate(prompts, max_new_tokens=budget)))
    hand_tps, hand_n = timed(lambda: handwritten_greedy(model, tok, prompts, budget, args.batch))
    one = HFGenerator(model, tok, GeneratorConfig(batch_size=1, progress=False))
    few = prompts[: args.batch1_prompts]
    b1_tps, _ = timed(lambda: sum(c[0].tokens for c in one.generate(few, max_new_tokens=budget)), repeat=1)
    print(f"prompts={len(prompts)} budget={budget} batch={args.batch} threads={torch.get_num_threads()}")
    print(f"star HFGenerator       {star_tps:9.0f} tokens/s  ({star_n} tokens)")
    print(f"hand-written KV loop   {hand_tps:9.0f} tokens/s  ({hand_n} tokens)")
    print(f"batch-1 generate       {b1_tps:9.0f} tokens/s  ({len(few)} prompts)")
    print(f"ratio star / hand-written: {star_tps / hand_tps:.2f}x  (target >= 0.8x)")
    print(f"ratio star / batch-1:      {star_tps / b1_tps:.1f}x  (target >= 20x)")


if __name__ == "__main__":
    main()
