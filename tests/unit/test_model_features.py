"""model=hf features that need no GPU to check: the chat template from the config, dtype
choice, and clear errors where a feature needs a GPU that is not there."""

from __future__ import annotations

import pytest
import torch

from star.config import ModelConfig, TinyConfig
from star.models import (
    GPURequired,
    bnb_config,
    build_tiny,
    chat_template,
    device_for,
    dtype_for,
    load_tokenizer,
)
from star.prompting import render

TEMPLATE = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("m") / "tiny", TinyConfig(hidden_size=16, intermediate_size=32,
                                                                         layers=1, heads=2), seed=0)


def test_chat_template_from_the_config_string_or_file(tiny, tmp_path):
    messages = [{"role": "user", "content": "1+1?"}]
    tok = load_tokenizer(tiny, ModelConfig(chat_template=TEMPLATE))
    assert render(messages, tok) == "[user] 1+1?\n[assistant] "
    (tmp_path / "t.jinja").write_text(TEMPLATE.replace("[", "<").replace("]", ">"))
    tok = load_tokenizer(tiny, ModelConfig(chat_template=str(tmp_path / "t.jinja")))
    assert render(messages, tok) == "<user> 1+1?\n<assistant> "
    with pytest.raises(ValueError, match="chat template"):
        render(messages, load_tokenizer(tiny, ModelConfig()))  # the tiny tokenizer has none
    with pytest.raises(FileNotFoundError, match="model.chat_template"):
        chat_template("no/such/file.jinja")


def test_dtype_auto_is_fp32_on_cpu_and_explicit_otherwise():
    assert dtype_for(ModelConfig(), torch.device("cpu")) == torch.float32
    assert dtype_for(ModelConfig(dtype="bfloat16"), torch.device("cpu")) == torch.bfloat16


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the errors of a machine without CUDA")
def test_gpu_features_say_they_need_a_gpu():
    with pytest.raises(GPURequired, match="model.device=cuda"):
        device_for(ModelConfig(device="cuda"))
    with pytest.raises(GPURequired, match="model.quantization=4bit"):
        bnb_config(ModelConfig(quantization="4bit"), torch.bfloat16)


def test_the_tiny_model_cache_follows_the_environment_and_the_tokenizer(tmp_path, monkeypatch):
    """STAR_CACHE_DIR wins over XDG; a model built for another tokenizer is never reused."""
    from tokenizers import Tokenizer
    from tokenizers import models as tok_models

    import star.models as models

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("STAR_CACHE_DIR", raising=False)
    assert models.cache_dir() == tmp_path / "xdg" / "star"
    monkeypatch.setenv("STAR_CACHE_DIR", str(tmp_path / "cache"))
    cfg = ModelConfig(tiny=TinyConfig(hidden_size=16, intermediate_size=32, layers=1, heads=2))
    cfg.cold_start.enabled = False
    first = models.base_model(cfg, seed=0)
    assert first.parent == tmp_path / "cache" / "models" and (first / "config.json").exists()
    assert models.base_model(cfg, seed=0) == first  # cached: same inputs, same folder

    class Other:  # a tokenizer definition that differs from the built-in one
        backend_tokenizer = Tokenizer(tok_models.WordLevel({"a": 0}, unk_token="a"))

    monkeypatch.setattr(models, "build_tiny_tokenizer", lambda *a, **k: Other())
    assert models._tiny_dir(cfg, seed=0) != first
