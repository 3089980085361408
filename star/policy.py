"""The policy of iteration t: the starting model plus that iteration's weights, served for
generation by one of the backends, and what the next training stage starts from.

Iteration t's weights live in the run directory as `iter_NNN/adapter` (LoRA) or
`iter_NNN/model` (full fine-tuning); an iteration that accepted nothing has an `EMPTY`
marker there and keeps the weights before it. The model is loaded once per iteration
and shared by the evaluation of t and the generation of t + 1.

Backends (`generator.backend`, the BACKENDS table):
- hf: transformers, the weights loaded and a LoRA adapter merged in memory;
- vllm: one offline engine on the starting model for the whole run, each iteration's
  adapter a new LoRA request (a fully fine-tuned model needs an engine of its own);
- ray: replicas of the hf backend's model (or vLLM engines, generator.engine=vllm) in a
  Ray Data pipeline on a local instance or a cluster, reading the weights by path.

Before a training stage, `release` frees the accelerator (`free_accelerator`).
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

from star import models
from star.config import Config
from star.generation import Generator, HFGenerator

log = logging.getLogger(__name__)


def free_accelerator() -> None:
    """Collect garbage and return cached GPU memory to the driver (a no-op on CPU)."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class HFBackend:
    """transformers generation: iteration t's weights loaded (a LoRA adapter merged)."""

    def __init__(self, base: Path, cfg: Config, tokenizer: Any, lora: bool):
        self.base, self.cfg, self.tokenizer, self.lora = base, cfg, tokenizer, lora

    def load(self, weights: Path | None) -> Generator:
        model = (models.load_model(weights, self.cfg.model) if weights is not None and not self.lora
                 else models.load_model(self.base, self.cfg.model, adapter=weights))
        return HFGenerator(model, self.tokenizer, self.cfg.generator)

    def release(self) -> None:
        pass


class VLLMBackend:
    """vLLM's offline engine, kept across iterations; sleeps (or shuts down) for training."""

    def __init__(self, base: Path, cfg: Config, tokenizer: Any, lora: bool):
        self.base, self.cfg, self.lora = base, cfg, lora
        self.engine: Any = None

    def load(self, weights: Path | None) -> Generator:
        from star.vllm_generator import VLLMGenerator  # vLLM is an optional extra

        model = self.base if self.lora or weights is None else weights
        if self.engine is None or self.engine.model != str(model):
            if self.engine is not None:
                self.engine.shutdown()
            self.engine = VLLMGenerator(model, self.cfg.generator, self.cfg.model, seed=self.cfg.seed,
                                        lora_rank=self.cfg.trainer.lora.r if self.lora else None)
        self.engine.use_adapter(weights if self.lora else None)
        return self.engine

    def release(self) -> None:
        if self.engine is not None:
            self.engine.release()


class RayBackend:
    """Ray Data: replicas of iteration t's model on a Ray cluster, one pipeline per call
    (star/ray_generator.py). The cluster is joined (or a local instance started) here, so
    a cluster that cannot be reached or is too small stops the run before a replica loads."""

    def __init__(self, base: Path, cfg: Config, tokenizer: Any, lora: bool):
        from star.ray_generator import connect  # Ray is an optional extra

        self.base, self.cfg, self.lora = base, cfg, lora
        connect(cfg.generator)

    def load(self, weights: Path | None) -> Generator:
        from star.ray_generator import RayGenerator, VLLMStage, replica_spec

        spec = replica_spec(self.base, weights, self.lora, self.cfg.generator, self.cfg.model)
        vllm = None
        if self.cfg.generator.engine == "vllm":  # ray.data.llm: generator=vllm's engine and sampling
            from star.vllm_generator import engine_args, sampling_params

            vllm = VLLMStage(engine_args(spec.model, self.cfg.generator, self.cfg.model, seed=self.cfg.seed,
                                         lora_rank=self.cfg.trainer.lora.r if self.lora else None), sampling_params)
        return RayGenerator(spec, vllm)

    def release(self) -> None:
        pass  # a call's replicas end with its pipeline


BACKENDS: dict[str, type[HFBackend] | type[VLLMBackend] | type[RayBackend]] = {
    "hf": HFBackend, "vllm": VLLMBackend, "ray": RayBackend}


class Policy:
    """The model of iteration t, from the starting model `base` and the iteration folders
    under `run_path` (a run directory, read only: `star eval` may look at a live run).
    A peer voter (loop.voters > 1) keeps its weights beside the run's own, as
    `iter_NNN/<name>_adapter` (or `<name>_model`)."""

    def __init__(self, base: Path, cfg: Config, run_path: Path, name: str = ""):
        self.base, self.cfg, self.run_path, self.name = base, cfg, Path(run_path), name
        self.tokenizer = models.load_tokenizer(base, cfg.model)
        self.lora = cfg.trainer.method == "lora"
        self.weights_name = (f"{name}_" if name else "") + ("adapter" if self.lora else "model")
        self.backend = BACKENDS[cfg.generator.backend](base, cfg, self.tokenizer, self.lora)
        self._loaded: tuple[int, Generator] | None = None

    def weights(self, t: int) -> Path | None:
        """Iteration t's weights; an iteration that accepted nothing keeps the one before."""
        while t > 0:
            w = self.run_path / f"iter_{t:03d}" / self.weights_name
            if not (w / "EMPTY").exists():
                return w
            t -= 1
        return None

    def train_from(self, t: int) -> tuple[Path, Path | None]:
        """(model, LoRA adapter) that iteration t's training starts from: the starting model
        (trainer.init=base, the paper), or iteration t - 1's weights (trainer.init=previous:
        its adapter on the starting model, or its whole fully fine-tuned model)."""
        previous = self.weights(t - 1) if self.cfg.trainer.init == "previous" else None
        if previous is None:
            return self.base, None
        return (self.base, previous) if self.lora else (previous, None)

    def generator(self, t: int) -> Generator:
        if self._loaded is None or self._loaded[0] != t:
            self._loaded = None  # free the previous model before loading the next
            self._loaded = (t, self.backend.load(self.weights(t)))
        return self._loaded[1]

    def release(self) -> None:
        """Free the accelerator for training: drop the HF model; the vLLM engine sleeps
        (or shuts down, generator.release=shutdown) until the next generation."""
        self._loaded = None
        self.backend.release()
        free_accelerator()
