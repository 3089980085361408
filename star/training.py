"""Fine-tuning on accepted rationales: LoRA (peft) or full, loss on the completion only.

Examples are packed into rows of `seq_len` tokens with position ids restarting at each
example; with no attention mask, transformers detects the packing from the position ids
and builds a block-diagonal causal mask, so examples in a row never attend to each other.
Packing keeps the whole batch useful (padding random batches wastes about half the
compute, and grouping batches by length hurts learning). The optimizer loop is
transformers' Trainer, in this process; it also runs unchanged under `accelerate launch`
(DDP, FSDP, DeepSpeed), where each rank of star.train_process calls `finetune` (that
module alone decides which way a stage trains). Every rank packs the same rows (same seed); the sampler
deals the batches out, so N processes of `batch_size` B see the global batches of one
process of N x B. The logged loss is the mean over ranks, the same number on each;
only rank 0 writes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from star.config import ModelConfig, TrainConfig
from star.models import device_for, dtype_for, from_pretrained, load_tokenizer
from star.types import Example

log = logging.getLogger(__name__)

IGNORE = -100


def steps_for(cfg: TrainConfig, iteration: int) -> int:
    """Optimizer steps at STaR iteration t >= 1: steps * growth ** (t - 1), capped (paper: 40 x 1.2)."""
    if iteration < 1:
        raise ValueError(f"iterations count from 1, got {iteration}")
    n = int(round(cfg.steps * cfg.step_growth ** (iteration - 1)))
    return min(n, cfg.max_steps) if cfg.max_steps else n


def tokenize(examples: Sequence[Example], tokenizer, seq_len: int) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per example; prompt tokens carry IGNORE so only the completion is learned."""
    eos = tokenizer.eos_token_id
    prompts = tokenizer([e.prompt for e in examples]).input_ids
    completions = tokenizer([e.completion for e in examples], add_special_tokens=False).input_ids
    out, dropped = [], 0
    for p, c in zip(prompts, completions, strict=True):
        ids = p + c + [eos]
        if len(ids) > seq_len:
            dropped += 1
            continue
        out.append((ids, [IGNORE] * len(p) + c + [eos]))
    if dropped:
        log.warning("dropped %d of %d examples longer than trainer.seq_len=%d tokens",
                    dropped, len(examples), seq_len)
    return out


def pack(tokenized: Sequence[tuple[list[int], list[int]]], seq_len: int, pad_id: int,
         seed: int) -> list[dict[str, torch.Tensor]]:
    """Greedy packing, in a seeded random order, into rows of exactly seq_len tokens."""
    order = list(range(len(tokenized)))
    random.Random(seed).shuffle(order)
    rows: list[dict[str, torch.Tensor]] = []
    ids: list[int] = []
    labels: list[int] = []
    pos: list[int] = []

    def flush() -> None:
        fill = seq_len - len(ids)
        rows.append({
            "input_ids": torch.tensor(ids + [pad_id] * fill),
            "labels": torch.tensor(labels + [IGNORE] * fill),
            "position_ids": torch.tensor(pos + list(range(fill))),  # padding is its own block
        })
        ids.clear(), labels.clear(), pos.clear()

    for i in order:
        x, y = tokenized[i]
        if len(ids) + len(x) > seq_len:
            flush()
        ids.extend(x), labels.extend(y), pos.extend(range(len(x)))
    if ids:
        flush()
    return rows


class _Rows(torch.utils.data.Dataset):
    def __init__(self, rows: list[dict[str, torch.Tensor]]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.rows[i]


def _collate(batch: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([b[k] for b in batch]) for k in batch[0]}


class StepBar(TrainerCallback):
    """A quiet progress bar over the trainer's steps (rank 0 only), showing the last logged
    value of `shown` (the loss, GRPO's reward)."""

    def __init__(self, enabled: bool, desc: str = "train", shown: str = "loss", total: int | None = None):
        self.enabled, self.desc, self.shown, self.total, self.bar = enabled, desc, shown, total, None

    def on_train_begin(self, args, state, control, **kw):
        if self.enabled and state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total or state.max_steps, desc=self.desc, unit="step", leave=False,
                            disable=None)

    def on_log(self, args, state, control, logs=None, **kw):
        if self.bar is not None and logs and self.shown in logs:
            self.bar.set_postfix({self.shown: f"{logs[self.shown]:.3f}"})

    def on_step_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.update(1)

    def on_train_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.close()


class _Record(StepBar):
    """Keeps the per-step losses (for train_log.json) and drives the progress bar."""

    def __init__(self, progress: bool):
        super().__init__(progress)
        self.losses: list[float] = []

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))
        super().on_log(args, state, control, logs=logs, **kw)


def finetune(base: str | Path, examples: Sequence[Example], cfg: TrainConfig, out: Path, *,
             steps: int | None = None, seed: int, model_cfg: ModelConfig,
             init_adapter: Path | None = None, merge: bool = False,
             callbacks: Sequence[TrainerCallback] = ()) -> dict[str, Any]:
    """Fine-tune `base` (plus `init_adapter`, to continue from a previous iteration's LoRA
    adapter) on `examples` for at most `steps` optimizer steps (a callback may stop it
    earlier) and save into `out`: a LoRA adapter, or, for full fine-tuning or
    `merge=True`, a whole model with its tokenizer. Returns the stats also written to
    `out/train_log.json`. Runs in this process (as one rank, under a launcher)."""
    steps = cfg.steps if steps is None else steps
    if not examples:
        raise ValueError("nothing to train on: the accepted set is empty")
    tok = load_tokenizer(base, model_cfg)
    rows = pack(tokenize(examples, tok, cfg.seq_len), cfg.seq_len, tok.pad_token_id, seed)
    if not rows:
        raise ValueError(f"every example is longer than trainer.seq_len={cfg.seq_len}")
    device = _rank_device(device_for(model_cfg))
    torch.manual_seed(seed)
    # The Trainer moves a plain model to this rank's device; a quantized one loads onto it.
    model = from_pretrained(base, model_cfg, device, place=False)
    # No cache also keeps packing sound: with one, transformers skips the packed-sequence
    # detection from the position ids and packed examples attend to each other.
    model.config.use_cache = False
    if model_cfg.quantization != "none":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif cfg.gradient_checkpointing:
        # Non-reentrant checkpointing works with DDP and with frozen inputs (LoRA).
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = _trainable(model, cfg, init_adapter)

    args = TrainingArguments(
        output_dir=str(out / ".trainer"), max_steps=steps, per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.lr,
        lr_scheduler_type=cfg.lr_scheduler, warmup_steps=min(cfg.warmup_steps, steps),
        weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm, logging_steps=1,
        save_strategy="no", report_to="none", seed=seed, data_seed=seed, disable_tqdm=True,
        remove_unused_columns=False, use_cpu=device.type == "cpu", dataloader_num_workers=0,
        bf16=dtype_for(model_cfg, device) == torch.bfloat16, log_level="warning",
        ddp_find_unused_parameters=False,  # every trainable weight gets a gradient every step
    )
    record = _Record(cfg.progress)
    trainer = Trainer(model=model, args=args, train_dataset=_Rows(rows), data_collator=_collate,
                      callbacks=[record, *callbacks])
    trainer.pop_callback(PrinterCallback)  # it prints every log dict; _Record shows the loss
    trainer.pop_callback(ProgressCallback)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    done = trainer.state.global_step  # fewer than `steps` when a callback stopped training
    stats = {
        "init": {"model": str(base), "adapter": str(init_adapter) if init_adapter else None},
        "examples": len(examples), "rows": len(rows), "steps": done, "seconds": round(seconds, 3),
        "processes": trainer.args.world_size,
        "tokens": done * cfg.batch_size * cfg.grad_accum * cfg.seq_len * trainer.args.world_size,
        "fill": round(sum(int((r["labels"] != IGNORE).sum()) for r in rows) / (len(rows) * cfg.seq_len), 3),
        "loss_first": record.losses[0] if record.losses else math.nan,
        "loss_last": record.losses[-1] if record.losses else math.nan,
        "losses": record.losses,
    }
    _save(trainer, out, merge=merge and cfg.method == "lora")
    if trainer.is_world_process_zero():
        if merge or cfg.method == "full":
            tok.save_pretrained(str(out))
        (out / "train_log.json").write_text(json.dumps(stats, indent=2) + "\n")
        shutil.rmtree(out / ".trainer", ignore_errors=True)
    return stats


def _rank_device(device: torch.device) -> torch.device:
    """This process's GPU under a launcher (LOCAL_RANK), else the configured device."""
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def _save(trainer: Trainer, out: Path, *, merge: bool) -> None:
    """Rank 0 writes the adapter (or model) into `out`. Under a launcher every rank calls
    the Trainer's save, which gathers FSDP / ZeRO-3 shards into a full state dict first."""
    if merge:  # cold start: one process, the LoRA update folded into the weights
        if trainer.args.world_size > 1:
            raise ValueError("merging a LoRA adapter needs the whole model in one process")
        trainer.model.merge_and_unload().save_pretrained(str(out))
        return
    if trainer.is_fsdp_enabled:
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        (out / "training_args.bin").unlink(missing_ok=True)  # the Trainer's pickle; not ours to keep


def _trainable(model, cfg: TrainConfig, init_adapter: Path | None):
    if cfg.method == "full":
        if init_adapter is not None:
            raise ValueError("trainer.method=full cannot continue from a LoRA adapter")
        return model
    if cfg.method != "lora":
        raise ValueError(f"trainer.method: expected lora or full, got {cfg.method!r}")
    import warnings

    from peft import LoraConfig, PeftModel, get_peft_model

    if init_adapter is not None:
        return PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(cfg.lora.target_modules), task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft warns about gradient checkpointing on every call
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(model, lora)
