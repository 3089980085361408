"""Fixtures for the task tests; the helpers live in task_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path):
    """write("name.jsonl", text) -> path of a file under tmp_path."""
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
