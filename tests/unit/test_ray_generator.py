"""generator=ray on a local Ray cluster (`ray.init(num_cpus=2)`, one session for the module)
with 2 replicas of a tiny model and a LoRA adapter on it: greedy completions are those of
the HF backend in this process; sampled ones are a pure function of the prompts (each
shard is what HFGenerator gives for that shard alone); weights shipped through the object
store give the same completions; a replica killed mid-batch is restarted and changes
nothing; a cluster too small for the replicas is refused, naming the key.

Every test here starts replicas (a Ray actor imports torch and loads the model: ~10-20 s
on 2 CPUs), so all are slow.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                 reason="Ray is not installed (pip install 'star[ray]')")]

from star.config import ConfigError, GeneratorConfig, ModelConfig, ReplicaResources, TinyConfig  # noqa: E402
from star.generation import HFGenerator  # noqa: E402
from star.models import build_tiny, load_model, load_tokenizer  # noqa: E402

MODEL = ModelConfig(dtype="float32")
PROMPTS = [f"{a}+{b}=" for a in range(10) for b in range(3, 7)]  # 40 prompts
BUDGETS = [6 + 5 * (i % 3) for i in range(len(PROMPTS))]
STOP = ["+"]
CFG = GeneratorConfig(backend="ray", num_replicas=2, shard_size=6, batch_size=16, progress=False,
                      resources=ReplicaResources(cpus=0.5, threads=1))


@pytest.fixture(scope="module")
def cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny model with sharpened weights (random weights give near-flat logits, where
    greedy ties break on rounding) and a random LoRA adapter on it, both on disk."""
    import torch
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("ray-model")
    built = build_tiny(root / "built", TinyConfig(hidden_size=64, intermediate_size=128, layers=2, heads=4), seed=0)
    model = load_model(built, MODEL)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(20.0)
    model.save_pretrained(root / "base")
    load_tokenizer(built).save_pretrained(root / "base")
    torch.manual_seed(1)
    lora = get_peft_model(load_model(root / "base", MODEL), LoraConfig(
        r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(root / "adapter")
    return root / "base", root / "adapter"


def hf(weights, **kw):
    """The HF backend in this process, on what HFBackend.load loads (adapter merged)."""
    base, adapter = weights
    gen = HFGenerator(load_model(base, MODEL, adapter=adapter), load_tokenizer(base, MODEL), CFG)
    return gen, gen.generate(PROMPTS, max_new_tokens=BUDGETS, stop=STOP, **kw)


def ray_gen(weights, cfg=CFG):
    from star.ray_generator import RayGenerator, replica_spec

    base, adapter = weights
    return RayGenerator(replica_spec(base, adapter, True, cfg, MODEL))


def test_greedy_completions_are_the_hf_backends(cluster, weights):
    gen = ray_gen(weights)
    out = gen.generate(PROMPTS, n=2, max_new_tokens=BUDGETS, stop=STOP, seed=3)
    _, want = hf(weights, n=2, seed=3)
    assert out == want
    assert gen.stats.shards == 7 and len(gen.stats.replicas) == 2, "both replicas took shards"
    plain = HFGenerator(load_model(weights[0], MODEL), load_tokenizer(weights[0], MODEL), CFG)
    assert out != plain.generate(PROMPTS, n=2, max_new_tokens=BUDGETS, stop=STOP), "the adapter must be applied"


def test_sampled_completions_are_a_pure_function_of_the_prompts(cluster, weights):
    """Each shard is sampled as HFGenerator samples that shard alone, with the loop's seed:
    whichever replica ran it. (HFGenerator seeds one RNG per call, so the whole call's
    samples differ from generator=hf's until it seeds per prompt.)"""
    gen = ray_gen(weights)
    out = gen.generate(PROMPTS, n=2, temperature=1.0, max_new_tokens=BUDGETS, stop=STOP, seed=7)
    local, whole = hf(weights, n=2, temperature=1.0, seed=7)
    size = CFG.shard_size
    by_shard = [c for s in range(0, len(PROMPTS), size)
                for c in local.generate(PROMPTS[s:s + size], n=2, temperature=1.0, max_new_tokens=BUDGETS[s:s + size],
                                        stop=STOP, seed=7)]
    assert out == by_shard
    print(f"sampled: {sum(a == b for a, b in zip(out, whole, strict=True))} of {len(PROMPTS)} prompts "
          "as generator=hf samples them in one call")


def test_weights_through_the_object_store_give_the_same_completions(cluster, weights):
    gen = ray_gen(weights, replace(CFG, ship_weights=True, num_replicas=1, shard_size=20))
    out = gen.generate(PROMPTS, max_new_tokens=BUDGETS, stop=STOP)
    assert out == hf(weights)[1]


def replica_pids() -> list[int]:
    """This test process's Ray replicas running a batch now (their process title says so)."""
    import psutil

    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "MapBatches(Replica)).submit" in " ".join(p.cmdline()):
                found.append(p.pid)
        except psutil.Error:
            pass
    return found


@pytest.mark.parametrize("restarts", [3, 0])
def test_a_replica_killed_mid_batch_changes_nothing(cluster, weights, restarts):
    """With generator.max_restarts=3 the killed replica is restarted and its batch retried;
    with 0 (the key reaches Ray: its own default restarts without limit) the call fails."""
    _, want = hf(weights, n=2, seed=3)
    gen = ray_gen(weights, replace(CFG, shard_size=2, max_restarts=restarts))
    killed: list[int] = []
    done = threading.Event()

    def kill_one():
        while not done.is_set() and not killed:
            for pid in replica_pids():
                os.kill(pid, signal.SIGKILL)  # a replica of ours, in the middle of a batch
                killed.append(pid)
                break
            time.sleep(0.005)

    watcher = threading.Thread(target=kill_one)
    watcher.start()
    try:
        if not restarts:
            with pytest.raises(Exception, match="(?i)actor|died|worker"):
                gen.generate(PROMPTS, n=2, max_new_tokens=BUDGETS, stop=STOP, seed=3)
            assert killed
            return
        out = gen.generate(PROMPTS, n=2, max_new_tokens=BUDGETS, stop=STOP, seed=3)
    finally:
        done.set()
        watcher.join()
    assert killed, "no replica was seen in a batch to kill"
    assert out == want
    assert sum(gen.stats.replicas.values()) == 20, "every shard came back once"


def test_a_cluster_too_small_for_the_replicas_is_refused_before_any_replica_starts(cluster, weights):
    from star.ray_generator import connect

    with pytest.raises(ConfigError, match="generator.num_replicas=3 x generator.resources.cpus=1 needs 3 CPUs "
                                          "and the Ray cluster has 2"):
        connect(replace(CFG, num_replicas=3, resources=ReplicaResources(cpus=1)))
