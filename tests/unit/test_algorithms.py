"""conf/algorithm/ and experiment=compare_methods compose and validate; algorithm=grpo's keys
are checked before any model work, and map onto TRL's GRPOConfig (no model)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from star.config import ConfigError, validate
from star.task_cli import compose


def typed(*overrides: str):
    return OmegaConf.to_object(compose(list(overrides)))


@pytest.mark.parametrize("overrides,name,rationalize", [
    ([], "star", True), (["algorithm=star"], "star", True), (["algorithm=rft"], "star", False),
    (["algorithm=grpo"], "grpo", True), (["experiment=smoke", "algorithm=grpo"], "grpo", True),
    (["experiment=compare_methods", "algorithm=rft"], "star", False),
])
def test_algorithms_compose_and_validate(overrides, name, rationalize):
    cfg = typed(*overrides)
    validate(cfg)
    assert cfg.algorithm.name == name and cfg.loop.rationalize is rationalize
    if "experiment=smoke" in overrides:
        assert cfg.loop.iterations == 2  # the experiment, after the algorithm, sets the rounds


def test_every_algorithm_has_a_runner():
    from star.cli import algorithms
    from star.config import CHOICES

    assert set(algorithms()) == set(CHOICES["algorithm.name"])


def test_compare_methods_is_a_sweep_over_algorithms_and_seeds():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module("star.conf", version_base="1.3"):
        cfg = hydra_compose("config", overrides=["experiment=compare_methods"], return_hydra_config=True)
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"  # `star run experiment=compare_methods` sweeps without -m
    assert dict(cfg.hydra.sweeper.params) == {"algorithm": "star,rft,grpo", "seed": "0,1,2"}
    # one starting model per seed: the algorithms change no model or cold-start key
    runs = [typed("experiment=compare_methods", f"algorithm={a}") for a in ("star", "rft", "grpo")]
    assert all(r.model == runs[0].model and r.eval == runs[0].eval and r.task == runs[0].task for r in runs)


@pytest.mark.parametrize("override,message", [
    ("algorithm.batch_size=60", "multiple of algorithm.num_generations"),
    ("algorithm.num_generations=1", "num_generations=1 must be >= 2"),
    ("algorithm.temperature=0", "temperature=0.0 must be > 0"),
    ("algorithm.reward.format=-1", "must be >= 0"),
    ("algorithm.reward.correct=0", "both 0"),
    ("trainer=full", "use trainer=lora"),
    ("algorithm.vllm_mode=remote", "algorithm.vllm_mode='remote' is not one of colocate, server"),
    ("algorithm.use_vllm=true", "needs vLLM"),
])
def test_grpo_config_errors_name_the_key(override, message):
    cfg = typed("algorithm=grpo", override)
    if override == "algorithm.use_vllm=true":
        pytest.importorskip("trl")
        from importlib.util import find_spec

        if find_spec("vllm") is not None:
            pytest.skip("vLLM is installed here")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        validate(cfg)


def test_grpo_keys_feed_trls_grpo_config(tmp_path):
    pytest.importorskip("trl")
    from star.grpo import trl_args

    cfg = typed("algorithm=grpo", "+algorithm.trl.epsilon_high=0.28")
    args = trl_args(cfg.algorithm, output_dir=str(tmp_path), max_steps=10, use_cpu=True)
    a = cfg.algorithm
    assert (args.num_generations, args.per_device_train_batch_size, args.learning_rate, args.beta,
            args.temperature, args.epsilon_high) == (a.num_generations, a.batch_size, a.lr, a.beta, a.temperature, 0.28)
    assert args.generation_batch_size == a.batch_size  # one generation batch per optimizer step
    bad = typed("algorithm=grpo", "+algorithm.trl.num_generationz=4")
    with pytest.raises(ConfigError, match="algorithm.trl.num_generationz is not an argument"):
        trl_args(bad.algorithm)
