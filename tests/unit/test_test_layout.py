"""The test tree has no packages (no __init__.py), so pytest imports test modules by their
basename: two test files of one name in different folders stop the whole run at collection
("import file mismatch"). That stopped CI twice this round (test_pipeline.py, test_prm.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique():
    names = Counter(p.name for p in TESTS.rglob("test_*.py") if "plugin_pkg" not in p.parts)
    assert not [n for n, c in names.items() if c > 1], "rename one of each: " + ", ".join(
        str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py") if names[p.name] > 1)
