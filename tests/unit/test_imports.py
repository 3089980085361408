"""Imports only go down the floors of docs/ARCHITECTURE.md, function-local imports included.

Every `import` statement of star/, checkers/ and tasks/ is read with `ast` (not by
importing), so an import that hides inside a function to dodge a cycle is seen too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The floors (docs/ARCHITECTURE.md): a module imports only from floors below its own.
FLOORS: dict[int, tuple[str, ...]] = {
    0: ("__init__", "types", "identity", "rundir", "plots", "prompting"),
    1: ("gguf",),
    2: ("config",),
    3: ("models", "generation", "evaluation", "filtering", "rationalization"),
    4: ("training", "vllm_generator", "ray_generator", "report", "attempts", "labels", "curriculum", "rewards", "verifiers"),
    5: ("train_process", "cold_start", "policy", "tracking", "iteration", "prm", "process"),
    6: ("committee",),
    7: ("loop",),
    8: ("grpo",),
    9: ("pipeline",),
    10: ("cli", "check_cli", "task_cli", "report_cli", "eval_cli", "export_cli", "verifier_cli"),
}
FLOOR = {m: f for f, mods in FLOORS.items() for m in mods}
MODULES = sorted(p.stem for p in (ROOT / "star").glob("*.py"))


def imported_modules(path: Path, package_modules: set[str]) -> set[str]:
    """star/ modules named by every import in `path` (top-level or not): `star.x`, `from star import x`."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "star":
                continue
            if len(parts) == 1:
                out.add("__init__")
            elif parts[1] in package_modules:
                out.add(parts[1])
    return out


def graph() -> dict[str, set[str]]:
    mods = set(MODULES)
    return {m: imported_modules(ROOT / "star" / f"{m}.py", mods) - {m} for m in MODULES}


def test_every_module_has_a_floor():
    assert set(MODULES) == set(FLOOR), "add new star/ modules to FLOORS here and in docs/ARCHITECTURE.md"


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(g[m]):
            if state.get(n) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(n):], n]))
            if n not in state:
                visit(n, [*path, n])
        state[m] = 2

    for m in MODULES:
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("module", MODULES)
def test_imports_go_down(module):
    up = {n: FLOOR[n] for n in graph()[module] if FLOOR[n] >= FLOOR[module] and not (module == "__init__")}
    assert not up, f"star/{module}.py (floor {FLOOR[module]}) imports from its floor or above: {up}"


def test_checkers_import_nothing_from_star():
    mods = set(MODULES)
    for path in (ROOT / "checkers").glob("*.py"):
        assert not imported_modules(path, mods), f"{path.name} imports from star/"


def test_tasks_import_only_the_bottom_floor():
    mods = set(MODULES)
    for path in (ROOT / "tasks").glob("*.py"):
        assert all(FLOOR[m] == 0 for m in imported_modules(path, mods)), path.name


def test_the_check_catches_a_local_import(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from star.loop import run\n    import star.models\n")
    assert imported_modules(source, set(MODULES)) == {"loop", "models"}
