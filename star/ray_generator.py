"""Ray generation (`generator=ray`): the Generator contract as a Ray Data pipeline over
replicas of the model, on a local Ray instance or an existing cluster.

    prompts ─► shards of generator.shard_size prompts, in prompt order (a pure function of
               the prompts: which replica runs a shard never changes what it holds)
            ─► ray.data.from_items, one block per shard (a dataset in one block would feed
               one actor only)
            ─► map_batches(Replica, batch_size=1) over an actor pool of generator.num_replicas
               replicas, each reserving generator.resources (fractional CPUs allowed; one
               GPU per replica on GPU nodes), each holding iteration t's model
            ─► every shard's completions, gathered and put back in prompt order

A replica (`Replica`) loads the weights the HF backend would load (`HFBackend.load` in
star/policy.py: the starting model with iteration t's LoRA adapter merged, or a fully
fine-tuned model) and calls `HFGenerator.generate` on its shard with the very arguments
the loop passed (n, temperature, the shard's token budgets, stop strings, seed). Greedy
rows do not depend on their batch, so greedy completions are the `generator=hf` ones.
Sampled completions match `generator=hf` only where a shard's draws do not depend on the
rest of the call: HFGenerator seeds one RNG per call today, so they differ from hf (and
stay deterministic: the shards are fixed, whatever the number of replicas).

Weights reach a replica one of two ways (`generator.ship_weights`):
- false (the default): it reads them by path, the run directory (`iter_NNN/adapter`) and
  the model cache (STAR_CACHE_DIR), which on a multi-node cluster must be shared storage
  mounted at the same path on every node (docs/SCALE.md);
- true: the driver packs those directories into Ray's object store once per call, and
  each replica unpacks them into a temporary directory of its node (small models, or a
  cluster without shared storage; a 7B model is 15 GB through the object store).

With `generator.engine=vllm` a replica is vLLM's engine instead, through `ray.data.llm`
(`build_processor` with a `vLLMEngineProcessorConfig`; needs `ray[llm]` and GPUs), one
row per (prompt, sample), the adapter as each row's LoRA `model`, the sampling
parameters those of `generator=vllm` (star/vllm_generator.py, handed in by the backend).
That path was written against Ray 2.60's API and has not run on a GPU here.

Faults: Ray Data restarts a replica that dies (`generator.max_restarts`) and retries the
shard it held; a shard's output is taken once, and `generate` checks that every shard
came back exactly once, so a kill neither loses nor doubles a completion. A killed run
resumes from the run directory as with any backend. The connection (`connect`) is made
when the backend starts, before any replica loads a model: a cluster that cannot be
reached, or has too few CPUs or GPUs for the replicas, stops the run in one line naming
the key. Ray is an optional extra (`star[ray]`), imported only here and only when used.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from star import models
from star.config import ConfigError, GeneratorConfig, ModelConfig, check_ray_resources, ray_address
from star.generation import Completion, HFGenerator, eos_token_ids

log = logging.getLogger(__name__)


# --- the connection --------------------------------------------------------------------


def local_cpus(cfg: GeneratorConfig) -> int:
    """The CPUs of a local instance: generator.ray_num_cpus, else this machine's."""
    return cfg.ray_num_cpus or os.cpu_count() or 1


def connect(cfg: GeneratorConfig) -> None:
    """Join the cluster (or start a local instance) and check that it holds the replicas.

    Raises ConfigError, one line naming the key, when the cluster cannot be reached or its
    CPUs or GPUs are fewer than generator.num_replicas x generator.resources. A session
    already started in this process (a test's `ray.init(num_cpus=2)`) is used as it is."""
    import ray

    if not ray.is_initialized():
        where, key = ray_address(cfg)
        try:
            if where:
                ray.init(address=where, logging_level=logging.WARNING)
            else:
                ray.init(num_cpus=local_cpus(cfg), include_dashboard=False, logging_level=logging.WARNING)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if not where:
                raise ConfigError(f"config error: generator.ray_num_cpus={cfg.ray_num_cpus}: a local Ray "
                                  f"instance did not start ({first})") from None
            raise ConfigError(f"config error: {key}={where}: cannot reach a Ray cluster there ({first}); start "
                              "one with `ray start --head`, or unset it for a local instance") from None
        log.info("Ray: %s (%s)", "connected to " + where if where else "local instance", ray.cluster_resources())
    check_ray_resources(cfg, ray.cluster_resources())


# --- the shards --------------------------------------------------------------------------


def shards(prompts: Sequence[str], budgets: Sequence[int], size: int) -> list[dict[str, Any]]:
    """The dataset's rows: consecutive runs of `size` prompts with their token budgets, in
    prompt order. A pure function of the prompts, so what a replica generates for a shard
    does not depend on how many replicas there are, or on which one a retry lands."""
    return [{"shard": k, "start": s, "prompts": json.dumps(list(prompts[s:s + size])),
             "budgets": json.dumps([int(b) for b in budgets[s:s + size]])}
            for k, s in enumerate(range(0, len(prompts), size))]


def gather(rows: Sequence[dict[str, Any]], n_shards: int, n_prompts: int) -> list[list[Completion]]:
    """Every shard's completions in prompt order; a shard missing or twice is an error
    (a retried shard must come back once, never lost or doubled)."""
    got = sorted(int(r["shard"]) for r in rows)
    if got != list(range(n_shards)):
        missing = sorted(set(range(n_shards)) - set(got))
        doubled = sorted({k for k in got if got.count(k) > 1})
        raise RuntimeError(f"Ray generation returned shards {missing} missing and {doubled} doubled "
                           f"(of {n_shards})")
    out = [[Completion(text, tokens) for text, tokens in outs]
           for r in sorted(rows, key=lambda r: int(r["shard"])) for outs in json.loads(r["completions"])]
    if len(out) != n_prompts:
        raise RuntimeError(f"Ray generation returned {len(out)} prompts' completions for {n_prompts} prompts")
    return out


# --- the weights -------------------------------------------------------------------------


def pack(folder: str | Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path (generator.ship_weights)."""
    root = Path(folder)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def unpack(files: dict[str, bytes], into: Path) -> Path:
    for rel, data in files.items():
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        (into / rel).write_bytes(data)
    return into


@dataclass(frozen=True)
class ReplicaSpec:
    """What a replica loads: `model` (+ `adapter`, merged), its tokenizer from `tokenizer`,
    and the generator config it generates with. With generator.ship_weights, `files` is an
    object-store reference to {path: packed folder} for those folders."""

    model: str
    adapter: str | None
    tokenizer: str
    model_cfg: ModelConfig
    generator: GeneratorConfig
    files: Any = None


def replica_spec(base: str | Path, weights: Path | None, lora: bool, cfg: GeneratorConfig,
                 model_cfg: ModelConfig) -> ReplicaSpec:
    """The weights `HFBackend.load` loads for iteration t (`weights`: its adapter or model
    folder, None for the starting model), as absolute paths a replica on another node can
    open (a hub name stays a name: each node reads its own HF cache)."""

    def where(p: str | Path) -> str:
        return str(Path(p).resolve()) if Path(p).exists() else str(p)

    model, adapter = (weights, None) if weights is not None and not lora else (base, weights)
    return ReplicaSpec(model=where(model), adapter=where(adapter) if adapter is not None else None,
                       tokenizer=where(base), model_cfg=model_cfg, generator=replace(cfg, progress=False))


class Replica:
    """One model replica: a Ray actor of the pool (map_batches' callable class)."""

    def __init__(self, spec: ReplicaSpec):
        import torch

        models.quiet_libraries()
        torch.set_num_threads(spec.generator.resources.threads or max(1, round(spec.generator.resources.cpus)))
        paths = {"model": spec.model, "adapter": spec.adapter, "tokenizer": spec.tokenizer}
        if spec.files is not None:  # generator.ship_weights: the folders came through the object store
            import ray

            packed: dict[str, dict[str, bytes]] = ray.get(spec.files)
            root = Path(tempfile.mkdtemp(prefix="star-replica-"))
            weakref.finalize(self, shutil.rmtree, root, True)
            local = {src: unpack(files, root / str(i)) for i, (src, files) in enumerate(packed.items())}
            paths = {k: str(local.get(v, v)) if v is not None else None for k, v in paths.items()}
        tokenizer = models.load_tokenizer(paths["tokenizer"], spec.model_cfg)
        model = models.load_model(paths["model"], spec.model_cfg,
                                  adapter=Path(paths["adapter"]) if paths["adapter"] else None)
        self.generator = HFGenerator(model, tokenizer, spec.generator)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        log.info("replica %s ready: %s%s", self.name, spec.model, f" + {spec.adapter}" if spec.adapter else "")

    def __call__(self, batch: dict[str, Any], *, n: int, temperature: float, stop: list[str], seed: int,
                 desc: str) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"shard": [], "completions": [], "replica": [], "seconds": []}
        for shard, prompts, budgets in zip(batch["shard"], batch["prompts"], batch["budgets"], strict=True):
            t0 = time.perf_counter()
            completions = self.generator.generate(json.loads(prompts), n=n, temperature=temperature,
                                                  max_new_tokens=json.loads(budgets), stop=stop, seed=seed,
                                                  desc=desc)
            out["shard"].append(int(shard))
            out["completions"].append(json.dumps([[[c.text, c.tokens] for c in outs] for outs in completions]))
            out["replica"].append(self.name)
            out["seconds"].append(time.perf_counter() - t0)
        return out


# --- the vLLM replicas (ray.data.llm) ------------------------------------------------------


@dataclass(frozen=True)
class VLLMStage:
    """generator.engine=vllm: vLLM's engine arguments and the sampling parameters of
    `generator=vllm` (star.vllm_generator's engine_args and sampling_params, handed in by
    the backend: this module sits beside vllm_generator, not above it)."""

    engine_kwargs: dict[str, Any]
    sampling_params: Callable[..., list[dict[str, Any]]]


def vllm_rows(prompts: Sequence[str], budgets: Sequence[int], cfg: GeneratorConfig, stage: VLLMStage, *, n: int,
              temperature: float, stop: Sequence[str], seed: int, eos: Sequence[int],
              adapter: str | None) -> list[dict[str, Any]]:
    """ray.data.llm's rows: one per (prompt, sample), since its engine stage keeps a request's
    first output only; sample j of prompt i is seeded `seed + i * n + j` (greedy: one row per
    prompt, repeated n times by `vllm_gather`). `model` names the LoRA adapter of a row."""
    reps = n if temperature > 0 else 1
    params = stage.sampling_params(budgets, cfg, n=1, temperature=temperature, stop=stop, seed=seed,
                                   stop_token_ids=eos)
    rows = []
    for i, (prompt, p) in enumerate(zip(prompts, params, strict=True)):
        for j in range(reps):
            row: dict[str, Any] = {"index": i, "sample": j, "prompt": prompt,
                                   "sampling_params": p | ({"seed": seed + i * n + j} if reps > 1 else {})}
            if adapter is not None:
                row["model"] = adapter
            rows.append(row)
    return rows


def vllm_gather(rows: Sequence[dict[str, Any]], n_prompts: int, n: int, eos: Sequence[int]) -> list[list[Completion]]:
    """(index, sample) rows back in prompt order; tokens count the generated ones, an ending
    EOS id excluded (as `star.vllm_generator.completion` counts them)."""
    by_prompt: dict[int, dict[int, Completion]] = {}
    for r in rows:
        ids = list(r.get("generated_tokens") or [])
        tokens = int(r.get("num_generated_tokens", len(ids)))
        if ids and ids[-1] in set(eos):
            tokens -= 1
        done = by_prompt.setdefault(int(r["index"]), {})
        if int(r["sample"]) in done:
            raise RuntimeError(f"ray.data.llm returned prompt {r['index']} sample {r['sample']} twice")
        done[int(r["sample"])] = Completion(r["generated_text"], tokens)
    if sorted(by_prompt) != list(range(n_prompts)):
        raise RuntimeError(f"ray.data.llm returned {len(by_prompt)} of {n_prompts} prompts")
    out = []
    for i in range(n_prompts):
        samples = [by_prompt[i][j] for j in sorted(by_prompt[i])]
        out.append(samples if len(samples) == n else samples * n)
    return out


# --- the generator -------------------------------------------------------------------------


@dataclass
class RunStats:
    """The last `generate` call, for logs and bench/bench_ray.py."""

    shards: int = 0
    wall_s: float = 0.0  # the whole call: dataset, actor start and model loads, generation, gather
    first_s: float = 0.0  # from the call's start to the first shard's completions
    replica_s: list[float] = field(default_factory=list)  # generate() inside the replicas, per shard
    replicas: dict[str, int] = field(default_factory=dict)  # replica (host:pid) -> shards it returned


class RayGenerator:
    """`generate` as one Ray Data pipeline per call over generator.num_replicas replicas."""

    def __init__(self, spec: ReplicaSpec, vllm: VLLMStage | None = None):
        self.spec, self.cfg, self.vllm = spec, spec.generator, vllm
        self.stats = RunStats()
        self._eos: list[int] | None = None

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0,
                 max_new_tokens: int | Sequence[int] = 256, stop: Sequence[str] = (),
                 seed: int = 0, desc: str = "generate") -> list[list[Completion]]:
        """`n` completions per prompt, in prompt order (the Generator protocol)."""
        import ray

        budgets = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
        budgets = [min(b, self.cfg.max_new_tokens) for b in budgets]
        if not prompts:
            return []
        connect(self.cfg)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # one bar of ours, per shard, instead of Ray's per operator
        t0 = time.perf_counter()
        if self.vllm is not None:
            out = self._generate_vllm(list(prompts), budgets, n=n, temperature=temperature, stop=list(stop),
                                      seed=seed)
        else:
            out = self._generate_hf(list(prompts), budgets, n=n, temperature=temperature, stop=list(stop),
                                    seed=seed, desc=desc)
        self.stats.wall_s = time.perf_counter() - t0
        tokens = sum(c.tokens for outs in out for c in outs)
        log.info("ray %s: %d prompts x %d in %d shards on %d replicas, %.1fs (%.0f tokens/s; %.1fs in replicas)",
                 desc, len(prompts), n, self.stats.shards, len(self.stats.replicas) or self.cfg.num_replicas,
                 self.stats.wall_s, tokens / max(self.stats.wall_s, 1e-9), sum(self.stats.replica_s))
        return out

    def _generate_hf(self, prompts: list[str], budgets: list[int], *, n: int, temperature: float,
                     stop: list[str], seed: int, desc: str) -> list[list[Completion]]:
        import ray
        from tqdm.auto import tqdm

        rows = shards(prompts, budgets, self.cfg.shard_size)
        spec, held = self.spec, None
        if self.cfg.ship_weights:
            folders = {p for p in (spec.model, spec.adapter, spec.tokenizer) if p is not None and Path(p).is_dir()}
            held = ray.put({p: pack(p) for p in sorted(folders)})  # kept alive until the call returns
            spec = replace(spec, files=held)
        r = self.cfg.resources
        with warnings.catch_warnings():
            # Ray 2.60 marks actor options such as max_restarts deprecated in map_batches (to
            # go in 2.64) and names no replacement; its own default is -1, restarts without limit.
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            ds = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
                Replica, fn_constructor_kwargs={"spec": spec},
                fn_kwargs={"n": n, "temperature": temperature, "stop": stop, "seed": seed, "desc": desc},
                batch_size=1, compute=ray.data.ActorPoolStrategy(size=min(self.cfg.num_replicas, len(rows))),
                num_cpus=r.cpus, num_gpus=r.gpus or None,
                max_restarts=self.cfg.max_restarts, max_task_retries=self.cfg.max_restarts)
        got: list[dict[str, Any]] = []
        t0, first = time.perf_counter(), 0.0
        bar = tqdm(total=len(prompts) * n, desc=desc, unit="seq", leave=False,
                   disable=None if self.cfg.progress else True)
        for row in ds.iter_rows():
            first = first or time.perf_counter() - t0
            got.append(row)
            bar.update(len(json.loads(row["completions"])) * n)
        bar.close()
        del held
        self.stats = RunStats(shards=len(rows), first_s=first, replica_s=[float(row["seconds"]) for row in got])
        for row in got:
            self.stats.replicas[row["replica"]] = self.stats.replicas.get(row["replica"], 0) + 1
        return gather(got, len(rows), len(prompts))

    def _generate_vllm(self, prompts: list[str], budgets: list[int], *, n: int, temperature: float,
                       stop: list[str], seed: int) -> list[list[Completion]]:
        """ray.data.llm's vLLM processor (needs `ray[llm]` and GPUs): prompts are already
        rendered (star.prompting), so its chat-template and tokenizer stages are off."""
        import ray
        from ray.data.llm import build_processor, vLLMEngineProcessorConfig

        assert self.vllm is not None
        spec = self.spec
        rows = vllm_rows(prompts, budgets, self.cfg, self.vllm, n=n, temperature=temperature, stop=stop,
                         seed=seed, eos=self.eos, adapter=spec.adapter)
        kwargs = {k: v for k, v in self.vllm.engine_kwargs.items()
                  if k not in ("model", "tokenizer", "enable_sleep_mode")}  # ray.data.llm owns these
        config = vLLMEngineProcessorConfig(
            model_source=spec.model, engine_kwargs=kwargs, concurrency=self.cfg.num_replicas,
            batch_size=self.cfg.shard_size, chat_template_stage=False, tokenize_stage=False,
            detokenize_stage=False)
        processor = build_processor(config, postprocess=lambda row: {
            "index": row["index"], "sample": row["sample"], "generated_text": row["generated_text"],
            "generated_tokens": list(row["generated_tokens"]), "num_generated_tokens": row["num_generated_tokens"]})
        n_blocks = max(self.cfg.num_replicas, min(len(rows), 4 * self.cfg.num_replicas))
        got = processor(ray.data.from_items(rows, override_num_blocks=n_blocks)).take_all()
        self.stats = RunStats(shards=n_blocks)
        return vllm_gather(got, len(prompts), n, self.eos)

    @property
    def eos(self) -> list[int]:
        """The model's EOS ids (config files only, no weights), the vLLM rows' stop tokens."""
        if self._eos is None:
            tokenizer = models.load_tokenizer(self.spec.tokenizer, self.spec.model_cfg)
            self._eos = eos_token_ids(self.spec.model, tokenizer,
                                      trust_remote_code=self.spec.model_cfg.trust_remote_code)
        return self._eos
