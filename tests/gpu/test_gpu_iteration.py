"""One STaR iteration at real size on a CUDA GPU (deselected by default; `pytest -m gpu`).

A Qwen2-0.5B-shaped model with random weights, built from its config (no download),
loaded in bf16 by the loop's own Policy: generation with the HF backend, a LoRA
fine-tune through the loop's train stage, evaluation of the adapted model. A random model
solves nothing, so the task's worked rationales stand in for the accepted set. The same
iteration runs again with the training stage under `accelerate launch`, and with vLLM
generation where vLLM is installed. Every test is skipped without CUDA.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from star.models import build_shaped

    return build_shaped(tmp_path_factory.mktemp("model") / "qwen2-0.5b", "qwen2-0.5b", device="cuda")


def config(base: Path, **trainer):
    from star.config import CheckConfig, Config, GeneratorConfig, ModelConfig, TrainConfig

    return Config(task=None, model=ModelConfig(name_or_path=str(base)),  # dtype auto: bf16 on the GPU
                  generator=GeneratorConfig(batch_size=64, max_new_tokens=32, progress=False),
                  trainer=TrainConfig(steps=6, batch_size=4, seq_len=512, lr=1e-3, warmup_steps=0,
                                      progress=False, **trainer),
                  check=CheckConfig(workers=1))


def one_iteration(cfg, tmp: Path) -> dict:
    """generate (model 0) -> train (worked rationales) -> evaluate (model 1), as the loop does."""
    from star.checkers import CheckPool
    from star.committee import Committee
    from star.iteration import Evaluation
    from star.labels import GoldLabels
    from star.policy import Policy
    from star.prompting import render
    from star.rundir import RunDir
    from star.tasks.arithmetic import Arithmetic
    from star.types import Example

    task = Arithmetic(train_size=32, eval_size=16, train_digits=[1, 2], eval_digits=[1, 2], seed_examples=[40, 40])
    rundir = RunDir(tmp / "run")
    try:
        with CheckPool(1, 5.0) as pool:
            policy = Policy(Path(cfg.model.name_or_path), cfg, rundir.path)
            voters = Committee(cfg, task, pool, GoldLabels(cfg.loop, task), [policy])
            torch.cuda.reset_peak_memory_stats()
            samples = voters.attempt(1, task.load("train"))
            generator = policy.generator(0)
            examples = [Example(prompt=render(task.prompt(p), None), completion=c, problem_id=p.id)
                        for p, c in task.seed_rationales()]
            adapter = voters.train(rundir.iteration(1), 1, examples)
            evals = Evaluation(cfg, task, pool, task.load("eval")).attempts(policy, 1)
    finally:
        rundir.close()
    return {"samples": samples, "generator": generator, "adapter": adapter, "evals": evals,
            "train": json.loads((adapter / "train_log.json").read_text()),
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30}


def check(result: dict) -> None:
    assert len(result["samples"]) == 32 and all(s.tokens > 0 for s in result["samples"])
    assert len(result["evals"]) == 16 and all(s.tokens > 0 for s in result["evals"])
    log = result["train"]
    assert log["steps"] == 6 and all(math.isfinite(x) for x in log["losses"])
    assert log["losses"][-1] < log["losses"][0], "6 LoRA steps on repeated worked examples must lower the loss"
    assert (result["adapter"] / "adapter_model.safetensors").is_file()
    assert 0 < result["peak_gib"] < 60


def test_hf_iteration_in_bf16(base, tmp_path):
    result = one_iteration(config(base), tmp_path)
    model = result["generator"].model
    assert model.dtype == torch.bfloat16 and model.device.type == "cuda"
    assert sum(p.numel() for p in model.parameters()) > 400e6, "a real-size model"
    check(result)


def test_iteration_with_training_under_accelerate_launch(base, tmp_path):
    result = one_iteration(config(base, launcher="accelerate", num_processes=1), tmp_path)
    check(result)
    assert result["train"]["processes"] == 1


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed")
def test_iteration_with_vllm_generation(base, tmp_path):
    cfg = config(base)
    cfg.generator.backend = "vllm"
    cfg.generator.gpu_memory_utilization = 0.4
    result = one_iteration(cfg, tmp_path)
    check(result)
    request = result["generator"].adapter
    assert request is not None and Path(request.lora_path) == result["adapter"].resolve()
