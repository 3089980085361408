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

Every row ends at its own token budget (a task's per-problem `max_new_tokens`), at one of
the model's EOS ids or at a stop string, whichever comes first, whatever else is in its
batch: one stopping criterion per batch says which rows are done (`generate` pads those and
ends the batch when none is left) and records where each ended, so a greedy row is what it
is alone, and vLLM, which budgets each request, gives the same lengths.

Decoding follows the generator.* keys only (`decoding_config`): greedy at temperature 0,
otherwise temperature and top_p with top_k off and no repetition penalty, whatever the
model's own generation_config.json says (Qwen2.5-Instruct ships top_k 20 and a repetition
penalty of 1.05); its list of EOS ids (a chat model's end of turn) is kept (`eos_token_ids`).
GRPO (TRL's trainer) and the vLLM backend take the same settings from here.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
    StopStringCriteria,
)

from star.config import GeneratorConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completion:
    text: str  # cut before the first stop string
    # Generated tokens, EOS excluded: up to and including the token that completed a stop
    # string (generation ends there), never past it; at most the prompt's budget.
    tokens: int


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


def _ids(value: Any) -> list[int]:
    """An `eos_token_id` field (None, one id, or a list) as a list."""
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]


def eos_token_ids(model: Any, tokenizer: Any, *, trust_remote_code: bool = False) -> list[int]:
    """Every id that ends a completion: the tokenizer's EOS first, then the ids the model's
    generation_config and config declare (a chat model's end-of-turn token, such as Qwen's
    `<|im_end|>` beside `<|endoftext|>`), without repeats.

    `model` is a loaded model (a peft model's base is read) or the directory of a saved one
    (read without its weights: the vLLM backend has no transformers model in hand)."""
    if isinstance(model, (str, Path)):
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(model), trust_remote_code=trust_remote_code)
        try:
            generation = GenerationConfig.from_pretrained(str(model))
        except OSError:  # no generation_config.json: the config's ids alone
            generation = None
    else:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        config, generation = base.config, getattr(base, "generation_config", None)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    found = [*_ids(tokenizer.eos_token_id), *_ids(getattr(generation, "eos_token_id", None)),
             *_ids(getattr(config, "eos_token_id", None)), *_ids(getattr(text, "eos_token_id", None))]
    return list(dict.fromkeys(found))


def decoding_config(model: Any, tokenizer: Any, temperature: float, top_p: float = 1.0,
                    max_new_tokens: int | None = None) -> GenerationConfig:
    """The transformers GenerationConfig of star's decoding (generator.temperature and
    generator.top_p): greedy when temperature is 0, else plain temperature + top-p sampling
    with top_k off (0), no repetition penalty and no other sampling processor; EOS ids from
    `eos_token_ids`, padding with the tokenizer's pad id.

    `generate` still fills the fields left None here (min_p, suppress_tokens, ...) from the
    model's own generation_config; `own_generation_config` keeps those out too. A trainer
    that calls `generate` itself (TRL's GRPOTrainer) samples the same distribution with the
    same values, and with this config as the model's generation_config."""
    eos = eos_token_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(eos), None)
    common: dict[str, Any] = dict(
        eos_token_id=eos, pad_token_id=pad, bos_token_id=tokenizer.bos_token_id, max_new_tokens=max_new_tokens,
        num_beams=1, num_return_sequences=1, repetition_penalty=1.0, encoder_repetition_penalty=1.0,
        no_repeat_ngram_size=0, encoder_no_repeat_ngram_size=0, min_length=0,
        length_penalty=1.0, guidance_scale=1.0, renormalize_logits=False, remove_invalid_values=False,
        use_cache=True, return_dict_in_generate=False, output_scores=False, output_logits=False,
    )
    if temperature > 0:
        return GenerationConfig(do_sample=True, temperature=temperature, top_p=top_p, top_k=0, typical_p=1.0,
                                epsilon_cutoff=0.0, eta_cutoff=0.0, **common)
    # Greedy applies no sampling processor; their fields stay at transformers' defaults
    # (setting top_k=0 without sampling would only draw a warning).
    return GenerationConfig(do_sample=False, temperature=1.0, top_p=1.0, **common)


@contextmanager
def own_generation_config(model: Any, config: GenerationConfig) -> Iterator[None]:
    """Within this block the model's generation_config is `config`: `generate` fills every
    field its `generation_config` argument leaves None (min_p, suppress_tokens, a cache
    implementation, ...) from the model's own, so only this keeps a hub model's defaults
    out entirely. The model's own is put back afterwards (and is what it saves)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    saved, base.generation_config = base.generation_config, config
    try:
        yield
    finally:
        base.generation_config = saved


class RowEnds(StoppingCriteria):
    """Which rows of a batch are done, and where each ended: at one of the EOS ids, at a
    stop string, or at its own token budget. `generate` pads the rows that are done and
    ends the batch when all are; `lengths` gives each row's generated tokens (its EOS
    included)."""

    def __init__(self, start: int, budgets: Sequence[int], eos: Sequence[int],
                 stop: StopStringCriteria | None, device: torch.device):
        self.start = start  # the input's width: generated tokens begin here
        self.budgets = torch.tensor(list(budgets), device=device)
        self.eos = torch.tensor(list(eos), device=device)
        self.stop = stop
        self.ended = torch.zeros(len(budgets), dtype=torch.long, device=device)  # 0: not yet

    def __call__(self, input_ids: torch.LongTensor, scores: Any = None, **kwargs: Any) -> torch.BoolTensor:
        made = input_ids.shape[1] - self.start
        done = torch.isin(input_ids[:, -1], self.eos) | (made >= self.budgets)
        if self.stop is not None:
            done |= self.stop(input_ids, scores)
        done |= self.ended > 0
        self.ended = torch.where(done & (self.ended == 0), made, self.ended)
        return done

    def lengths(self, generated: int) -> list[int]:
        """Each row's generated tokens; a row never seen done ran as long as the batch."""
        return [int(n) if n > 0 else generated for n in self.ended.tolist()]


def row_seed(seed: int, prompt: str, sample: int) -> int:
    """The noise stream of sample `sample` of `prompt` in a generate call seeded `seed`."""
    return int(hashlib.sha256(f"{seed}/{sample}/{prompt}".encode()).hexdigest()[:15], 16)


_MASK64 = (1 << 64) - 1


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


# splitmix64's constants as signed int64 (torch has no uint64 arithmetic; products wrap alike)
_GOLDEN, _MIX1, _MIX2 = _signed(0x9E3779B97F4A7C15), _signed(0xBF58476D1CE4E5B9), _signed(0x94D049BB133111EB)
_STEP = _signed(0xD1B54A32D192ED03)


def _shr(z: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bits (torch's >> is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def uniform_noise(seeds: torch.Tensor, step: int, vocab: int) -> torch.Tensor:
    """Uniform (0, 1) noise of shape (rows, vocab), a pure function of (row seed, step, token):
    splitmix64 over a counter, computed on the scores' device."""
    token = torch.arange(vocab, device=seeds.device, dtype=torch.int64)
    z = seeds[:, None] + _signed((step * _STEP) & _MASK64) + (token[None, :] + 1) * _GOLDEN
    z = (z ^ _shr(z, 30)) * _MIX1
    z = (z ^ _shr(z, 27)) * _MIX2
    z = z ^ _shr(z, 31)
    return (_shr(z, 11).to(torch.float64) + 0.5) / float(1 << 53)


class RowNoise(LogitsProcessor):
    """Adds each row's Gumbel noise to its (tempered, top-p-filtered) log-probabilities, so that
    the greedy choice is an exact sample (the Gumbel-max trick); the noise depends on the row's
    seed and on how many tokens the row has generated, never on the batch."""

    def __init__(self, seeds: Sequence[int], device: torch.device):
        self.seeds = torch.tensor(list(seeds), dtype=torch.int64, device=device)
        self.start: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.start is None:
            self.start = input_ids.shape[1]  # the first step: the prompts end here
        u = uniform_noise(self.seeds, input_ids.shape[1] - self.start, scores.shape[-1])
        gumbel = -torch.log(-torch.log(u))
        return torch.log_softmax(scores.float(), dim=-1) + gumbel.to(torch.float32)


def sampling_processors(temperature: float, top_p: float, seeds: Sequence[int],
                        device: torch.device) -> list[LogitsProcessor]:
    """Temperature, then top-p (transformers' own warpers), then each row's Gumbel noise."""
    from transformers import TemperatureLogitsWarper, TopPLogitsWarper

    out: list[LogitsProcessor] = [TemperatureLogitsWarper(temperature)]
    if top_p < 1.0:
        out.append(TopPLogitsWarper(top_p))
    return [*out, RowNoise(seeds, device)]


class HFGenerator:
    """Batched generation with a transformers model already loaded on its device."""

    def __init__(self, model, tokenizer, cfg: GeneratorConfig):
        self.model, self.tok, self.cfg = model, tokenizer, cfg
        self._cache_arg, self._shares_prefixes = _cache_keyword(model), _attention_cache(model)
        self.eos = eos_token_ids(model, tokenizer)
        self._stops: dict[tuple[str, ...], StopStringCriteria] = {}  # built once per set of stop strings

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
        # Sampling draws from a noise stream of each (seed, prompt, sample) of its own (RowNoise), so a
        # prompt's samples never depend on which prompts share its batch, or on the batch size.
        seeds = {job: row_seed(seed, prompts[job[0]], job[1]) for job in jobs} if temperature > 0 else {}
        total_tokens, t0 = 0, time.perf_counter()
        bar = _bar(len(jobs), desc, self.cfg.progress)
        for start in range(0, len(jobs), self.cfg.batch_size):
            batch = jobs[start:start + self.cfg.batch_size]
            completions = self._batch([encoded[i] for i, _ in batch], [budgets[i] for i, _ in batch],
                                      temperature, stop, [seeds[job] for job in batch] if seeds else None)
            for job, completion in zip(batch, completions, strict=True):
                results[job] = completion
            total_tokens += sum(c.tokens for c in completions)
            bar.update(len(batch))
            bar.set_postfix(tok_s=f"{total_tokens / max(time.perf_counter() - t0, 1e-9):.0f}")
        bar.close()
        for i in range(len(prompts)):
            out[i] = [results[(i, j % reps)] for j in range(n)]
        return out

    @torch.inference_mode()
    def _batch(self, ids: list[list[int]], budgets: list[int], temperature: float,
               stop: Sequence[str], seeds: list[int] | None = None) -> list[Completion]:
        # Sampling is the argmax of the tempered, top-p-filtered logits plus each row's own Gumbel
        # noise (an exact draw from that distribution), so `generate` itself decodes greedily.
        config = decoding_config(self.model, self.tok, 0.0, max_new_tokens=max(budgets))
        processors = [] if seeds is None else sampling_processors(temperature, self.cfg.top_p, seeds,
                                                                   self.model.device)
        pad = config.pad_token_id
        shared = shared_prefix(ids)
        shared = shared if shared >= MIN_SHARED_PREFIX and self._shares_prefixes else 0
        # Rows are [shared prefix][padding][own tokens]; with no shared prefix, left padding.
        tails = [x[shared:] for x in ids]
        width = max(map(len, tails))
        input_ids = torch.tensor([x[:shared] + [pad] * (width - len(t)) + t for x, t in zip(ids, tails, strict=True)],
                                 device=self.model.device)
        mask = torch.tensor([[1] * shared + [0] * (width - len(t)) + [1] * len(t) for t in tails],
                            device=self.model.device)
        ends = RowEnds(shared + width, budgets, self.eos, self._stop_criterion(stop), self.model.device)
        kwargs = {}
        if shared:
            kwargs[self._cache_arg] = self._prefill(ids[0][:shared], len(ids))
        with own_generation_config(self.model, config):
            out = self.model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config,
                                      stopping_criteria=StoppingCriteriaList([ends]),
                                      logits_processor=LogitsProcessorList(processors), **kwargs)
        new = out[:, shared + width:].tolist()
        completions = []
        for row, n in zip(new, ends.lengths(out.shape[1] - shared - width), strict=True):
            tokens = row[:n]
            if tokens and tokens[-1] in self.eos:
                tokens = tokens[:-1]  # the EOS ends the completion; it is not part of it
            completions.append(Completion(truncate_at_stop(self.tok.decode(tokens, skip_special_tokens=True), stop),
                                          len(tokens)))
        return completions

    def _stop_criterion(self, stop: Sequence[str]) -> StopStringCriteria | None:
        """transformers' stop-string matcher (a token may complete a stop string and run past
        it), built once per set of strings: building it reads the whole vocabulary."""
        key = tuple(s for s in stop if s)
        if not key:
            return None
        if key not in self._stops:
            self._stops[key] = StopStringCriteria(tokenizer=self.tok, stop_strings=list(key))
        return self._stops[key]

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
