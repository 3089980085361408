"""Verifier scoring throughput against generation throughput of the same model, in one run.

On the demo's cold-started model and eval prompts: star's HFGenerator samples k
completions per prompt at T=0.7 (what `star eval` does), then star.verifiers scores every
one of them, as a DPO verifier (two forward passes: the adapter on, and off for the
reference) and as an outcome reward model (one pass through the value-head model). The
adapters are untrained LoRA adapters of the verifiers' shape (verifier.lora.*), or the ones
of a trained verifier with --dpo/--orm FOLDER: throughput does not depend on the weights.
Prints candidates/s and tokens/s for each, and scoring's speed as a multiple of
generation's (these machines are shared: the ratio from one run is what to compare).

With --run RUN_DIR, it also times, back to back in this process, a STaR iteration's
training of that run (iteration 1's train.jsonl, the run's trainer.* keys and step
schedule) and the training of each verifier named by --train (a verifier's own pairs and
config, into a scratch folder), and prints each verifier's time as a multiple of the STaR
iteration's: run directories record their stages' seconds, but on a shared machine only
times taken side by side compare.

    python bench/bench_verifier.py [--prompts 200] [--k 4] [--dpo RUN/verifier/dpo-...] [--orm ...]
    python bench/bench_verifier.py --run RUN_DIR --train dpo-1234 orm-5678 [--skip-scoring]
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
from star import verifiers
from star.config import GeneratorConfig, VerifierConfig
from star.generation import HFGenerator
from star.models import load_model, load_tokenizer


def train_times(run: Path, names: list[str]) -> None:
    """STaR iteration 1's training of `run`, then each named verifier's, timed side by side."""
    import json
    import tempfile

    from omegaconf import OmegaConf

    from star.config import Config, to_config
    from star.iteration import seed_for
    from star.rundir import read_jsonl
    from star.training import finetune, steps_for
    from star.types import Example

    cfg = to_config(OmegaConf.load(run / "config.yaml"), Config)
    base = Path(json.loads((run / "manifest.json").read_text())["models"]["starting_model"]["path"])
    examples = [Example.from_dict(r) for r in read_jsonl(run / "iter_001" / "train.jsonl")]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        stats = finetune(base, examples, cfg.trainer, Path(tmp) / "star", steps=steps_for(cfg.trainer, 1),
                         seed=seed_for(cfg.seed, 1, "train"), model_cfg=cfg.model)
        star_s = time.perf_counter() - t0
        print(f"STaR iteration 1 training: {stats['steps']} steps on {len(examples)} examples in {star_s:.1f} s "
              f"(the run recorded {json.loads((run / 'iter_001' / 'seconds.json').read_text())['adapter']:.1f} s)")
        for name in names:
            folder = verifiers.resolve(run, name)
            meta = verifiers.info(folder)
            made = [verifiers.Pair.from_dict(r) for r in read_jsonl(folder / "pairs.jsonl")]
            vcfg = to_config(meta["config"], VerifierConfig)
            out = Path(tmp) / folder.name / "adapter"
            out.parent.mkdir(parents=True)
            t0 = time.perf_counter()
            v = verifiers.OBJECTIVES[vcfg.objective].train(base, made, vcfg, cfg.model, out, meta["seed"])
            seconds = time.perf_counter() - t0
            print(f"verifier {folder.name}: {v['steps']} steps on {len(made)} pairs in {seconds:.1f} s "
                  f"= {seconds / star_s:.2f}x the STaR iteration's training (recorded: {meta['train']['seconds']:.1f} s)")


def fresh_scorer(objective: str, base: Path, cfg) -> verifiers.Scorer:
    """A scorer with an untrained adapter of the verifiers' shape (B moved off zero, so the
    adapter's matmuls are not skipped and the DPO score is not identically zero)."""
    from peft import get_peft_model

    vcfg = VerifierConfig(objective=objective)
    tok = load_tokenizer(base, cfg.model)
    if objective == "dpo":
        model = get_peft_model(load_model(base, cfg.model, merge=False), verifiers.lora_config(vcfg, "CAUSAL_LM"))
    else:
        model = get_peft_model(verifiers.value_model(base, cfg.model, torch.device("cpu"), tok),
                               verifiers.lora_config(vcfg, "SEQ_CLS"))
    with torch.no_grad():
        for name, w in model.named_parameters():
            if "lora_B" in name:
                w.normal_(0, 0.01)
    model.eval()
    return verifiers.DPOScorer(model, tok, vcfg.beta) if objective == "dpo" else verifiers.ORMScorer(model, tok)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--k", type=int, default=4, help="samples per prompt")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dpo", type=Path, default=None, help="a trained DPO verifier's folder (else a fresh adapter)")
    ap.add_argument("--orm", type=Path, default=None, help="a trained ORM verifier's folder (else a fresh adapter)")
    ap.add_argument("--run", type=Path, default=None, help="a run directory: time its STaR training beside --train's")
    ap.add_argument("--train", nargs="*", default=[], metavar="VERIFIER", help="verifiers of --run to retrain, timed")
    ap.add_argument("--skip-scoring", action="store_true", help="only the training times (with --run)")
    args = ap.parse_args()
    if args.run is not None:
        train_times(args.run, args.train)
        if args.skip_scoring:
            return
    cfg, task = demo_config(f"task.eval_size={args.prompts}")
    base = demo_model(cfg, task)
    problems = task.load("eval")
    prompts = [task.prompt(p) for p in problems]
    budgets = [task.max_new_tokens(p) or cfg.generator.max_new_tokens for p in problems]

    tok, model = load_tokenizer(base, cfg.model), load_model(base, cfg.model)
    gen = HFGenerator(model, tok, GeneratorConfig(batch_size=args.batch, progress=False))
    t0 = time.perf_counter()
    outs = gen.generate(prompts, n=args.k, temperature=0.7, max_new_tokens=budgets, stop=list(task.stop), seed=0)
    gen_s = time.perf_counter() - t0
    completions = [c.text for cs in outs for c in cs]
    cand_prompts = [p for p, cs in zip(prompts, outs, strict=True) for _ in cs]
    gen_tokens = sum(c.tokens for cs in outs for c in cs)
    del gen, model

    print(f"prompts={len(prompts)} k={args.k} candidates={len(completions)} threads={torch.get_num_threads()}")
    print(f"generation (HFGenerator, T=0.7)  {len(completions) / gen_s:8.1f} candidates/s  "
          f"{gen_tokens / gen_s:9.0f} generated tokens/s  ({gen_s:.1f} s)")
    for objective, folder in (("dpo", args.dpo), ("orm", args.orm)):
        scorer = (verifiers.load(folder, base, cfg.model) if folder is not None
                  else fresh_scorer(objective, base, cfg))
        scorer.score(cand_prompts[:32], completions[:32])  # warm-up: first-call allocations
        before = scorer.cost()
        scorer.score(cand_prompts, completions)
        after = scorer.cost()
        seconds, tokens = after["seconds"] - before["seconds"], after["tokens"] - before["tokens"]
        rate = len(completions) / seconds
        print(f"scoring {objective} ({scorer.passes} pass{'es' if scorer.passes > 1 else ''}"
              f"{', trained' if folder else ', fresh adapter'})  {rate:8.1f} candidates/s  "
              f"{tokens / seconds:9.0f} forward tokens/s  ({seconds:.1f} s)  "
              f"= {rate / (len(completions) / gen_s):.1f}x generation's candidates/s")


if __name__ == "__main__":
    main()
