"""`star eval`: its config, iterations, and the cache key of its samples."""

from __future__ import annotations

import pytest

from star.eval_cli import finished, main, run_config, settings_dir


def test_eval_cli_refuses_before_any_model_work(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2 and "not a run directory" in capsys.readouterr().err
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    assert main([str(tmp_path), "trainer.lr=1"]) == 2 and "eval., generator., check., task." in capsys.readouterr().err


@pytest.fixture
def run(tmp_path):
    from omegaconf import OmegaConf

    from star.config import Config

    config = OmegaConf.to_container(OmegaConf.merge(OmegaConf.structured(Config), {"task": {
        "_target_": "star.tasks.arithmetic.Arithmetic", "train_size": 4, "eval_size": 4}}))
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(config))
    return tmp_path


def test_eval_config_and_iterations(run):
    cfg, task = run_config(run, ["eval.k=1,4,16", "eval.temperature=1.0"])
    assert cfg.eval.k == [1, 4, 16] and cfg.eval.samples == 16 and cfg.eval.temperature == 1.0
    assert task.name == "arithmetic" and run_config(run, [])[0].eval.k == [1, 4, 16]
    for t in (0, 1, 2):
        (run / f"iter_{t:03d}").mkdir()
        if t < 2:
            (run / f"iter_{t:03d}" / "DONE").write_text("")
    assert finished(run, None) == [0, 1] and finished(run, "1") == [1]
    with pytest.raises(ValueError, match=r"\[2\] not finished"):
        finished(run, "0,2")


@pytest.mark.parametrize("override", ["generator.top_p=0.9", "generator.max_new_tokens=64", "check.timeout=1.0",
                                      "eval.temperature=1.0", "eval.max_problems=2", "eval.samples=32"])
def test_samples_are_reused_only_with_the_same_settings(run, override):
    """Every override that can change the samples or their verdicts gets its own folder;
    a second call with the same settings (or with only another k of the same samples) reuses it."""
    same = settings_dir(run, run_config(run, ["eval.k=1,4,16"])[0])
    assert settings_dir(run, run_config(run, ["eval.k=1,4,16"])[0]) == same
    assert settings_dir(run, run_config(run, ["eval.k=1,16", "eval.samples=16"])[0]) == same
    assert settings_dir(run, run_config(run, ["eval.k=1,4,16", override])[0]) != same


def test_a_wrong_override_type_names_the_key(run):
    with pytest.raises(ValueError, match="generator.top_p"):
        run_config(run, ["generator.top_p=high"])


def test_a_fresh_eval_set_but_never_another_training_side(run):
    """task.* overrides are allowed only where the run's models stay the same: a fresh eval
    set (task.eval_seed) yes, another pool (task.train_size) no."""
    cfg, task = run_config(run, ["task.eval_seed=1"])
    _, same = run_config(run, [])
    fresh, old = {p.question for p in task.load("eval")}, {p.question for p in same.load("eval")}
    assert task.load("train") == same.load("train") and not fresh & old
    assert settings_dir(run, cfg) != settings_dir(run, run_config(run, [])[0])
    with pytest.raises(ValueError, match="change the training problems"):
        run_config(run, ["task.train_size=3"])


def test_a_single_k_is_a_list_of_one(run):
    """`star eval RUN eval.k=1` failed with "'int' object is not iterable" before eval.k took
    a single value as a list of one."""
    cfg, _ = run_config(run, ["eval.k=1"])
    assert cfg.eval.k == [1] and cfg.eval.samples == 1
