"""vLLM generation (`generator=vllm`): the offline engine with LoRA enabled.

The engine loads the starting model once and keeps it for the whole run. Each
iteration's adapter reaches it as a new `LoRARequest` (a new name and id for every
adapter directory), never merged into the weights and never copied: vLLM applies the
low-rank update in its own kernels, beside the base weights. The sampling keys are the
HF backend's (`GeneratorConfig`: temperature, top_p, max_new_tokens; n, stop and seed
per call), mapped to one `SamplingParams` per prompt that samples what the HF backend
samples (`star.generation.decoding_config`): top_k off, no repetition penalty, no min_p,
and every EOS id of the model (`star.generation.eos_token_ids`) as a stop token. The
engine is built with `generation_config="vllm"`: the model's generation_config.json
gives no defaults (vLLM's "auto" would add its EOS ids and cap every request at its
max_new_tokens), so what decodes is what is written here. Tensor and data parallelism
are vLLM's own engine arguments (generator.tensor_parallel_size, data_parallel_size).

GPU memory: the loop calls `release()` before the training stage. With
`generator.release=sleep` (the default) the engine sleeps at level 1: its weights are
copied to CPU RAM and its KV cache is freed (vLLM's sleep mode, made for alternating
generation and training); the next `generate` wakes it, which costs seconds, not a
reload. The trainer, in this process or in `accelerate launch` subprocesses, then has
the GPU. `generator.release=shutdown` deletes the engine instead and builds a new one
on the next `generate` (slower; for platforms without sleep mode).

This module is imported only when `generator.backend=vllm` is selected; without vLLM,
`star.config.check_environment` stops the run before any model work.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from star import models
from star.config import GeneratorConfig, ModelConfig
from star.generation import Completion, eos_token_ids

log = logging.getLogger(__name__)

# The adapter ranks vLLM's LoRA kernels are built for; max_lora_rank must be one of them.
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def lora_rank_slot(r: int) -> int:
    """The smallest rank vLLM supports that holds an adapter of rank r."""
    return next((s for s in LORA_RANKS if s >= r), r)


def engine_args(model: str | Path, cfg: GeneratorConfig, model_cfg: ModelConfig, *, lora_rank: int | None,
                seed: int) -> dict[str, Any]:
    """`vllm.LLM(**engine_args(...))`: the model, dtype, parallelism, memory and LoRA settings."""
    args: dict[str, Any] = {
        "model": str(model), "tokenizer": str(model), "dtype": _dtype(model_cfg), "seed": seed,
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "gpu_memory_utilization": cfg.gpu_memory_utilization, "enforce_eager": cfg.enforce_eager,
        "trust_remote_code": model_cfg.trust_remote_code, "enable_sleep_mode": cfg.release == "sleep",
        # No defaults from the model's generation_config.json: SamplingParams say it all.
        "generation_config": "vllm",
    }
    if cfg.data_parallel_size > 1:
        args["data_parallel_size"] = cfg.data_parallel_size
    if cfg.max_model_len:
        args["max_model_len"] = cfg.max_model_len
    if model_cfg.quantization != "none":  # bitsandbytes weights, quantized as vLLM loads them
        args["quantization"] = "bitsandbytes"
    if lora_rank is not None:
        # One adapter at a time: every request of a call uses the same iteration's adapter.
        args.update(enable_lora=True, max_loras=1, max_lora_rank=lora_rank_slot(cfg.max_lora_rank or lora_rank))
    return args


def _dtype(model_cfg: ModelConfig) -> str:
    """model.dtype as vLLM names it; auto is bf16 (as the HF backend on a GPU), not the checkpoint's."""
    return "bfloat16" if model_cfg.dtype == "auto" else model_cfg.dtype


def sampling_params(budgets: Sequence[int], cfg: GeneratorConfig, *, n: int, temperature: float,
                    stop: Sequence[str], seed: int, stop_token_ids: Sequence[int] = ()) -> list[dict[str, Any]]:
    """One SamplingParams (as keyword arguments) per prompt, from the HF backend's keys.

    The distribution is the HF backend's (`star.generation.decoding_config`): temperature
    and top_p alone, top_k off (-1: "disabled" in every vLLM from 0.8 on; later ones also
    take 0), no repetition, presence or frequency penalty, no min_p; `stop_token_ids` are
    the model's EOS ids. Sampled requests get their own seed (seed + prompt index), so a
    prompt's samples do not depend on what else is in the batch; greedy decoding needs no
    seed and is asked for once (the caller repeats it n times, as the HF backend does)."""
    sampled = temperature > 0
    return [{
        "n": n if sampled else 1, "temperature": temperature, "top_p": cfg.top_p if sampled else 1.0,
        "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
        "max_tokens": min(b, cfg.max_new_tokens), "stop": list(stop) or None,
        "stop_token_ids": list(stop_token_ids) or None,
        "seed": seed + i if sampled else None, "skip_special_tokens": True,
    } for i, b in enumerate(budgets)]


def completion(output: Any) -> Completion:
    """A vLLM CompletionOutput as star's Completion; tokens count the generated ones, EOS excluded.

    vLLM's token_ids hold the token that stopped a request: the EOS (stop_reason None) or
    one of `stop_token_ids` (stop_reason that id), both EOS ids here and not counted; a
    stop string (stop_reason the string) ends at the token that completed it, which counts,
    as in the HF backend. The text never holds the stop token or the stop string."""
    tokens = len(output.token_ids)
    ended_by_eos = output.stop_reason is None or isinstance(output.stop_reason, int)
    if tokens and output.finish_reason == "stop" and ended_by_eos:
        tokens -= 1
    return Completion(output.text, tokens)


class VLLMGenerator:
    """vLLM's offline `LLM` over `model`, with the current adapter as a LoRA request."""

    def __init__(self, model: str | Path, cfg: GeneratorConfig, model_cfg: ModelConfig, *,
                 lora_rank: int | None, seed: int = 0):
        self.model, self.cfg, self.model_cfg = str(model), cfg, model_cfg
        self.lora_rank, self.seed = lora_rank, seed
        self._llm: Any = None
        self._asleep = False
        self._adapter: Any = None  # the LoRARequest generation uses now; None: the base model
        self._ids: dict[str, int] = {}  # adapter directory -> its LoRA id (1, 2, ...)
        self._eos: list[int] | None = None  # the model's EOS ids, read on the first generate

    def use_adapter(self, adapter: Path | None) -> None:
        """Generate with `adapter` (a peft LoRA directory) on top of the model from now on.

        Every adapter directory gets a name and an id of its own: vLLM caches adapters by
        id, so reusing one would serve the previous iteration's weights."""
        if adapter is None:
            self._adapter = None
            return
        if self.lora_rank is None:
            raise ValueError("this engine was built without LoRA; it cannot load an adapter")
        from vllm.lora.request import LoRARequest

        path = str(Path(adapter).resolve())
        lora_id = self._ids.setdefault(path, len(self._ids) + 1)
        name = f"{Path(path).parent.name}-{Path(path).name}-{lora_id}"  # e.g. iter_002-adapter-2
        self._adapter = LoRARequest(name, lora_id, path)
        log.info("vLLM: generating with LoRA adapter %s (id %d)", path, lora_id)

    @property
    def adapter(self) -> Any:
        return self._adapter

    @property
    def eos(self) -> list[int]:
        """The model's EOS ids, as the HF backend stops at them (config files only, no weights)."""
        if self._eos is None:
            tokenizer = models.load_tokenizer(self.model, self.model_cfg)
            self._eos = eos_token_ids(self.model, tokenizer, trust_remote_code=self.model_cfg.trust_remote_code)
        return self._eos

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0,
                 max_new_tokens: int | Sequence[int] = 256, stop: Sequence[str] = (),
                 seed: int = 0, desc: str = "generate") -> list[list[Completion]]:
        """`n` completions per prompt, in prompt order (the Generator protocol)."""
        from vllm import SamplingParams

        budgets = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
        params = [SamplingParams(**p) for p in sampling_params(budgets, self.cfg, n=n, temperature=temperature,
                                                               stop=stop, seed=seed, stop_token_ids=self.eos)]
        llm = self._engine()
        t0 = time.perf_counter()
        outputs = llm.generate(list(prompts), params, lora_request=self._adapter, use_tqdm=self.cfg.progress)
        out = [[completion(c) for c in o.outputs] for o in outputs]
        seconds = max(time.perf_counter() - t0, 1e-9)
        log.info("vLLM %s: %d prompts x %d in %.1fs (%.0f tokens/s)", desc, len(prompts), n, seconds,
                 sum(c.tokens for outs in out for c in outs) / seconds)
        return [outs if len(outs) == n else outs * n for outs in out]  # greedy: one completion, n times

    def release(self) -> None:
        """Hand the GPU to the training stage: sleep (weights to CPU RAM, KV cache freed) or shut down."""
        if self._llm is None or self._asleep:
            return
        if self.cfg.release == "sleep":
            self._llm.sleep(level=1)
            self._asleep = True
            log.info("vLLM engine asleep: GPU memory freed for training")
        else:
            self.shutdown()

    def shutdown(self) -> None:
        """Delete the engine and give its GPU memory back; the next generate builds a new one."""
        llm, self._llm, self._asleep = self._llm, None, False
        if llm is None:
            return
        del llm
        try:  # the engine's process groups (tensor parallelism) outlive the LLM object otherwise
            from vllm.distributed.parallel_state import (
                destroy_distributed_environment,
                destroy_model_parallel,
            )

            destroy_model_parallel()
            destroy_distributed_environment()
        except (ImportError, AssertionError, RuntimeError):  # nothing to destroy
            pass
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        log.info("vLLM engine shut down")

    def _engine(self) -> Any:
        if self._llm is None:
            from vllm import LLM

            args = engine_args(self.model, self.cfg, self.model_cfg, lora_rank=self.lora_rank, seed=self.seed)
            log.info("starting the vLLM engine: %s", args)
            self._llm = LLM(**args)
        elif self._asleep:
            self._llm.wake_up()
            self._asleep = False
        return self._llm
