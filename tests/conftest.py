"""Shared fixtures: an isolated model cache per test session, and the path to ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests never read or write the user's model cache."""
    if "STAR_CACHE_DIR" not in os.environ or os.environ.get("CI"):
        os.environ["STAR_CACHE_DIR"] = str(tmp_path_factory.mktemp("star-cache"))
    yield


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATASETS} (they live beside the repository "
                    "on the project's machines; see ../shared/datasets/README.md there)")
    return SHARED_DATASETS
