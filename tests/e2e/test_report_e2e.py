"""End to end: two smoke runs (rationalization on and off, as one Hydra multirun), then
`star report` over the sweep folder and over the two run directories (the table, and a
PNG in which both runs' curves are drawn), and `star eval` on one of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two smoke runs: a minute or two on 2 CPU cores

STAR = [sys.executable, "-m", "star.cli"]


def star(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([*STAR, *args], capture_output=True, text=True, cwd=cwd, timeout=900,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, f"star {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    star(tmp, "run", "-m", "experiment=smoke", "loop.rationalize=true,false", f"out_dir={tmp}",
         f"hydra.sweep.dir={tmp}/multirun/sweep")
    return tmp / "multirun" / "sweep"


def run_dirs(sweep: Path) -> list[Path]:
    return [Path((sweep / str(n) / "run_dir.txt").read_text().strip()) for n in (0, 1)]


def test_report_over_the_sweep_prints_both_runs(sweep: Path):
    out = star(sweep, "report", str(sweep), "-o", "table.txt").stderr
    assert "figure:" in out
    blocks = (sweep / "table.txt").read_text().split("\n\n")  # legend, then a title and a table per run
    tables = {blocks[i].split("  (")[0]: [line.split() for line in blocks[i + 1].splitlines()]
              for i in range(len(blocks) - 1) if blocks[i].startswith("loop.rationalize=")}
    assert set(tables) == {"loop.rationalize=true", "loop.rationalize=false"}
    for label, lines in tables.items():
        assert lines[0][:4] == ["iter", "overall", "digits=1", "digits=2"], label
        assert [line[0] for line in lines[2:]] == ["0", "1", "2"], label
    # without rationalization nothing is rationalized; with it, the column counts problems
    rationalized = {label: [line[-2] for line in lines[3:]] for label, lines in tables.items()}
    assert rationalized["loop.rationalize=false"] == ["0", "0"]
    metrics = [json.loads(line) for line in (run_dirs(sweep)[0] / "metrics.jsonl").read_text().splitlines()]
    assert rationalized["loop.rationalize=true"] == [str(r["train/rationalized"]) for r in metrics[1:]]


def test_report_png_shows_both_curves(sweep: Path):
    """Both runs' lines are drawn. The smoke model's two arms can score alike (one line then
    hides the other, as it did on 2026-12-03), so the second run's eval accuracies are moved
    up by 0.5 in a copy of its directory: two curves that must both show."""
    import shutil

    first, second = run_dirs(sweep)
    moved = sweep / "moved" / second.name
    shutil.copytree(second, moved)
    rows = [json.loads(line) for line in (moved / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        for key in [k for k in row if k.startswith("eval/accuracy")]:
            row[key] = min(1.0, row[key] + 0.5)
    (moved / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    star(sweep, "report", str(first), str(moved), "--plot", "both.png", "--format", "markdown")
    import matplotlib.image

    pixels = matplotlib.image.imread(str(sweep / "both.png"))[..., :3]
    for name, rgb in {"C0 (first run)": (0x1F, 0x77, 0xB4), "C1 (second run)": (0xFF, 0x7F, 0x0E)}.items():
        close = (abs(pixels - [c / 255 for c in rgb]).max(axis=-1) < 0.05).sum()
        assert close > 300, f"the line of {name} is missing from the figure ({close} pixels)"


def test_star_eval_reports_maj_and_pass_at_k(sweep: Path):
    run = run_dirs(sweep)[0]
    out = star(sweep, "eval", str(run), "--iterations", "2", "eval.k=1,2", "eval.max_problems=8").stdout
    lines = [line.split() for line in out.splitlines() if line.strip().startswith("2 ")]
    assert [line[1] for line in lines] == ["greedy", "1", "2"]
    [folder] = (run / "eval_k").glob("eval-T0.7-n2-m8-*")
    [row] = json.loads((folder / "scaling.json").read_text())
    assert row["eval/pass@2"] >= row["eval/pass@1"] == pytest.approx(row["eval/maj@1"])
    assert (folder / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    assert not any(k.startswith("eval/maj") for k in json.loads((run / "metrics.jsonl").read_text().splitlines()[-1]))
