"""Packed examples never see each other, in the forward pass training really runs.

docs/ARCHITECTURE.md ("Training details"): rows carry position ids restarting per example
and no attention mask, and transformers builds a block-diagonal causal mask from the
position ids. Checked here inside `training.finetune` itself (its tokenize, pack, collate,
model loading, LoRA wrapping and transformers' Trainer): a hook on the model the Trainer
calls compares, in the training forward pass, every packed example's logits with that
example's logits computed alone by the same weights. The examples are found from their
tokens, not from the position ids under test. It holds only while the model runs without a
cache (finetune sets `config.use_cache=False`, and so does transformers' Trainer from
`TrainingArguments.use_cache`): with one (the saved config's default), transformers skips
the packed-sequence detection and examples attend across their boundaries.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from star import training
from star.config import LoraConfig, ModelConfig, TinyConfig, TrainConfig
from star.models import build_tiny, load_tokenizer
from star.types import Example

SEQ_LEN = 64
EXAMPLES = [Example(prompt=f"Q: {a}+{b}\nA:", completion=f" {a}+{b} is {a + b}." + " Yes." * (a % 3),
                    problem_id=f"p{a}{b}") for a, b in [(1, 2), (3, 4), (12, 7), (5, 5), (8, 9), (2, 40), (6, 1)]]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    cfg = TinyConfig(hidden_size=32, intermediate_size=64, layers=2, heads=2, max_positions=128)
    path = build_tiny(tmp_path_factory.mktemp("tiny") / "model", cfg, seed=0)
    tok = load_tokenizer(path)
    assert (tok.pad_token_id, tok.bos_token_id) == (PAD, BOS)
    return path


PAD, BOS = 0, 2  # the tiny tokenizer's; every example starts with <bos> and holds no <pad>


def examples_in(row: list[int]) -> list[tuple[int, int]]:
    """(start, end) of each example in a packed row, found from its tokens (not from the
    position ids under test): an example runs from its <bos> to the next one or the fill."""
    starts = [i for i, t in enumerate(row) if t == BOS]
    ends = [*starts[1:], row.index(PAD) if PAD in row else len(row)]
    return list(zip(starts, ends, strict=True))


def train_one_step(base: Path, out: Path, monkeypatch, *, method: str, attn: str | None,
                   checkpointing: bool = False) -> list[dict]:
    """Run finetune for one step; for every forward pass the Trainer makes, record the
    attention implementation, the inputs' keys and, per packed example, the largest
    difference between its logits in the row and its logits alone."""
    seen: list[dict] = []
    trainable = training._trainable

    def spy(model, cfg, init_adapter):
        model = trainable(model, cfg, init_adapter)
        busy = []

        def hook(module, args, kwargs, output):
            if busy:  # the calls below, of one example alone
                return
            busy.append(True)
            try:
                with torch.no_grad():
                    ids = kwargs["input_ids"]
                    diffs = []
                    for row in range(len(ids)):
                        for s, e in examples_in(ids[row].tolist()):
                            alone = module(input_ids=ids[row:row + 1, s:e]).logits[0]
                            diffs.append((row, s, (alone - output.logits[row, s:e]).abs().max().item()))
            finally:
                busy.clear()
            config = getattr(module, "get_base_model", lambda: module)().config
            seen.append({"attn": config._attn_implementation, "use_cache": config.use_cache, "keys": set(kwargs), "diffs": diffs,
                         "mask": kwargs.get("attention_mask")})

        model.register_forward_hook(hook, with_kwargs=True)
        return model

    monkeypatch.setattr(training, "_trainable", spy)
    cfg = TrainConfig(method=method, steps=1, warmup_steps=0, batch_size=2, seq_len=SEQ_LEN, progress=False,
                      lora=LoraConfig(dropout=0.0), gradient_checkpointing=checkpointing)
    stats = training.finetune(base, EXAMPLES, cfg, out, seed=0,
                              model_cfg=ModelConfig(dtype="float32", device="cpu", attn_implementation=attn))
    assert stats["steps"] == 1 and stats["rows"] >= 2
    return seen


@pytest.mark.parametrize("method,attn,checkpointing", [
    ("lora", None, False),  # what transformers picks on this machine (sdpa on CPU in 5.24)
    ("lora", "sdpa", False),
    ("lora", "eager", False),
    ("full", None, False),
    ("lora", None, True),
])
def test_packed_examples_see_only_themselves_in_training(base, tmp_path, monkeypatch, method, attn, checkpointing):
    seen = train_one_step(base, tmp_path / "out", monkeypatch, method=method, attn=attn,
                          checkpointing=checkpointing)
    assert len(seen) == 1, "one step of batch_size 2, no accumulation: one forward pass"
    [step] = seen
    assert step["attn"] == (attn or step["attn"]) and step["attn"] in {"sdpa", "eager"}, (
        f"transformers now picks {step['attn']!r}: add it to the parameters above")
    assert step["mask"] is None and step["use_cache"] is False and {"input_ids", "labels", "position_ids"} <= step["keys"]
    later = [d for d in step["diffs"] if d[1] > 0]
    assert later, "the batch must hold an example that is not the first in its row"
    assert len({row for row, _, _ in step["diffs"]}) == 2, "both rows of the batch are checked"
    bad = [d for d in step["diffs"] if d[2] > 1e-5]
    assert not bad, f"packed examples (row, start, max |logit difference|) saw other examples: {bad}"
