"""GPU benchmark: the heavy stages of one STaR iteration at real size (a benchmark, not a test).

A Qwen2-0.5B-shaped model (random weights, built from its config: no download), in bf16
on one CUDA GPU, on the arithmetic task's prompts and worked rationales:

- HF generation (star's HFGenerator: batched, length-sorted, KV cache): tokens/s;
- LoRA training (star's finetune: packed rows, transformers' Trainer): tokens/s;
- the peak GPU memory of each stage;
- where vLLM is installed: vLLM generation on the same prompts with the same budgets,
  on the base model and with the LoRA adapter just trained as a LoRA request, and the
  vLLM / HF ratio, all measured in the same run.

A random model almost never emits EOS, so every completion runs to its budget and both
engines generate the same number of tokens.

    python bench/bench_gpu.py [--shape qwen2-0.5b] [--prompts 256] [--new-tokens 256] [--steps 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

log = logging.getLogger("bench_gpu")


def require_cuda() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA GPU, and torch.cuda.is_available() is False here. "
                         "It measures bf16 generation and training on a GPU; on a CPU, see "
                         "bench/bench_generation.py and bench/bench_training.py.")


def prompts_and_examples(n: int):
    """The arithmetic task's few-shot-free prompts and its worked rationales (as training examples)."""
    from star.prompting import render
    from star.tasks.arithmetic import Arithmetic
    from star.types import Example

    task = Arithmetic(train_size=n, eval_size=8, train_digits=[1, 2, 3, 4, 5], eval_digits=[1],
                      seed_examples=[100, 300, 300, 200, 100])
    prompts = [render(task.prompt(p), None) for p in task.load("train")]
    examples = [Example(prompt=render(task.prompt(p), None), completion=c, problem_id=p.id)
                for p, c in task.seed_rationales()]
    return prompts, examples


def peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30


def fresh_memory() -> None:
    import gc

    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def timed_generate(gen, prompts: list[str], budget: int) -> tuple[float, int]:
    """Seconds and generated tokens for one greedy pass over `prompts` (after a short warm-up)."""
    gen.generate(prompts[:8], max_new_tokens=8, desc="warm-up")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    outs = gen.generate(prompts, max_new_tokens=budget, desc="bench")
    torch.cuda.synchronize()
    return time.perf_counter() - t0, sum(c.tokens for o in outs for c in o)


def bench_hf(base: Path, prompts: list[str], args) -> dict:
    from star.config import GeneratorConfig, ModelConfig
    from star.generation import HFGenerator
    from star.models import load_model, load_tokenizer

    fresh_memory()
    model_cfg = ModelConfig(name_or_path=str(base))  # dtype auto: bf16 on the GPU
    model = load_model(base, model_cfg)
    gen = HFGenerator(model, load_tokenizer(base, model_cfg),
                      GeneratorConfig(batch_size=args.batch_size, max_new_tokens=args.new_tokens, progress=False))
    seconds, tokens = timed_generate(gen, prompts, args.new_tokens)
    out = {"dtype": str(model.dtype), "params": sum(p.numel() for p in model.parameters()),
           "seconds": seconds, "tokens": tokens, "peak_gib": peak_gib()}
    del gen, model
    fresh_memory()
    return out


def bench_train(base: Path, examples, out: Path, args) -> dict:
    from star.config import ModelConfig, TrainConfig
    from star.training import finetune

    fresh_memory()
    cfg = TrainConfig(steps=args.steps, batch_size=args.train_batch, seq_len=args.seq_len, lr=2e-4,
                      warmup_steps=2, progress=False)
    stats = finetune(base, examples, cfg, out, seed=0, model_cfg=ModelConfig(name_or_path=str(base)))
    stats["peak_gib"] = peak_gib()
    fresh_memory()
    return stats


def bench_vllm(base: Path, adapter: Path, prompts: list[str], args) -> dict:
    from star.config import GeneratorConfig, ModelConfig
    from star.vllm_generator import VLLMGenerator

    gen = VLLMGenerator(base, GeneratorConfig(backend="vllm", max_new_tokens=args.new_tokens, progress=False,
                                              gpu_memory_utilization=args.vllm_memory),
                        ModelConfig(name_or_path=str(base)), lora_rank=16, seed=0)
    t0 = time.perf_counter()
    gen.use_adapter(None)
    base_s, base_tokens = timed_generate(gen, prompts, args.new_tokens)
    startup = time.perf_counter() - t0 - base_s
    gen.use_adapter(adapter)
    lora_s, lora_tokens = timed_generate(gen, prompts, args.new_tokens)
    gen.shutdown()
    return {"base_seconds": base_s, "base_tokens": base_tokens, "lora_seconds": lora_s,
            "lora_tokens": lora_tokens, "startup_seconds": startup}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="qwen2-0.5b", help="a model shape from star.models.SHAPES")
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=128, help="HF generation batch")
    ap.add_argument("--steps", type=int, default=20, help="LoRA optimizer steps")
    ap.add_argument("--train-batch", type=int, default=8, help="packed rows per step")
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--vllm-memory", type=float, default=0.5, help="vLLM gpu_memory_utilization")
    args = ap.parse_args()
    require_cuda()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    from star.models import build_shaped

    prompts, examples = prompts_and_examples(args.prompts)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        base = build_shaped(Path(tmp) / args.shape, args.shape, device="cuda")
        build_s = time.perf_counter() - t0
        hf = bench_hf(base, prompts, args)
        train = bench_train(base, examples, Path(tmp) / "adapter", args)
        vllm = (bench_vllm(base, Path(tmp) / "adapter", prompts, args)
                if importlib.util.find_spec("vllm") else None)
    report(args, hf, train, vllm, build_s)


def report(args, hf: dict, train: dict, vllm: dict | None, build_s: float) -> None:
    import transformers

    hf_tps = hf["tokens"] / hf["seconds"]
    train_tps = train["tokens"] / train["seconds"]
    lines = [
        f"device: {torch.cuda.get_device_name()} | torch {torch.__version__} | transformers {transformers.__version__}",
        f"model: {args.shape} shape, random weights, {hf['params'] / 1e6:.0f}M parameters, {hf['dtype']} "
        f"(built in {build_s:.1f}s)",
        f"HF generation   {hf_tps:9.0f} tokens/s  ({hf['tokens']} tokens, {args.prompts} prompts x "
        f"{args.new_tokens} new, batch {args.batch_size}, {hf['seconds']:.1f}s)  peak {hf['peak_gib']:.1f} GiB",
        f"LoRA training   {train_tps:9.0f} tokens/s  ({args.steps} steps x {args.train_batch} rows x "
        f"{args.seq_len} tokens, fill {train['fill']:.2f}, {train['seconds']:.1f}s, loss "
        f"{train['loss_first']:.2f} -> {train['loss_last']:.2f})  peak {train['peak_gib']:.1f} GiB",
    ]
    if vllm is None:
        lines.append("vLLM: not installed here (pip install 'star[vllm]'), no vLLM figures")
    else:
        base_tps = vllm["base_tokens"] / vllm["base_seconds"]
        lora_tps = vllm["lora_tokens"] / vllm["lora_seconds"]
        lines += [
            f"vLLM generation {base_tps:9.0f} tokens/s  (same prompts and budgets; engine start "
            f"{vllm['startup_seconds']:.0f}s)",
            f"vLLM + LoRA     {lora_tps:9.0f} tokens/s  (the adapter above as a LoRA request)",
            f"ratio vLLM / HF: {base_tps / hf_tps:.1f}x (base), {lora_tps / hf_tps:.1f}x (with LoRA)",
        ]
    print("\n".join(lines))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
