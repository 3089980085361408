"""Training throughput of star's fine-tuning stage against a plain PyTorch loop.

Same model (the demo's tiny model with the demo's LoRA config), same packed batches, same
number of optimizer steps: star.training.finetune (transformers' Trainer) vs a plain loop
(forward, backward, AdamW step). Prints tokens/s for each and their ratio.

    python bench/bench_training.py [--steps 60] [--examples 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import demo_config, demo_model  # noqa: E402
from star.cold_start import cold_start_examples
from star.models import load_tokenizer
from star.training import _trainable, finetune, pack, tokenize


def plain_loop(base: Path, rows, cfg, steps: int, model_cfg) -> float:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base_model = AutoModelForCausalLM.from_pretrained(str(base))
    base_model.config.use_cache = False  # as finetune: a cache would drop the packed-row mask
    model = _trainable(base_model, cfg, None)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(len(rows), (cfg.batch_size,), generator=g)
        batch = {k: torch.stack([rows[i][k] for i in idx]) for k in rows[0]}
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--examples", type=int, default=600)
    args = ap.parse_args()
    cfg, task = demo_config()
    base = demo_model(cfg, task)
    examples = cold_start_examples(task, task.seed_rationales(), cfg.model, cfg.seed)[: args.examples]
    tcfg = cfg.trainer
    tcfg.progress = False
    tok = load_tokenizer(base)
    rows = pack(tokenize(examples, tok, tcfg.seq_len), tcfg.seq_len, tok.pad_token_id, 0)
    tokens = args.steps * tcfg.batch_size * tcfg.seq_len
    with tempfile.TemporaryDirectory() as out:
        stats = finetune(base, examples, tcfg, Path(out), steps=args.steps, seed=0, model_cfg=cfg.model)
    plain_s = plain_loop(base, rows, tcfg, args.steps, cfg.model)
    star_tps, plain_tps = tokens / stats["seconds"], tokens / plain_s
    print(f"steps={args.steps} batch={tcfg.batch_size}x{tcfg.seq_len} tokens method={tcfg.method} "
          f"threads={torch.get_num_threads()}")
    print(f"star finetune (Trainer) {star_tps:9.0f} tokens/s  ({stats['seconds']:.1f} s)")
    print(f"plain torch loop        {plain_tps:9.0f} tokens/s  ({plain_s:.1f} s)")
    print(f"ratio star / plain: {star_tps / plain_tps:.2f}x  (target >= 0.8x)")


if __name__ == "__main__":
    main()
