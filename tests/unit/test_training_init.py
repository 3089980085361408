"""trainer.init=previous: finetune continues from the previous iteration's LoRA adapter,
loaded trainable (peft loads adapters frozen unless asked), with its trained weights, and
trains it further; finetune runs the optimizer steps it is given, and refuses, naming the
cause, a set with nothing it can train on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from star.config import LoraConfig, ModelConfig, TinyConfig, TrainConfig
from star.models import build_tiny, from_pretrained
from star.training import _trainable, finetune
from star.types import Example

MODEL = ModelConfig(dtype="float32", device="cpu")
CFG = TrainConfig(method="lora", steps=2, warmup_steps=0, lr=1e-2, batch_size=2, seq_len=64, progress=False,
                  lora=LoraConfig(r=4, alpha=8, dropout=0.0))
EXAMPLES = [Example(prompt=f"Q: {a}+{a}\nA:", completion=f" {2 * a}.") for a in range(1, 9)]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    cfg = TinyConfig(hidden_size=32, intermediate_size=64, layers=2, heads=2, max_positions=128)
    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", cfg, seed=0)


@pytest.fixture(scope="module")
def first(base, tmp_path_factory) -> Path:
    """Iteration 1's adapter, trained from the base model."""
    out = tmp_path_factory.mktemp("iter_001") / "adapter"
    stats = finetune(base, EXAMPLES, CFG, out, seed=1, model_cfg=MODEL)
    assert stats["steps"] == CFG.steps and stats["init"]["adapter"] is None
    return out


def lora_weights(adapter: Path) -> dict[str, torch.Tensor]:
    return load_file(adapter / "adapter_model.safetensors")


def test_the_previous_adapter_loads_trainable_with_its_weights(base, first):
    saved = lora_weights(first)
    assert any(v.abs().sum() > 0 for k, v in saved.items() if "lora_B" in k), "LoRA B starts at zero"
    model = _trainable(from_pretrained(base, MODEL, torch.device("cpu"), place=False), CFG, first)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable), sorted(trainable)
    assert len(trainable) == len(saved)
    # the loaded values are the saved ones (peft drops the adapter name from the saved keys)
    by_name = {n.replace(".default", ""): p for n, p in trainable.items()}
    for key, value in saved.items():
        assert torch.equal(by_name[key].detach(), value), key


def test_training_continues_from_the_previous_adapter(base, first, tmp_path):
    """A small learning rate moves each weight by about lr per step (Adam): continued, the
    B matrices stay near iteration 1's (a fresh adapter's start at zero) and still move."""
    out = tmp_path / "iter_002" / "adapter"
    cfg = dataclasses.replace(CFG, lr=1e-5)
    stats = finetune(base, EXAMPLES, cfg, out, steps=3, seed=2, model_cfg=MODEL, init_adapter=first)
    assert stats["steps"] == 3, "finetune runs the steps it is given (the schedule's, from steps_for)"
    assert stats["init"] == {"model": str(base), "adapter": str(first)}
    before, after = lora_weights(first), lora_weights(out)
    assert before.keys() == after.keys()
    for k in before:
        assert not torch.equal(before[k], after[k]), f"{k}: the loaded adapter must be trained"
        assert (after[k] - before[k]).abs().max() < 1e-3 < before[k].abs().max(), f"{k}: restarted, not continued"


def test_full_fine_tuning_cannot_continue_from_an_adapter(base, first):
    model = from_pretrained(base, MODEL, torch.device("cpu"), place=False)
    with pytest.raises(ValueError, match="trainer.method=full"):
        _trainable(model, TrainConfig(method="full"), first)


def test_nothing_to_train_on_is_an_error_naming_the_cause(base, tmp_path):
    with pytest.raises(ValueError, match="accepted set is empty"):
        finetune(base, [], CFG, tmp_path / "out", seed=0, model_cfg=MODEL)
    with pytest.raises(ValueError, match="every example is longer than trainer.seq_len=8"):
        finetune(base, EXAMPLES, dataclasses.replace(CFG, seq_len=8), tmp_path / "out", seed=0, model_cfg=MODEL)
