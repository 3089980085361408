"""Typed schemas for the config groups, and the one way into them.

Registered with Hydra's ConfigStore as the schema `conf/config.yaml` extends, so a typo in
a key or a value of the wrong type fails when the config is composed, before any model
work, with Hydra's own message. Every entry point turns the composed config into these
dataclasses through `to_config` (which also validates), and phases receive typed values,
never a DictConfig. The task group is the exception: its keys are the task class's
constructor arguments (`_target_` names the class); `make_task` instantiates it and
checks each given key against the class's annotations, also before any model work.
The shipped accelerate configs (`conf/accelerate/`) are looked up here too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

T = TypeVar("T")


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
    # train.steps is the cap; with a target, training stops once a held-out probe of worked
    # examples reaches it (star/cold_start.py). null: train all train.steps.
    train: TrainConfig = field(default_factory=lambda: TrainConfig(method="full", steps=300, step_growth=1.0))
    target: float | None = None  # probe accuracy that ends the cold start
    measure: str = "min_group"  # min_group: the weakest group's accuracy | overall
    probe_per_group: int = 50  # worked examples per group held out as the probe (at most a quarter of them)
    eval_every: int = 25  # steps between probe evaluations


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
    # A GGUF checkpoint: a file, or pkg://<package>/<file> inside an installed Python package;
    # dequantized once into the model cache. name_or_path then only names the model.
    gguf_file: str | None = None
    tiny: TinyConfig = field(default_factory=TinyConfig)
    cold_start: ColdStartConfig = field(default_factory=ColdStartConfig)


@dataclass
class ReplicaResources:
    """generator=ray: what Ray reserves for each model replica (star/ray_generator.py)."""

    cpus: float = 0.5  # fractional allowed: two whole-CPU replicas fill a 2-CPU machine
    gpus: float = 0.0  # 1: one GPU per replica (Ray sets CUDA_VISIBLE_DEVICES for it)
    threads: int | None = None  # torch threads in a replica; null: max(1, round(cpus))


@dataclass
class GeneratorConfig:
    backend: str = "hf"  # hf | vllm | ray
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
    # Ray backend only (generator=ray, star/ray_generator.py): model replicas in a Ray Data pipeline
    engine: str = "hf"  # what a replica runs: hf (transformers; CPU or one GPU) | vllm (ray.data.llm; GPUs)
    num_replicas: int = 1  # model replicas (Ray actors), each holding one copy of iteration t's model
    resources: ReplicaResources = field(default_factory=ReplicaResources)
    shard_size: int = 32  # prompts per Ray Data batch: the unit of work, and of retry when a replica dies
    ray_address: str | None = None  # host:port, ray://host:port or auto; null: $RAY_ADDRESS, else a local instance
    ray_num_cpus: int | None = None  # CPUs of a local instance; null: this machine's
    max_restarts: int = 3  # restarts of a dead replica (its batch retried); -1: no limit
    ship_weights: bool = False  # true: weights reach replicas through Ray's object store, not shared storage


@dataclass
class LoopConfig:
    iterations: int = 4
    rationalize: bool = True
    max_per_problem: int = 1  # accepted samples kept per problem after deduplication
    labels: str = "gold"  # gold (STaR) | majority: pseudo-labels from k samples' majority answer (star/labels.py)
    min_agreement: float = 0.5  # labels=majority: share of the votes the majority answer needs
    voters: int = 1  # labels=majority: models that vote, the run's own and voters-1 peers (star/labels.py)
    curriculum: float | None = None  # easy-to-hard pool: widen when the hardest group's solve rate reaches this
    process_filter: str = "none"  # none | task: reject correct samples with a false step (task.check_steps) | prm (star/process.py)
    prm: str | None = None  # process_filter=prm: a process reward model's folder (star verifier RUN verifier.objective=prm)
    prm_threshold: float = 0.5  # process_filter=prm: a correct sample whose PRM score is below it is rejected
    # distillation: a finished run directory (its final model) or a model (path or hub name) attempts and
    # rationalizes the training problems in place of the run's model, which trains on them (star/committee.py)
    teacher: str | None = None


@dataclass
class EvalConfig:
    split: str = "eval"
    max_problems: int | None = None
    samples: int = 0  # n sampled attempts per problem besides the greedy one (0: greedy only)
    temperature: float = 0.7  # of the sampled attempts
    k: list[int] = field(default_factory=list)  # maj@k and pass@k for each k <= samples


@dataclass
class VerifierConfig:
    """`star verifier RUN` (star/verifiers.py): a verifier trained on a run's own checked
    training-side samples, on the run's starting model, with a LoRA adapter. Not part of a
    run's config: `star verifier` reads these as verifier.* overrides."""

    objective: str = "dpo"  # dpo: V-STaR's DPO verifier (TRL's DPOTrainer) | orm: a value head (TRL's RewardTrainer)
    name: str | None = None  # the folder's prefix, RUN/verifier/<name>-<key>/ (default: the objective), to tell recipes apart
    beta: float = 1.0  # dpo: the score is beta * (log pi(y|x) - log pi_ref(y|x)), pi_ref the starting model
    steps: int = 150  # optimizer steps (the demo's seed 0: 150 x 16 pairs is about one pass over its pairs)
    batch_size: int = 16  # pairs per step
    lr: float = 3e-4
    warmup_steps: int = 5
    pairs_per_problem: int = 8  # (correct, incorrect) pairs of one problem, drawn seeded
    hinted: bool = True  # hinted samples count (their completions, under the unhinted prompt)
    samples: int = 0  # extra samples per training problem from the run's models (star verifier --samples k)
    temperature: float = 0.7  # of the extra samples
    max_length: int = 512  # tokens of prompt + completion; longer pairs are truncated (dpo) or dropped (orm)
    lora: LoraConfig = field(default_factory=LoraConfig)
    # objective=prm (star/prm.py): step labels from rollouts (Math-Shepherd), a token-classification head
    rollouts: int = 4  # prm: completions drawn from each step prefix (at verifier.temperature)
    step_label: str = "soft"  # prm: soft (the share of rollouts reaching the gold answer) | hard (any does)
    solutions_per_problem: int = 4  # prm: distinct completions of a training problem whose steps are labeled
    aggregate: str = "min"  # prm: a solution's score from its step scores: min | last


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
class RewardConfig:
    """algorithm=grpo: the reward of a completion (star/rewards.py); UNVERIFIABLE earns nothing."""

    correct: float = 1.0  # the task's checker says CORRECT
    format: float = 0.0  # the task can extract a stated answer (and the verdict is not UNVERIFIABLE)


@dataclass
class StageConfig:
    """One stage of algorithm=pipeline (star/pipeline.py): an algorithm group of conf/algorithm/
    and the keys this stage sets, merged onto the run's config in that order. A later stage
    starts from the previous stage's final model."""

    algorithm: str = "star"  # conf/algorithm/<algorithm>.yaml: star | rft | grpo
    name: str | None = None  # the stage's folder: stage_<i>_<name>; null: the algorithm's name
    overrides: dict[str, Any] = field(default_factory=dict)  # nested keys: {loop: {iterations: 2}}


@dataclass
class AlgorithmConfig:
    """What improves the model (conf/algorithm/): the STaR loop, or GRPO through TRL (star/grpo.py).
    The keys below `name` feed TRL's GRPOConfig; the STaR loop ignores them."""

    name: str = "star"  # star | grpo
    steps_per_round: int = 30  # GRPO optimizer steps per round; a round is an iteration (loop.iterations rounds)
    num_generations: int = 8  # completions per prompt (the group whose rewards are compared)
    batch_size: int = 64  # completions per optimizer step (per process): batch_size / num_generations prompts
    lr: float = 3e-4
    lr_scheduler: str = "constant_with_warmup"  # or constant (no schedule with a horizon: rounds extend it)
    warmup_steps: int = 5
    beta: float = 0.0  # KL coefficient against the starting model (0: no reference pass)
    temperature: float = 0.7  # of the sampled completions (evaluation stays greedy)
    max_completion_length: int | None = None  # null: the task's largest per-problem budget
    loss_type: str = "dapo"
    scale_rewards: str = "group"  # group | batch | none
    use_vllm: bool = False  # TRL's vLLM generation (needs vLLM and a GPU)
    vllm_mode: str = "colocate"  # colocate (in the trainer's GPUs) | server (`trl vllm-serve` elsewhere)
    reward: RewardConfig = field(default_factory=RewardConfig)
    trl: dict[str, Any] = field(default_factory=dict)  # any other GRPOConfig argument, passed as is
    stages: list[StageConfig] = field(default_factory=list)  # algorithm=pipeline: the chained stages, in order


@dataclass
class Config:
    task: Any = MISSING
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
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
    "trainer.launcher": ("none", "accelerate"), "generator.backend": ("hf", "vllm", "ray"),
    "model.dtype": ("auto", "float32", "bfloat16", "float16"), "model.quantization": ("none", "4bit", "8bit"),
    "generator.release": ("sleep", "shutdown"), "generator.engine": ("hf", "vllm"), "loop.labels": ("gold", "majority"),
    "loop.process_filter": ("none", "task", "prm"),
    "model.cold_start.train.method": ("lora", "full"), "model.cold_start.measure": ("min_group", "overall"), "tracker.wandb_mode": ("offline", "online"),
    "algorithm.name": ("star", "grpo", "pipeline"), "algorithm.vllm_mode": ("colocate", "server"),
    "algorithm.scale_rewards": ("group", "batch", "none"),
    # a schedule with a horizon (cosine, linear) would see each round's own (t x steps_per_round)
    "algorithm.lr_scheduler": ("constant", "constant_with_warmup"),
}


class ConfigError(ValueError):
    """A config value cannot be used; the message names the key."""


def validate(cfg: Config) -> None:
    """Checks a schema cannot express (choices, ranges); messages name the config key."""
    for key, allowed in CHOICES.items():
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        if value not in allowed:
            raise ConfigError(f"config error: {key}={value!r} is not one of {', '.join(allowed)}")
    positive = {"loop.max_per_problem": cfg.loop.max_per_problem, "trainer.steps": cfg.trainer.steps,
                "trainer.batch_size": cfg.trainer.batch_size, "trainer.seq_len": cfg.trainer.seq_len,
                "generator.batch_size": cfg.generator.batch_size, "generator.num_samples": cfg.generator.num_samples,
                "generator.max_new_tokens": cfg.generator.max_new_tokens, "check.workers": cfg.check.workers,
                "generator.tensor_parallel_size": cfg.generator.tensor_parallel_size,
                "generator.data_parallel_size": cfg.generator.data_parallel_size,
                "trainer.num_processes": 1 if cfg.trainer.num_processes is None else cfg.trainer.num_processes}
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"config error: {key}={value} must be >= 1")
    if not 0 < cfg.generator.gpu_memory_utilization <= 1:
        raise ConfigError(f"config error: generator.gpu_memory_utilization={cfg.generator.gpu_memory_utilization} "
                         "must be in (0, 1]")
    if cfg.loop.labels == "majority" and (cfg.generator.num_samples < 4 or cfg.generator.temperature <= 0):
        raise ConfigError(f"config error: loop.labels=majority votes over k >= 4 samples at a temperature: set "
                          f"generator.num_samples (now {cfg.generator.num_samples}) and generator.temperature "
                          f"(now {cfg.generator.temperature})")
    if cfg.loop.voters < 1 or (cfg.loop.voters > 1 and (cfg.loop.labels != "majority" or cfg.algorithm.name != "star")):
        raise ConfigError(f"config error: loop.voters={cfg.loop.voters}: more than one voter needs loop.labels=majority "
                          f"and algorithm=star (now loop.labels={cfg.loop.labels}, algorithm={cfg.algorithm.name})")
    if not 0 < cfg.loop.min_agreement <= 1:
        raise ConfigError(f"config error: loop.min_agreement={cfg.loop.min_agreement} must be in (0, 1]")
    if cfg.loop.curriculum is not None and not 0 < cfg.loop.curriculum <= 1:
        raise ConfigError(f"config error: loop.curriculum={cfg.loop.curriculum} must be in (0, 1] (or null)")
    cs = cfg.model.cold_start
    if cs.target is not None and not 0 < cs.target <= 1:
        raise ConfigError(f"config error: model.cold_start.target={cs.target} must be in (0, 1] (or null)")
    if cs.target is not None and (cs.probe_per_group < 1 or cs.eval_every < 1):
        raise ConfigError("config error: model.cold_start.probe_per_group and model.cold_start.eval_every "
                          "must be >= 1 when model.cold_start.target is set")
    if cfg.loop.iterations < 0:
        raise ConfigError(f"config error: loop.iterations={cfg.loop.iterations} must be >= 0")
    if cfg.generator.temperature < 0:
        raise ConfigError(f"config error: generator.temperature={cfg.generator.temperature} must be >= 0")
    if cfg.eval.samples < 0 or any(not 0 < k <= cfg.eval.samples for k in cfg.eval.k):
        raise ConfigError(f"config error: eval.k={list(cfg.eval.k)} needs 0 < k <= eval.samples={cfg.eval.samples} "
                         "(maj@k and pass@k are computed from eval.samples sampled attempts)")
    if cfg.eval.samples > 0 and cfg.eval.temperature <= 0:
        raise ConfigError("config error: eval.samples > 0 needs eval.temperature > 0")
    if cfg.generator.num_samples > 1 and cfg.generator.temperature == 0:
        raise ConfigError("config error: generator.num_samples > 1 needs generator.temperature > 0 "
                         "(greedy decoding gives the same sample every time)")
    if cfg.loop.voters > 1 and cfg.model.name_or_path != "tiny" and not cfg.model.cold_start.enabled:
        # A hub or local model loads the same weights whatever the seed: the peers would vote as one.
        raise ConfigError(f"config error: loop.voters={cfg.loop.voters} needs independently started models, but "
                          f"model.name_or_path={cfg.model.name_or_path} starts every voter from the same weights: "
                          "set model.cold_start.enabled=true (each voter cold-starts from its own seed)")
    if cfg.algorithm.name == "grpo":
        validate_grpo(cfg)
    validate_pipeline(cfg)
    validate_teacher(cfg)
    validate_prm(cfg)
    check_environment(cfg)


# Keys a stage of algorithm=pipeline may set: the run's task, tracking and checking are the run's own.
STAGE_KEYS = ("algorithm", "model", "generator", "trainer", "eval", "loop")


def shipped_algorithms() -> list[str]:
    """The conf/algorithm/ group: what a pipeline stage can run (the pipeline itself excepted)."""
    folder = files("star.conf") / "algorithm"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml") and p.name != "pipeline.yaml")


def validate_pipeline(cfg: Config) -> None:
    """algorithm.stages: only with algorithm=pipeline, each stage a shipped algorithm group, a
    folder-safe name and overrides of the schema's keys (typos fail here, named)."""
    import re

    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    stages = cfg.algorithm.stages
    if cfg.algorithm.name != "pipeline":
        if stages:
            raise ConfigError(f"config error: algorithm.stages is set, but algorithm.name={cfg.algorithm.name}: "
                              "stages run under algorithm=pipeline")
        return
    if not stages:
        raise ConfigError("config error: algorithm=pipeline needs algorithm.stages (e.g. experiment=r1_recipe)")
    for i, stage in enumerate(stages, 1):
        key = f"algorithm.stages[{i - 1}]"
        if stage.algorithm not in shipped_algorithms():
            raise ConfigError(f"config error: {key}.algorithm={stage.algorithm!r} is not one of "
                              f"{', '.join(shipped_algorithms())}")
        if stage.name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", stage.name):
            raise ConfigError(f"config error: {key}.name={stage.name!r}: letters, digits, '_', '.', '-' only")
        extra = sorted(set(stage.overrides) - set(STAGE_KEYS))
        if extra:
            raise ConfigError(f"config error: {key}.overrides.{extra[0]}: a stage sets only {', '.join(STAGE_KEYS)} "
                              "(the task, tracking and checking are the run's)")
        named = (stage.overrides.get("algorithm") or {}).get("name")
        if named is not None and (named == "pipeline" or named not in CHOICES["algorithm.name"]):
            raise ConfigError(f"config error: {key}.overrides.algorithm.name={named!r}: a stage runs one algorithm "
                              "(star or grpo), not a pipeline")
        try:
            OmegaConf.merge(OmegaConf.structured(Config), stage.overrides)
        except OmegaConfBaseException as e:
            raise ConfigError(f"config error: {key}.overrides: " + f"{e}".splitlines()[0] + _key_of(e)) from None


def validate_prm(cfg: Config) -> None:
    """loop.process_filter=prm: loop.prm names a trained process reward model (its verifier.json
    says objective prm), loop.prm_threshold is a score in [0, 1], and a label-free run refuses a
    PRM whose step labels came from gold answers (they would carry gold into the run)."""
    lp = cfg.loop
    if lp.process_filter != "prm":
        if lp.prm is not None:
            raise ConfigError(f"config error: loop.prm={lp.prm} is read only by loop.process_filter=prm "
                              f"(now {lp.process_filter}): set loop.process_filter=prm, or drop loop.prm")
        return
    if not lp.prm:
        raise ConfigError("config error: loop.process_filter=prm needs loop.prm: the folder of a process reward "
                          "model (train one: star verifier RUN verifier.objective=prm)")
    if not 0.0 <= lp.prm_threshold <= 1.0:
        raise ConfigError(f"config error: loop.prm_threshold={lp.prm_threshold} must be in [0, 1] "
                          "(the PRM's score is a probability)")
    info = Path(lp.prm).expanduser() / "verifier.json"
    try:
        meta = json.loads(info.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"config error: loop.prm={lp.prm}: not a trained verifier ({info}: {e}); train one: "
                          "star verifier RUN verifier.objective=prm") from None
    if meta.get("objective") != "prm":
        raise ConfigError(f"config error: loop.prm={lp.prm} is a verifier with objective {meta.get('objective')!r}, "
                          "not a process reward model (verifier.objective=prm)")
    if lp.labels != "gold" and meta.get("labels", "gold") == "gold":
        raise ConfigError(f"config error: loop.labels={lp.labels} with loop.process_filter=prm and loop.prm={lp.prm}: "
                          "that PRM's step labels were measured against gold answers, which a label-free run "
                          "must not see: use loop.process_filter=none or task")


def validate_teacher(cfg: Config) -> None:
    """loop.teacher: a finished run directory (manifest.json) or a model directory that exists, or
    a hub model that is cached or reachable; only where the STaR loop's committee samples."""
    teacher = cfg.loop.teacher
    if teacher is None:
        return
    key = f"loop.teacher={teacher}"
    if cfg.algorithm.name == "grpo":
        raise ConfigError(f"config error: {key}: a teacher writes the STaR loop's samples; algorithm=grpo "
                          "samples its own completions (use algorithm=star or algorithm=rft)")
    if cfg.loop.voters > 1:
        raise ConfigError(f"config error: {key} with loop.voters={cfg.loop.voters}: the teacher attempts in place "
                          "of the voters (use loop.voters=1)")
    path = Path(teacher).expanduser()
    if teacher.startswith((".", "/", "~")) or path.exists() or teacher.count("/") > 1:
        if not path.is_dir():
            raise ConfigError(f"config error: {key}: no such directory ({path})")
        if not ((path / "manifest.json").is_file() or (path / "config.json").is_file()):
            raise ConfigError(f"config error: {key}: {path} is neither a run directory (manifest.json) nor a "
                              "model directory (config.json)")
        return
    try:
        check_model_source(teacher)
    except ConfigError as e:
        raise ConfigError(str(e).replace(f"model.name_or_path={teacher}", key)) from None


def validate_grpo(cfg: Config) -> None:
    """algorithm=grpo: what TRL's GRPOConfig would refuse later, named by our keys, now."""
    a = cfg.algorithm
    for key in ("steps_per_round", "batch_size"):
        if getattr(a, key) < 1:
            raise ConfigError(f"config error: algorithm.{key}={getattr(a, key)} must be >= 1")
    if a.num_generations < 2:
        raise ConfigError(f"config error: algorithm.num_generations={a.num_generations} must be >= 2 "
                         "(GRPO compares the rewards within a group of completions)")
    if a.batch_size % a.num_generations:
        raise ConfigError(f"config error: algorithm.batch_size={a.batch_size} must be a multiple of "
                         f"algorithm.num_generations={a.num_generations} (whole groups per step)")
    if a.temperature <= 0:
        raise ConfigError(f"config error: algorithm.temperature={a.temperature} must be > 0 (a group of greedy "
                         "completions is one completion)")
    if a.max_completion_length is not None and a.max_completion_length < 1:
        raise ConfigError(f"config error: algorithm.max_completion_length={a.max_completion_length} must be >= 1")
    if a.reward.correct < 0 or a.reward.format < 0:
        raise ConfigError(f"config error: algorithm.reward.correct={a.reward.correct} and algorithm.reward.format="
                         f"{a.reward.format} must be >= 0")
    if a.reward.correct == 0 and a.reward.format == 0:
        raise ConfigError("config error: algorithm.reward.correct and algorithm.reward.format are both 0: "
                         "every completion would earn the same reward")
    if cfg.trainer.method != "lora":
        raise ConfigError("config error: algorithm=grpo trains a LoRA adapter (trainer.lora.*): use trainer=lora")
    # GRPO's reward is the gold checker's verdict; the loop's other label and filter seams do not reach it.
    if cfg.loop.labels != "gold":
        raise ConfigError(f"config error: algorithm=grpo rewards completions against gold answers; "
                          f"loop.labels={cfg.loop.labels} is not supported there (majority-vote rewards are not "
                          "built): use loop.labels=gold, or algorithm=star")
    if cfg.loop.process_filter != "none":
        raise ConfigError(f"config error: loop.process_filter={cfg.loop.process_filter} filters the STaR loop's "
                          "accepted samples; algorithm=grpo has none: use loop.process_filter=none")


def validate_verifier(v: VerifierConfig) -> None:
    """verifier.* (star verifier): choices and ranges, named by key."""
    if v.objective not in ("dpo", "orm", "prm"):
        raise ConfigError(f"config error: verifier.objective={v.objective!r} is not one of dpo, orm, prm")
    if v.name is not None and not re.fullmatch(r"[A-Za-z0-9_.]+", v.name):
        raise ConfigError(f"config error: verifier.name={v.name!r} names a folder, RUN/verifier/<name>-<key>/: "
                          "letters, digits, '_' and '.' only (no '-', which separates the key)")
    if v.step_label not in ("soft", "hard") or v.aggregate not in ("min", "last"):
        raise ConfigError(f"config error: verifier.step_label={v.step_label!r} (soft | hard) or "
                          f"verifier.aggregate={v.aggregate!r} (min | last) is not a choice")
    if v.objective == "prm" and v.temperature <= 0:
        raise ConfigError(f"config error: verifier.objective=prm draws its rollouts at verifier.temperature, "
                          f"which must be > 0 (now {v.temperature})")
    for key in ("steps", "batch_size", "pairs_per_problem", "max_length", "rollouts", "solutions_per_problem"):
        if getattr(v, key) < 1:
            raise ConfigError(f"config error: verifier.{key}={getattr(v, key)} must be >= 1")
    if v.beta <= 0 or v.lr <= 0:
        raise ConfigError(f"config error: verifier.beta={v.beta} and verifier.lr={v.lr} must be > 0")
    if v.samples < 0 or (v.samples > 0 and v.temperature <= 0):
        raise ConfigError(f"config error: verifier.samples={v.samples} must be >= 0, and extra samples need "
                          f"verifier.temperature > 0 (now {v.temperature})")


def to_config(composed: Any, schema: type[T] = Config) -> T:  # type: ignore[assignment]
    """A composed config (DictConfig, or a plain mapping such as a JSON request) as the typed
    `schema` dataclass: unknown keys and wrong types raise ConfigError naming the key; a full
    `Config` is also validated (choices, ranges, this machine's environment)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        node = OmegaConf.merge(OmegaConf.structured(schema), composed)
        typed = OmegaConf.to_object(node)
    except OmegaConfBaseException as e:
        raise ConfigError(f"config error: {e}".splitlines()[0] + _key_of(e)) from None
    if isinstance(typed, Config):
        validate(typed)
    elif isinstance(typed, VerifierConfig):
        validate_verifier(typed)
    return typed  # type: ignore[return-value]


def _key_of(e: Exception) -> str:
    key = getattr(e, "full_key", None)
    return f" (key: {key})" if key else ""


def make_task(task_cfg: Any) -> Any:
    """Instantiate the `task` group (`_target_` names the class). Each given key is checked
    against the class's annotation first, so `task.train_size=abc` fails here, naming the
    key, rather than as a traceback when a split loads."""
    from hydra.utils import get_class, instantiate
    from omegaconf import OmegaConf

    values = OmegaConf.to_container(task_cfg, resolve=True) if OmegaConf.is_config(task_cfg) else dict(task_cfg)
    target = values.get("_target_")
    if not target:
        raise ConfigError("config error: the task config has no _target_ (the class implementing the task)")
    try:
        with quiet_hydra():
            cls = get_class(target)
    except Exception as e:
        raise ConfigError(f"config error: task._target_={target!r} cannot be imported: {_cause(e)}") from None
    check_types(cls, {k: v for k, v in values.items() if not k.startswith("_")}, prefix="task")
    try:
        return instantiate(task_cfg, _convert_="all")
    except Exception as e:
        raise ConfigError(f"config error: cannot build the task from the `task` config: {_cause(e)}") from None


@contextlib.contextmanager
def quiet_hydra() -> Iterator[None]:
    """Hydra logs "Error getting class ..." at ERROR before raising; the raised error is what
    star reports, in a line of its own, so that log record is dropped."""
    hydra_log = logging.getLogger("hydra.utils")
    disabled, hydra_log.disabled = hydra_log.disabled, True
    try:
        yield
    finally:
        hydra_log.disabled = disabled


def check_types(cls: type, values: Mapping[str, Any], prefix: str) -> None:
    """Raise ConfigError for a value that does not fit the annotation of `cls`'s field (or
    constructor parameter) of that name. Unknown names are left to the constructor."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: the constructor will judge
        return
    names = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set(hints)
    for key, value in values.items():
        if key in names and key in hints and not _fits(value, hints[key]):
            raise ConfigError(f"config error: {prefix}.{key}={value!r} is not a valid "
                              f"{_type_name(hints[key])}")


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or isinstance(hint, TypeVar):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is typing.Literal:
        return value in args
    if origin in (list, tuple, Sequence, typing.Sequence) or hint in (list, tuple):
        if isinstance(value, str) or not isinstance(value, list | tuple):
            return False
        item = args[0] if args and (origin is not tuple or len(args) == 2 and args[1] is Ellipsis) else Any
        return all(_fits(v, item) for v in value)
    if origin in (dict, Mapping) or hint is dict:
        return isinstance(value, Mapping)
    return True  # a class of the task's own: its constructor judges


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _cause(e: BaseException) -> str:
    while e.__cause__ is not None:
        e = e.__cause__
    return f"{type(e).__name__}: {e}"


def shipped_accelerate_configs() -> list[str]:
    folder = files("star.conf") / "accelerate"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def accelerate_config_path(name: str) -> Path:
    """`name` as a file path, else a config shipped in conf/accelerate/ (ddp, fsdp, ...)."""
    if Path(name).is_file():
        return Path(name).resolve()
    shipped = files("star.conf") / "accelerate" / f"{name.removesuffix('.yaml')}.yaml"
    if shipped.is_file():
        return Path(str(shipped))
    raise FileNotFoundError(f"{name!r} is neither a file nor a shipped config "
                            f"({', '.join(shipped_accelerate_configs())})")


def check_environment(cfg: Config) -> None:
    """What the selected backends need from this machine (an extra, a GPU), checked before
    any model work; optional engines are looked up, never imported, here."""
    from importlib.util import find_spec

    if cfg.generator.backend == "vllm" and find_spec("vllm") is None:
        raise ConfigError("config error: generator.backend=vllm needs vLLM, which is not installed: "
                         "pip install 'star[vllm]' (on a machine with a CUDA GPU), or use generator=hf")
    if cfg.generator.backend == "ray":
        check_ray(cfg.generator)
    if cfg.algorithm.name == "grpo" and cfg.algorithm.use_vllm and find_spec("vllm") is None:
        raise ConfigError("config error: algorithm.use_vllm=true needs vLLM, which is not installed: "
                         "pip install 'star[vllm]' (on a machine with a CUDA GPU), or algorithm.use_vllm=false")
    if cfg.trainer.launcher == "accelerate":
        try:
            path = accelerate_config_path(cfg.trainer.accelerate_config)
        except FileNotFoundError as e:
            raise ConfigError(f"config error: trainer.accelerate_config: {e}") from None
        if "deepspeed" in path.read_text().lower() and find_spec("deepspeed") is None:
            raise ConfigError(f"config error: trainer.accelerate_config={cfg.trainer.accelerate_config} uses "
                             "DeepSpeed, which is not installed: pip install deepspeed")
    needs_gpu = [f"model.quantization={cfg.model.quantization}"] if cfg.model.quantization != "none" else []
    needs_gpu += [f"model.device={cfg.model.device}"] if cfg.model.device.startswith("cuda") else []
    if needs_gpu:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"config error: {' and '.join(needs_gpu)} needs a CUDA GPU, and none is "
                             "visible here (torch.cuda.is_available() is False)")
    if cfg.model.quantization != "none":
        if find_spec("bitsandbytes") is None:
            raise ConfigError(f"config error: model.quantization={cfg.model.quantization} needs bitsandbytes: "
                             "pip install bitsandbytes")
        if cfg.trainer.method != "lora":
            raise ConfigError("config error: a quantized model trains through LoRA only (QLoRA): "
                             "use trainer=lora with model.quantization")
    if cfg.model.gguf_file is not None:
        check_gguf(cfg.model)
    elif cfg.model.name_or_path != "tiny":
        check_model_source(cfg.model.name_or_path)


def check_ray(g: GeneratorConfig) -> None:
    """generator=ray: the extras, the replicas' keys, and whether the replicas fit: on this
    machine for a local instance, else the cluster's address must answer (one TCP
    connection; star.ray_generator.connect checks a cluster's resources when the backend starts)."""
    import os
    from importlib.util import find_spec

    if find_spec("ray") is None:
        raise ConfigError("config error: generator.backend=ray needs Ray Data, which is not installed: "
                          "pip install 'star[ray]', or use generator=hf")
    if g.engine == "vllm" and (find_spec("vllm") is None or find_spec("ray.llm") is None):
        raise ConfigError("config error: generator.engine=vllm needs ray[llm] and vLLM (on CUDA GPUs): "
                          "pip install 'ray[llm]' vllm, or generator.engine=hf")
    r = g.resources
    for key, value, low in (("num_replicas", g.num_replicas, 1), ("shard_size", g.shard_size, 1),
                            ("resources.cpus", r.cpus, 0), ("resources.gpus", r.gpus, 0),
                            ("max_restarts", g.max_restarts, -1)):
        if value < low:
            raise ConfigError(f"config error: generator.{key}={value} must be >= {low}")
    for key, value in (("resources.threads", r.threads), ("ray_num_cpus", g.ray_num_cpus)):
        if value is not None and value < 1:
            raise ConfigError(f"config error: generator.{key}={value} must be >= 1 (or null)")
    where, key = ray_address(g)
    if where:
        probe_ray_address(where, key)
        return
    have = {"CPU": float(g.ray_num_cpus or os.cpu_count() or 1)}
    if r.gpus > 0 or g.engine == "vllm":
        import torch

        have["GPU"] = float(torch.cuda.device_count())
    check_ray_resources(g, have)


def ray_address(g: GeneratorConfig) -> tuple[str | None, str]:
    """(a Ray cluster's address, the key that named it): generator.ray_address, else
    $RAY_ADDRESS (`ray job submit` sets it for its driver), else None: a local instance."""
    import os

    if g.ray_address:
        return g.ray_address, "generator.ray_address"
    return (os.environ["RAY_ADDRESS"], "RAY_ADDRESS") if os.environ.get("RAY_ADDRESS") else (None, "")


def probe_ray_address(where: str, key: str, timeout: float = 5.0) -> None:
    """One TCP connection to host:port (or ray://host:port), never joining the cluster, so
    that a wrong address fails before any model work; `auto` is left to the backend's start."""
    import socket

    if where in ("auto", "local"):
        return
    host, _, port = where.split("://", 1)[-1].split("/", 1)[0].rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"config error: {key}={where}: expected host:port (the head's GCS, port 6379 by "
                          "default), ray://host:port or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConfigError(f"config error: {key}={where}: no Ray cluster answers there ({e.strerror or e}); "
                          "start one with `ray start --head`, or unset it for a local instance") from None


def check_ray_resources(g: GeneratorConfig, have: Mapping[str, float]) -> None:
    """ConfigError when `have` (CPU and GPU counts, as Ray's cluster_resources) cannot hold
    generator.num_replicas replicas of generator.resources at once."""
    for kind, each, key in (("CPU", g.resources.cpus, "cpus"), ("GPU", g.resources.gpus, "gpus")):
        if g.engine == "vllm" and kind == "GPU":
            each = max(each, g.tensor_parallel_size)  # one vLLM engine spans tensor_parallel_size GPUs
        need, got = g.num_replicas * each, have.get(kind, 0.0)
        if need > got + 1e-9:
            raise ConfigError(f"config error: generator.num_replicas={g.num_replicas} x generator.resources.{key}="
                              f"{each:g} needs {need:g} {kind}s and the Ray cluster has {got:g}: lower them, or "
                              "add nodes")


def check_model_source(name: str) -> None:
    """model.name_or_path: a local directory that exists, or a hub name that is in the local
    HF cache or can be downloaded; checked before a run directory exists, in one line."""
    import os

    key = f"model.name_or_path={name}"
    path = Path(name).expanduser()
    looks_local = name.startswith((".", "/", "~")) or path.exists() or name.count("/") > 1
    if looks_local:
        if not path.exists():
            where = "" if path.is_absolute() else f"; relative paths resolve against {Path.cwd()}"
            raise ConfigError(f"config error: {key}: no such directory ({path}{where})")
        if not (path / "config.json").is_file():
            raise ConfigError(f"config error: {key}: {path} holds no config.json (not a Hugging Face model "
                              "directory)")
        return
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return  # in the local cache
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or os.environ.get(
            "TRANSFORMERS_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise ConfigError(f"config error: {key} is not in the local Hugging Face cache and downloads are off "
                          "(HF_HUB_OFFLINE): download it first, or give a local directory")
    from huggingface_hub import model_info
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        model_info(name, timeout=10)
    except RepositoryNotFoundError:
        raise ConfigError(f"config error: {key}: no such model on the Hugging Face hub (or it is private: "
                          "log in with `hf auth login`)") from None
    except Exception as e:  # no network, a proxy, a hub outage
        raise ConfigError(f"config error: {key} is not in the local Hugging Face cache and the hub cannot be "
                          f"reached ({type(e).__name__}): download it where there is a network, or give a "
                          "local directory") from None


def check_gguf(cfg: ModelConfig) -> None:
    """model.gguf_file: a GGUF checkpoint that star.gguf can locate and transformers load,
    checked from its first bytes, before any model work."""
    from star import gguf

    key = f"model.gguf_file={cfg.gguf_file}"
    if cfg.name_or_path == "tiny":
        raise ConfigError(f"config error: {key} with model=tiny: a GGUF checkpoint is a model of its own; "
                          "use model=hf (model.name_or_path names it) or model=smollm2")
    try:
        gguf.check(gguf.locate(cfg.gguf_file or "", cfg.name_or_path))
    except gguf.GGUFError as e:
        raise ConfigError(f"config error: {key}: {e}") from None


def register() -> None:
    ConfigStore.instance().store(name="star_schema", node=Config)


register()
