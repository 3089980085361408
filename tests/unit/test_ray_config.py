"""generator=ray's keys: they compose and type, and what cannot work stops in config
validation, in one line naming the key, before any model work: Ray missing, too few CPUs
or GPUs for the replicas on a local instance, a cluster address nobody answers at."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time

import pytest
from hydra import compose, initialize_config_module

from star.config import (
    ConfigError,
    GeneratorConfig,
    ReplicaResources,
    check_ray_resources,
    to_config,
)

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'star[ray]')")


def config(*overrides: str):
    with initialize_config_module("star.conf", version_base="1.3"):
        return to_config(compose("config", overrides=["experiment=smoke", "generator=ray", *overrides]))


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def no_ray_address(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@needs_ray
def test_generator_ray_composes_with_its_keys():
    g = config("generator.ray_num_cpus=2").generator
    assert g.backend == "ray" and g.engine == "hf" and g.num_replicas == 2 and g.shard_size == 32
    assert g.resources == ReplicaResources(cpus=0.5, gpus=0, threads=1)
    assert g.ray_address is None and g.max_restarts == 3 and g.ship_weights is False


@needs_ray
@pytest.mark.parametrize("overrides,named", [
    (["generator.num_replicas=5", "generator.resources.cpus=1", "generator.ray_num_cpus=2"],
     "generator.num_replicas=5 x generator.resources.cpus=1 needs 5 CPUs and the Ray cluster has 2"),
    (["generator.resources.gpus=1"], "generator.resources.gpus=1 needs 2 GPUs"),
    (["generator.num_replicas=0"], "generator.num_replicas=0 must be >= 1"),
    (["generator.shard_size=0"], "generator.shard_size=0 must be >= 1"),
    (["generator.resources.threads=0"], "generator.resources.threads=0 must be >= 1"),
    (["generator.engine=sglang"], "generator.engine='sglang' is not one of hf, vllm"),
    (["generator.ray_address=nowhere"], "generator.ray_address=nowhere: expected host:port"),
])
def test_what_cannot_run_is_refused_naming_the_key(overrides, named):
    if "gpus" in named:
        import torch

        if torch.cuda.device_count() >= 2:
            pytest.skip("this machine has the GPUs")
    with pytest.raises(ConfigError, match="^config error: ") as e:
        config(*overrides)
    assert named in str(e.value) and "\n" not in str(e.value)


@needs_ray
def test_a_cluster_nobody_answers_at_is_refused_in_seconds(monkeypatch):
    port = closed_port()
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=f"generator.ray_address=127.0.0.1:{port}: no Ray cluster answers"):
        config(f"generator.ray_address=127.0.0.1:{port}")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(ConfigError, match=f"RAY_ADDRESS=127.0.0.1:{port}: no Ray cluster answers"):
        config()
    assert time.perf_counter() - t0 < 30


@needs_ray
def test_an_address_that_answers_passes_validation():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        # a remote cluster's resources are checked when the backend joins it, not here
        assert config(f"generator.ray_address=127.0.0.1:{port}", "generator.num_replicas=64").generator.num_replicas == 64


def test_without_ray_the_backend_is_refused_naming_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.split(".")[0] == "ray" else real(name, *a))
    with pytest.raises(ConfigError, match=r"generator.backend=ray needs Ray Data.*pip install 'star\[ray\]'"):
        config()


def test_the_vllm_engine_needs_gpus_per_tensor_parallel_engine():
    g = GeneratorConfig(backend="ray", engine="vllm", num_replicas=2, tensor_parallel_size=4,
                        resources=ReplicaResources(cpus=1, gpus=1))
    check_ray_resources(g, {"CPU": 16, "GPU": 8})
    with pytest.raises(ConfigError, match="generator.num_replicas=2 x generator.resources.gpus=4 needs 8 GPUs"):
        check_ray_resources(g, {"CPU": 16, "GPU": 4})


@needs_ray
def test_star_run_with_an_unreachable_cluster_stops_before_model_work(tmp_path):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "star.cli", "run", "experiment=smoke", "generator=ray",
                           f"generator.ray_address=127.0.0.1:{closed_port()}", f"out_dir={tmp_path / 'runs'}"],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={"STAR_CACHE_DIR": str(tmp_path / "cache"), "PATH": ""}, timeout=120)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "config error" in line]
    assert len(errors) == 1 and "generator.ray_address=127.0.0.1:" in errors[0], proc.stderr[-2000:]
    assert not list(tmp_path.rglob("iter_*")), "no iteration may start"
    assert not (tmp_path / "cache").exists(), "no model may be built"
    assert time.perf_counter() - t0 < 60
