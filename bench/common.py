"""Shared setup for the benchmarks: the embedded tiny model (cold-started as in the demo,
from the cache when it exists) and the arithmetic task's prompts."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from star import config as _schema  # noqa: F401  (registers the schema)
from star.config import Config


def demo_config(*overrides: str) -> tuple[Config, object]:
    """The composed default config (as `star run` sees it) and its task."""
    from hydra.utils import instantiate

    with initialize_config_module("star.conf", version_base="1.3"):
        dcfg = compose("config", overrides=list(overrides))
    return OmegaConf.to_object(dcfg), instantiate(dcfg.task, _convert_="all")


def demo_model(cfg: Config, task) -> Path:
    """The cold-started tiny model of the demo (built and cached on first use)."""
    from star import models
    from star.loop import cold_start_examples

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return models.starting_model(cfg.model, cold_start_examples(task, cfg), cfg.seed)
