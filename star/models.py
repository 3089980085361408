"""Load the starting model: any Hugging Face causal LM, or the embedded tiny one built locally.

The embedded default (`model=tiny`) needs no download: a byte-level tokenizer (every byte
is a token, so any text encodes) wrapped as a transformers fast tokenizer, and a small
Llama-style model built from a config. Both are written with `save_pretrained` and read
back with `from_pretrained`, the very path a real model takes; the built model is cached
under a key that covers everything that changes it. (The cold start that turns the base
model into the starting model is star.cold_start.)

A GGUF checkpoint (`model.gguf_file`, e.g. `model=smollm2`) is dequantized once into the
same cache by star.gguf, as an ordinary HF directory keyed by the file's content, so that
generation, LoRA and full fine-tuning treat it as any other model.

On a GPU (`model=hf`): bf16 where the card has it, a device map for models that need
several GPUs, a chosen attention implementation, a chat template from the config, and
4-/8-bit weights through bitsandbytes (QLoRA). Features that need CUDA say so, naming
the config key, instead of failing deep inside a library.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from star import gguf, identity
from star.config import ModelConfig, TinyConfig
from star.identity import cache_dir, cache_key
from star.rundir import atomic_dir

log = logging.getLogger(__name__)

TINY = "tiny"
# The code's part of the tiny model's key is the source of this module (identity.source_hash):
# a change here rebuilds it. TINY_BUILD forces a rebuild by hand where nothing here changed.
TINY_BUILD = 1
PAD, EOS, BOS = "<pad>", "<eos>", "<bos>"


def device_for(cfg: ModelConfig) -> torch.device:
    if cfg.device != "auto":
        device = torch.device(cfg.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise GPURequired(f"model.device={cfg.device} needs a CUDA GPU, and none is visible here")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class GPURequired(RuntimeError):
    """A configured feature needs a CUDA GPU and this machine shows none."""


def dtype_for(cfg: ModelConfig, device: torch.device) -> torch.dtype:
    if cfg.dtype == "auto":
        # bf16 is ~5x slower than fp32 on CPUs without AMX; on GPUs that have it, it is the
        # default (pre-Ampere cards lack it: fp32 there, since fp16 training needs loss scaling).
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[cfg.dtype]
    except KeyError:
        raise ValueError(f"model.dtype: expected auto, float32, bfloat16 or float16, got {cfg.dtype!r}") from None


def build_tiny_tokenizer(vocab_size: int | None = None) -> PreTrainedTokenizerBase:
    """A byte-level tokenizer with no merges: 256 byte tokens plus <pad>, <eos> and <bos>.

    Every sequence starts with <bos>: small models park spare attention on the first
    token, which must not be the first digit of the question. `vocab_size` pads the
    vocabulary with multi-byte tokens that encoding never produces but decoding knows, so
    that a model with a real model's vocabulary (see build_shaped) can emit any id."""
    from itertools import product

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {PAD: 0, EOS: 1, BOS: 2}
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    for ch in alphabet:
        vocab[ch] = len(vocab)
    for n in (2, 3):
        for chars in product(alphabet, repeat=n):
            if len(vocab) >= (vocab_size or 0):
                break
            vocab["".join(chars)] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A $B",
                                                       special_tokens=[(BOS, vocab[BOS])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, bos_token=BOS,
                                   padding_side="left", model_max_length=1 << 16)


def build_tiny(out: Path, cfg: TinyConfig, seed: int) -> Path:
    """Write a randomly initialized tiny Llama and its tokenizer to `out`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
        max_position_embeddings=cfg.max_positions, tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with atomic_dir(out, replace=False) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return out


# Real models' shapes, to build with random weights: real-size compute and memory for GPU
# tests and benchmarks, with no download (the configs of Qwen2-0.5B and Qwen2-1.5B).
SHAPES: dict[str, dict] = {
    "qwen2-0.5b": dict(model_type="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                       num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
                       max_position_embeddings=32768, rope_theta=1000000.0, tie_word_embeddings=True),
    "qwen2-1.5b": dict(model_type="qwen2", hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                       num_attention_heads=12, num_key_value_heads=2, vocab_size=151936,
                       max_position_embeddings=32768, rope_theta=1000000.0, tie_word_embeddings=True),
}


def build_shaped(out: Path, shape: str, seed: int = 0, device: str | torch.device = "cpu") -> Path:
    """Write a randomly initialized model of a real model's shape (SHAPES) in bf16, with
    the byte-level tokenizer padded to its vocabulary, to `out`."""
    from transformers import AutoConfig

    spec = dict(SHAPES[shape])
    tok = build_tiny_tokenizer(vocab_size=spec["vocab_size"])
    config = AutoConfig.for_model(spec.pop("model_type"), **spec, pad_token_id=tok.pad_token_id,
                                  eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    with atomic_dir(out, replace=False) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return out


def load_tokenizer(path: str | Path, cfg: ModelConfig | None = None) -> PreTrainedTokenizerBase:
    tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=bool(cfg and cfg.trust_remote_code))
    tok.padding_side = "left"  # generation appends on the right
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if cfg is not None and cfg.chat_template:
        tok.chat_template = chat_template(cfg.chat_template)
    return tok


def chat_template(value: str) -> str:
    """model.chat_template: a Jinja template itself, or the path of a file holding one."""
    if "{%" in value or "{{" in value:
        return value
    if not Path(value).is_file():
        raise FileNotFoundError(f"model.chat_template={value!r} is neither a Jinja template nor a file")
    return Path(value).read_text()


def from_pretrained(path: str | Path, cfg: ModelConfig, device: torch.device, *, place: bool = True):
    """`AutoModelForCausalLM.from_pretrained` with the config's dtype, attention, quantization
    and placement. `place=False` leaves a plain model where it loaded (on CPU) for a trainer
    to move; a quantized model is always loaded straight onto its GPU (bitsandbytes)."""
    kwargs: dict = {"dtype": dtype_for(cfg, device), "trust_remote_code": cfg.trust_remote_code}
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.quantization != "none":
        kwargs["quantization_config"] = bnb_config(cfg, kwargs["dtype"])
        kwargs["device_map"] = {"": device.index if device.index is not None else torch.cuda.current_device()}
    elif place and cfg.device_map:
        kwargs["device_map"] = cfg.device_map
    model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    if place and "device_map" not in kwargs:
        model = model.to(device)
    return model


def bnb_config(cfg: ModelConfig, compute_dtype: torch.dtype):
    """bitsandbytes weights: NF4 with double quantization (QLoRA's recipe), or LLM.int8."""
    if not torch.cuda.is_available():
        raise GPURequired(f"model.quantization={cfg.quantization} (bitsandbytes) needs a CUDA GPU, "
                          "and none is visible here; use model.quantization=none")
    from transformers import BitsAndBytesConfig

    if cfg.quantization == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=compute_dtype)
    if cfg.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ValueError(f"model.quantization: expected none, 4bit or 8bit, got {cfg.quantization!r}")


def load_model(path: str | Path, cfg: ModelConfig, adapter: Path | None = None, merge: bool = True):
    """A causal LM from `path` (+ a LoRA adapter), on the configured device, in eval mode."""
    model = from_pretrained(path, cfg, device_for(cfg))
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
        # In memory only: plain matmuls are faster for HF generation. Quantized weights keep
        # the adapter beside them: merging would round the update into 4/8-bit weights.
        if merge and cfg.quantization == "none":
            model = model.merge_and_unload()
    model.eval()
    return model


def base_model(cfg: ModelConfig, seed: int) -> str | Path:
    """The model a run starts from before any cold start: a GGUF checkpoint (converted and
    cached on first use), the embedded tiny model (built and cached on first use), a local
    directory, or a hub name."""
    if cfg.gguf_file is not None:
        return gguf.model_dir(gguf.locate(cfg.gguf_file, cfg.name_or_path))
    if cfg.name_or_path == TINY:
        base = _tiny_dir(cfg, seed)
        if not (base / "config.json").exists():
            log.info("building the embedded tiny model in %s", base)
            build_tiny(base, cfg.tiny, seed)
        return base
    return Path(cfg.name_or_path) if Path(cfg.name_or_path).exists() else cfg.name_or_path


def quiet_libraries() -> None:
    """Our own progress bars and summary lines are the output; silence the libraries' chatter."""
    import warnings

    import transformers

    transformers.utils.logging.disable_progress_bar()  # "Loading weights" per model load
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="peft")


def _tiny_dir(cfg: ModelConfig, seed: int) -> Path:
    """Where the tiny model for this config and seed is cached. The key holds what shapes
    the weights: the tiny config, the seed, the source of this module (build_tiny; not the
    package version, which says nothing of the code), torch's and transformers' versions
    (initialization), and the tokenizer's own definition: a change to it (a special token,
    the post-processor) must not reuse a model built for the old one."""
    import transformers

    tokenizer = build_tiny_tokenizer().backend_tokenizer.to_str()
    key = cache_key({"tiny": asdict(cfg.tiny), "seed": seed, "build": TINY_BUILD,
                     "code": identity.source_hash(__name__),
                     "libraries": {"torch": torch.__version__, "transformers": transformers.__version__},
                     "tokenizer": hashlib.sha256(tokenizer.encode()).hexdigest()})
    return cache_dir() / "models" / f"tiny-{key}"


