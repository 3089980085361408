"""Typed schemas for the config groups.

Registered with Hydra's ConfigStore as the schema `conf/config.yaml` extends, so a typo in
a key or a value of the wrong type fails when the config is composed, before any model
work, with Hydra's own message. Phases receive these dataclasses, never a DictConfig.
The task group is the exception: its keys are the task class's constructor arguments
(`_target_` names the class), checked when the task is instantiated, also before any
model work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class LoraConfig:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


@dataclass
class TrainConfig:
    """One fine-tuning stage (a STaR iteration's, or the cold start)."""

    method: str = "lora"  # lora | full
    init: str = "base"  # base: every iteration starts from the base model (the paper); previous
    steps: int = 40  # optimizer steps at iteration 1 ...
    step_growth: float = 1.2  # ... times step_growth ** (t - 1) at iteration t (paper: 40, x1.2)
    max_steps: int | None = None  # cap on the schedule
    lr: float = 1e-3
    lr_scheduler: str = "constant_with_warmup"
    warmup_steps: int = 5
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    batch_size: int = 8  # packed rows per optimizer step (per process)
    grad_accum: int = 1
    seq_len: int = 512  # tokens per packed row; longer examples are dropped with a warning
    gradient_checkpointing: bool = False
    lora: LoraConfig = field(default_factory=LoraConfig)
    # none: in this process; accelerate: `accelerate launch` in a subprocess (DDP, FSDP, DeepSpeed)
    launcher: str = "none"
    accelerate_config: str = "ddp"  # a file, or a shipped one in conf/accelerate/: ddp fsdp deepspeed_zero2 ...
    num_processes: int | None = None  # null: one per visible GPU (1 on CPU)
    progress: bool = True


@dataclass
class ColdStartConfig:
    enabled: bool = False
    hint_fraction: float = 0.3  # share of worked examples shown with the answer hint
    train: TrainConfig = field(default_factory=lambda: TrainConfig(method="full", steps=300, step_growth=1.0))


@dataclass
class TinyConfig:
    hidden_size: int = 128
    intermediate_size: int = 512
    layers: int = 4
    heads: int = 4
    max_positions: int = 1024


@dataclass
class ModelConfig:
    name_or_path: str = "tiny"  # "tiny": the embedded model built locally; else an HF name or path
    dtype: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | float32 | bfloat16 | float16
    device: str = "auto"
    device_map: str | None = None  # e.g. auto: spread one model over the visible GPUs (generation only)
    quantization: str = "none"  # none | 4bit | 8bit: bitsandbytes (QLoRA with trainer=lora); needs CUDA
    attn_implementation: str | None = None  # sdpa | flash_attention_2 | eager; null: transformers picks
    chat_template: str | None = None  # a Jinja template, or a file holding one; null: the tokenizer's
    trust_remote_code: bool = False
    tiny: TinyConfig = field(default_factory=TinyConfig)
    cold_start: ColdStartConfig = field(default_factory=ColdStartConfig)


@dataclass
class GeneratorConfig:
    backend: str = "hf"  # hf | vllm
    batch_size: int = 256  # prompts per forward batch (HF backend)
    max_new_tokens: int = 256  # ceiling; a task may ask for less per problem
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    num_samples: int = 1  # k samples per training problem (RFT/ReST-EM style when > 1)
    progress: bool = True
    # vLLM backend only (the sampling keys above feed both backends)
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1  # vLLM's own; in offline mode vLLM accepts it for MoE models only
    gpu_memory_utilization: float = 0.85  # share of GPU memory vLLM takes (weights + KV cache)
    max_model_len: int | None = None  # null: the model's own context length
    max_lora_rank: int | None = None  # null: trainer.lora.r, rounded up to a rank vLLM supports
    enforce_eager: bool = False  # true: no CUDA graphs (faster start, slower decoding)
    release: str = "sleep"  # before training: sleep (weights to CPU RAM, KV cache freed) | shutdown


@dataclass
class LoopConfig:
    iterations: int = 4
    rationalize: bool = True
    max_per_problem: int = 1  # accepted samples kept per problem after deduplication


@dataclass
class EvalConfig:
    split: str = "eval"
    max_problems: int | None = None
    samples: int = 0  # n sampled attempts per problem besides the greedy one (0: greedy only)
    temperature: float = 0.7  # of the sampled attempts
    k: list[int] = field(default_factory=list)  # maj@k and pass@k for each k <= samples


@dataclass
class CheckConfig:
    workers: int = 2
    timeout: float = 5.0
    max_memory_mb: int = 1024


@dataclass
class TrackerConfig:
    backends: list[str] = field(default_factory=list)  # extra to jsonl: tensorboard, mlflow, wandb
    project: str = "star"  # MLflow experiment / W&B project
    mlflow_uri: str | None = None  # default: sqlite:///<run dir>/mlflow.db
    wandb_mode: str = "offline"  # offline | online


@dataclass
class Config:
    task: Any = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    trainer: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    check: CheckConfig = field(default_factory=CheckConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    seed: int = 0
    run_name: str | None = None  # default: derived from the config, so rerunning resumes
    out_dir: str = "runs"
    experiment: str | None = None


CHOICES = {
    "trainer.method": ("lora", "full"), "trainer.init": ("base", "previous"),
    "trainer.launcher": ("none", "accelerate"), "generator.backend": ("hf", "vllm"),
    "model.dtype": ("auto", "float32", "bfloat16", "float16"), "model.quantization": ("none", "4bit", "8bit"),
    "generator.release": ("sleep", "shutdown"),
    "model.cold_start.train.method": ("lora", "full"), "tracker.wandb_mode": ("offline", "online"),
}


def validate(cfg: Config) -> None:
    """Checks a schema cannot express (choices, ranges); messages name the config key."""
    for key, allowed in CHOICES.items():
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        if value not in allowed:
            raise SystemExit(f"config error: {key}={value!r} is not one of {', '.join(allowed)}")
    positive = {"loop.max_per_problem": cfg.loop.max_per_problem, "trainer.steps": cfg.trainer.steps,
                "trainer.batch_size": cfg.trainer.batch_size, "trainer.seq_len": cfg.trainer.seq_len,
                "generator.batch_size": cfg.generator.batch_size, "generator.num_samples": cfg.generator.num_samples,
                "generator.max_new_tokens": cfg.generator.max_new_tokens, "check.workers": cfg.check.workers,
                "generator.tensor_parallel_size": cfg.generator.tensor_parallel_size,
                "generator.data_parallel_size": cfg.generator.data_parallel_size,
                "trainer.num_processes": 1 if cfg.trainer.num_processes is None else cfg.trainer.num_processes}
    for key, value in positive.items():
        if value < 1:
            raise SystemExit(f"config error: {key}={value} must be >= 1")
    if not 0 < cfg.generator.gpu_memory_utilization <= 1:
        raise SystemExit(f"config error: generator.gpu_memory_utilization={cfg.generator.gpu_memory_utilization} "
                         "must be in (0, 1]")
    if cfg.loop.iterations < 0:
        raise SystemExit(f"config error: loop.iterations={cfg.loop.iterations} must be >= 0")
    if cfg.generator.temperature < 0:
        raise SystemExit(f"config error: generator.temperature={cfg.generator.temperature} must be >= 0")
    if cfg.eval.samples < 0 or any(not 0 < k <= cfg.eval.samples for k in cfg.eval.k):
        raise SystemExit(f"config error: eval.k={list(cfg.eval.k)} needs 0 < k <= eval.samples={cfg.eval.samples} "
                         "(maj@k and pass@k are computed from eval.samples sampled attempts)")
    if cfg.eval.samples > 0 and cfg.eval.temperature <= 0:
        raise SystemExit("config error: eval.samples > 0 needs eval.temperature > 0")
    if cfg.generator.num_samples > 1 and cfg.generator.temperature == 0:
        raise SystemExit("config error: generator.num_samples > 1 needs generator.temperature > 0 "
                         "(greedy decoding gives the same sample every time)")
    check_environment(cfg)


def check_environment(cfg: Config) -> None:
    """What the selected backends need from this machine (an extra, a GPU), checked before
    any model work; optional engines are looked up, never imported, here."""
    from importlib.util import find_spec

    if cfg.generator.backend == "vllm" and find_spec("vllm") is None:
        raise SystemExit("config error: generator.backend=vllm needs vLLM, which is not installed: "
                         "pip install 'star[vllm]' (on a machine with a CUDA GPU), or use generator=hf")
    if cfg.trainer.launcher == "accelerate":
        from star.train_process import accelerate_config_path

        try:
            path = accelerate_config_path(cfg.trainer.accelerate_config)
        except FileNotFoundError as e:
            raise SystemExit(f"config error: trainer.accelerate_config: {e}") from None
        if "deepspeed" in path.read_text().lower() and find_spec("deepspeed") is None:
            raise SystemExit(f"config error: trainer.accelerate_config={cfg.trainer.accelerate_config} uses "
                             "DeepSpeed, which is not installed: pip install deepspeed")
    needs_gpu = [f"model.quantization={cfg.model.quantization}"] if cfg.model.quantization != "none" else []
    needs_gpu += [f"model.device={cfg.model.device}"] if cfg.model.device.startswith("cuda") else []
    if needs_gpu:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit(f"config error: {' and '.join(needs_gpu)} needs a CUDA GPU, and none is "
                             "visible here (torch.cuda.is_available() is False)")
    if cfg.model.quantization != "none":
        if find_spec("bitsandbytes") is None:
            raise SystemExit(f"config error: model.quantization={cfg.model.quantization} needs bitsandbytes: "
                             "pip install bitsandbytes")
        if cfg.trainer.method != "lora":
            raise SystemExit("config error: a quantized model trains through LoRA only (QLoRA): "
                             "use trainer=lora with model.quantization")


def register() -> None:
    ConfigStore.instance().store(name="star_schema", node=Config)


register()
