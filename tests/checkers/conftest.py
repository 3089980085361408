"""Fixtures for the checker tests: one worker pool shared by the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from star.checkers import CheckPool


@pytest.fixture(scope="session")
def pool() -> Iterator[CheckPool]:
    with CheckPool(workers=2, timeout=3.0) as p:
        yield p
