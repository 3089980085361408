"""Generators: turn prompts into completions, k per prompt, greedy or sampled.

The HF backend batches prompts sorted by (token budget, length), left-pads them and uses
`generate` with the KV cache: similar budgets keep a few runaway outputs from holding a
whole batch, similar lengths waste little padding. The vLLM backend is imported only when
`generator.backend=vllm` is selected.

Few-shot exemplars and system prompts are the same in every prompt of a task, and on a
CPU their prefill costs more than the answers: the HF backend computes the keys and
values of a batch's common token prefix once, copies them to every row, and lets
`generate` continue from that cache with each row's own tokens, padded between the
prefix and the suffix (the attention mask hides the padding and the position ids skip
it, so each row computes what it computes alone).
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from star.config import GeneratorConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int  # generated tokens, EOS excluded


class Generator(Protocol):
    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0,
                 max_new_tokens: int | Sequence[int] = 256, stop: Sequence[str] = (),
                 seed: int = 0, desc: str = "generate") -> list[list[Completion]]:
        """`n` completions per prompt, in prompt order."""
        ...


# A batch's common prefix is computed once when it has at least this many tokens; below
# that, the extra forward pass and cache copy cost about what they save.
MIN_SHARED_PREFIX = 16


def shared_prefix(ids: Sequence[Sequence[int]]) -> int:
    """The length of the token prefix common to all rows, leaving each row at least one
    token of its own (generation continues from a row's last token)."""
    if len(ids) < 2:
        return 0
    return min(len(os.path.commonprefix([list(x) for x in ids])), min(map(len, ids)) - 1)


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    return text if cut < 0 else text[:cut]


class HFGenerator:
    """Batched generation with a transformers model already loaded on its device."""

    def __init__(self, model, tokenizer, cfg: GeneratorConfig):
        self.model, self.tok, self.cfg = model, tokenizer, cfg
        self._cache_arg, self._shares_prefixes = _cache_keyword(model), _attention_cache(model)

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0,
                 max_new_tokens: int | Sequence[int] = 256, stop: Sequence[str] = (),
                 seed: int = 0, desc: str = "generate") -> list[list[Completion]]:
        budgets = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
        budgets = [min(b, self.cfg.max_new_tokens) for b in budgets]
        encoded = self.tok(list(prompts)).input_ids
        # One job per (prompt, sample); greedy decoding gives the same text n times, so do it once.
        reps = n if temperature > 0 else 1
        jobs = [(i, j) for i in range(len(prompts)) for j in range(reps)]
        jobs.sort(key=lambda job: (-budgets[job[0]], -len(encoded[job[0]]), job))
        out: list[list[Completion]] = [[] for _ in prompts]
        results: dict[tuple[int, int], Completion] = {}
        torch.manual_seed(seed)
        total_tokens, t0 = 0, time.perf_counter()
        bar = _bar(len(jobs), desc, self.cfg.progress)
        for start in range(0, len(jobs), self.cfg.batch_size):
            batch = jobs[start:start + self.cfg.batch_size]
            texts, counts = self._batch([encoded[i] for i, _ in batch], max(budgets[i] for i, _ in batch),
                                        temperature, stop)
            for job, text, count in zip(batch, texts, counts, strict=True):
                results[job] = Completion(truncate_at_stop(text, stop), count)
            total_tokens += sum(counts)
            bar.update(len(batch))
            bar.set_postfix(tok_s=f"{total_tokens / max(time.perf_counter() - t0, 1e-9):.0f}")
        bar.close()
        for i in range(len(prompts)):
            out[i] = [results[(i, j % reps)] for j in range(n)]
        return out

    @torch.inference_mode()
    def _batch(self, ids: list[list[int]], budget: int, temperature: float,
               stop: Sequence[str]) -> tuple[list[str], list[int]]:
        pad = self.tok.pad_token_id
        shared = shared_prefix(ids)
        shared = shared if shared >= MIN_SHARED_PREFIX and self._shares_prefixes else 0
        # Rows are [shared prefix][padding][own tokens]; with no shared prefix, left padding.
        tails = [x[shared:] for x in ids]
        width = max(map(len, tails))
        input_ids = torch.tensor([x[:shared] + [pad] * (width - len(t)) + t for x, t in zip(ids, tails, strict=True)],
                                 device=self.model.device)
        mask = torch.tensor([[1] * shared + [0] * (width - len(t)) + [1] * len(t) for t in tails],
                            device=self.model.device)
        kwargs = dict(do_sample=True, temperature=temperature, top_p=self.cfg.top_p) if temperature > 0 \
            else dict(do_sample=False)
        if stop:
            kwargs.update(stop_strings=list(stop), tokenizer=self.tok)
        if shared:
            kwargs[self._cache_arg] = self._prefill(ids[0][:shared], len(ids))
        out = self.model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=budget,
                                  pad_token_id=pad, eos_token_id=self.tok.eos_token_id, use_cache=True,
                                  **kwargs)
        new = out[:, shared + width:].tolist()
        texts, counts = [], []
        for row in new:
            n = next((k for k, t in enumerate(row) if t in (self.tok.eos_token_id, pad)), len(row))
            texts.append(self.tok.decode(row[:n], skip_special_tokens=True))
            counts.append(n)
        return texts, counts

    def _prefill(self, prefix: list[int], rows: int):
        """The KV cache of `prefix`, computed once and repeated for `rows` rows: `generate`
        then feeds only the tokens the cache does not hold."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        self.model(input_ids=torch.tensor([prefix], device=self.model.device), use_cache=True,
                   **{self._cache_arg: cache})
        cache.batch_repeat_interleave(rows)
        return cache


def _cache_keyword(model) -> str:
    """The cache's keyword: `cache` in recent transformers 5 releases, `past_key_values` before."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _attention_cache(model) -> bool:
    """Whether the model's cache holds keys and values only: a recurrent layer's state
    (Mamba-style) would run over the padding between prefix and suffix, and `generate`
    does not continue such a cache from a prefix."""
    from transformers import DynamicCache

    try:
        return not any(getattr(DynamicCache(config=model.config), "is_linear", None) or ())
    except Exception:  # a config DynamicCache cannot read: the plain path
        return False


def _bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="seq", leave=False, disable=None if enabled else True)  # None: only on a terminal
