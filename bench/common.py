"""Shared setup for the benchmarks: the embedded tiny model (cold-started as in the demo,
from the cache when it exists) and the arithmetic task's prompts."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra import compose, initialize_config_module

from star import config as _schema  # noqa: F401  (registers the schema)
from star.config import Config


def demo_config(*overrides: str) -> tuple[Config, object]:
    """The composed default config (as `star run` sees it) and its task."""
    from star.config import make_task, to_config

    with initialize_config_module("star.conf", version_base="1.3"):
        dcfg = compose("config", overrides=list(overrides))
    return to_config(dcfg), make_task(dcfg.task)


def demo_model(cfg: Config, task) -> Path:
    """The cold-started tiny model of the demo (built and cached on first use)."""
    from star.checkers import CheckPool
    from star.cold_start import starting_model

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with CheckPool(cfg.check.workers, cfg.check.timeout) as pool:
        return Path(starting_model(cfg.model, task, cfg.seed, pool))
