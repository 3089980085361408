"""Keys added after runs were made (rundir.LATER_KEYS) at their behave-as-before values leave
the results config: a run made before them still resumes and still merges with new runs in
`star report`. Checked for this round's keys (loop.teacher, algorithm.stages) and for the
generator=ray keys, which an hf run never reads (its results do not depend on them)."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from star.rundir import LATER_KEYS, check_resume, config_hash, results_config
from star.task_cli import compose

NEW = ("loop.teacher", "algorithm.stages", "generator.engine", "generator.num_replicas", "generator.resources",
       "generator.shard_size", "generator.ray_address", "generator.ray_num_cpus", "generator.max_restarts",
       "generator.ship_weights")


def before_the_new_keys(config: dict) -> dict:
    """The resolved config as a run made before NEW existed wrote it."""
    config = json.loads(json.dumps(config))
    for key in NEW:
        *path, last = key.split(".")
        node = config
        for part in path:
            node = node[part]
        node.pop(last)
    return config


def test_a_run_made_before_the_new_keys_resumes_and_hashes_the_same(tmp_path):
    now = OmegaConf.to_container(compose([]), resolve=True)
    old = before_the_new_keys(now)
    assert config_hash(old) == config_hash(now) and results_config(old) == results_config(now)
    (tmp_path / "manifest.json").write_text(json.dumps({"config_hash": config_hash(old),
                                                        "results_config": results_config(old)}))
    check_resume(tmp_path, now, {"config_hash": config_hash(now)})  # not refused


@pytest.mark.parametrize("override,key", [("generator=ray", "generator.backend"),
                                          ("generator.shard_size=8", "generator.shard_size"),
                                          ("loop.teacher=runs/x", "loop.teacher")])
def test_a_new_key_away_from_its_old_behaviour_is_in_the_hash(override, key):
    now = OmegaConf.to_container(compose([override]), resolve=True)
    assert key in results_config(now) and config_hash(now) != config_hash(OmegaConf.to_container(compose([]),
                                                                                            resolve=True))
    assert all(k in LATER_KEYS for k in ("loop.teacher", "algorithm.stages"))


def test_where_generation_runs_is_neutral():
    """generator.num_replicas (Ray's placement) gives the same completions as hf (per-row sampling
    noise), so it is a NEUTRAL key: a resume with more replicas is not refused."""
    base = OmegaConf.to_container(compose(["generator=ray"]), resolve=True)
    more = OmegaConf.to_container(compose(["generator=ray", "generator.num_replicas=2"]), resolve=True)
    assert "generator.num_replicas" not in results_config(more) and config_hash(more) == config_hash(base)
