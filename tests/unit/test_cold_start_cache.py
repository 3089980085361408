"""The cold start's and the tiny model's cache keys: everything that shapes the result, computed once.

Training is replaced by a stub that writes a config.json (what marks a finished cache
entry), so these tests see only where `starting_model` puts its result, in milliseconds
after the tiny base model is built.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import star.cold_start as cold_start
import star.identity as identity
import star.models as models
from star.checkers import get_checker
from star.config import ColdStartConfig, ModelConfig, TinyConfig, TrainConfig
from star.tasks.arithmetic import Arithmetic

TINY = TinyConfig(hidden_size=16, intermediate_size=32, layers=1, heads=2)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STAR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def no_training(monkeypatch):
    """finetune writes only the marker of a finished entry; returns the calls."""
    calls: list[Path] = []

    def finetune(base, examples, cfg, out, **kw):
        calls.append(Path(base))
        (out / "config.json").write_text("{}")
        return {"steps": cfg.steps}

    monkeypatch.setattr(cold_start, "finetune", finetune)
    return calls


def task(**kw) -> Arithmetic:
    return Arithmetic(train_size=8, eval_size=4, train_digits=(1, 2), eval_digits=(1, 2), seed_examples=(30, 30), **kw)


def config(target: float | None = 0.5, **model) -> ModelConfig:
    train = TrainConfig(method="full", steps=4, step_growth=1.0, batch_size=2, seq_len=128, warmup_steps=0,
                        progress=False)
    cs = ColdStartConfig(enabled=True, train=train, target=target, probe_per_group=3, eval_every=2)
    return ModelConfig(**{"dtype": "float32", "tiny": TINY, "cold_start": cs, **model})


def test_the_key_covers_dtype_quantization_attention_and_device(cache, no_training, monkeypatch):
    first = cold_start.starting_model(config(), task(), seed=0)
    assert cold_start.starting_model(config(), task(), seed=0) == first  # same inputs: the same entry
    for changed in (dict(dtype="bfloat16"), dict(quantization="4bit"), dict(attn_implementation="eager")):
        assert cold_start.starting_model(config(**changed), task(), seed=0) != first, changed
    # the device it trains on (as resolved: model.device=auto may mean cpu or cuda)
    monkeypatch.setattr(models, "device_for", lambda cfg: torch.device("mps"))
    assert cold_start.starting_model(config(), task(), seed=0) != first


def test_the_key_covers_the_checker_that_judges_the_probe(cache, no_training):
    first = cold_start.starting_model(config(), task(), seed=0)
    other = get_checker("numeric", extract=("last_number",))
    assert other != task().checker
    assert cold_start.starting_model(config(), task(checker=other), seed=0) != first
    # without a target there is no probe, and the checker shapes nothing
    plain = cold_start.starting_model(config(target=None), task(), seed=0)
    assert cold_start.starting_model(config(target=None), task(checker=other), seed=0) == plain


def test_a_change_to_the_code_on_the_path_rebuilds_the_cold_start(cache, no_training, monkeypatch):
    asked: list[tuple[str, ...]] = []

    def source_hash(*modules: str) -> str:
        asked.append(modules)
        return "code-v1"

    monkeypatch.setattr(identity, "source_hash", source_hash)
    first = cold_start.starting_model(config(), task(), seed=0)
    modules = {m for call in asked for m in call}
    assert {"star.cold_start", "star.training", "star.models", "star.generation", "star.attempts",
            "star.prompting", "star.evaluation", "star.tasks.arithmetic", "star.checkers.numeric"} <= modules
    monkeypatch.setattr(identity, "source_hash", lambda *modules: "code-v2")
    assert cold_start.starting_model(config(), task(), seed=0) != first


def test_the_tiny_model_is_keyed_by_its_code_not_the_version(cache, monkeypatch):
    cfg = config()
    first = models._tiny_dir(cfg, seed=0)
    real = identity.source_hash
    monkeypatch.setattr(identity, "source_hash", lambda *modules: "another build of star.models")
    assert models._tiny_dir(cfg, seed=0) != first
    monkeypatch.setattr(identity, "source_hash", real)
    import star

    monkeypatch.setattr(star, "__version__", "99.0")
    monkeypatch.setattr(models, "__version__", "99.0", raising=False)
    assert models._tiny_dir(cfg, seed=0) == first  # a version bump alone changes no weights


def test_a_base_directory_is_keyed_by_its_content_hashed_once(cache, no_training, tmp_path, monkeypatch):
    """A local model directory: its files' content is in the key, hashed once per process
    (not on every call), and again when a file changes. The base model is resolved once
    and the tokenizer loaded once per cold start."""
    own = tmp_path / "my-model"
    shutil.copytree(models.base_model(config(), seed=0), own)
    counts = {"tree_hash": 0, "base_model": 0, "load_tokenizer": 0}

    def counting(module, name):
        real = getattr(module, name)

        def wrapper(*a, **k):
            counts[name] += 1
            return real(*a, **k)

        monkeypatch.setattr(module, name, wrapper)

    counting(identity, "tree_hash")
    counting(models, "base_model")
    counting(models, "load_tokenizer")
    cfg = config(name_or_path=str(own))
    first = cold_start.starting_model(cfg, task(), seed=0)
    assert counts == {"tree_hash": 1, "base_model": 1, "load_tokenizer": 1}
    assert cold_start.starting_model(cfg, task(), seed=0) == first
    assert counts["tree_hash"] == 1  # the second call reuses the hash of the unchanged folder
    weights = own / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    assert cold_start.starting_model(cfg, task(), seed=0) != first
    assert counts["tree_hash"] == 2


def test_the_version_is_not_the_code(cache, no_training, monkeypatch):
    first = cold_start.starting_model(config(), task(), seed=0)
    import star

    monkeypatch.setattr(star, "__version__", "99.0")
    monkeypatch.setattr(cold_start, "__version__", "99.0", raising=False)
    monkeypatch.setattr(models, "__version__", "99.0", raising=False)
    assert cold_start.starting_model(config(), task(), seed=0) == first



def test_a_file_is_hashed_once_until_it_changes(tmp_path):
    """A GGUF checkpoint's hash keys its conversion; it is read once per process, not on
    every lookup, and again when the file changes."""
    f = tmp_path / "model.gguf"
    f.write_bytes(b"GGUF" + b"\0" * 100)
    before = identity._file_digest.cache_info()
    first = identity.file_sha256(f)
    assert identity.file_sha256(f) == first
    after = identity._file_digest.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    f.write_bytes(b"GGUF" + b"\1" * 100)
    assert identity.file_sha256(f) != first
