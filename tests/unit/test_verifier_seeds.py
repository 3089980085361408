"""docs/analysis/verifier_seeds.py: the verifier table over seeds, read from `star eval
--verifier` files: per-seed values, the mean with its t-interval, bon@k's share of the
maj-pass gap, the paired DPO-ORM difference, and a clear error for a run never scored."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def script():
    spec = importlib.util.spec_from_file_location("verifier_seeds", ROOT / "docs" / "analysis" / "verifier_seeds.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def scored(run: Path, name: str, maj: float, bon: float, wmaj: float, pas: float) -> None:
    folder = run / "eval_k" / "eval-T0.7-n16-abc"
    folder.mkdir(parents=True, exist_ok=True)
    row = {"iteration": 0}
    for m, v in (("maj", maj), ("bon", bon), ("wmaj", wmaj), ("pass", pas)):
        row |= {f"eval/{m}@16": v, f"eval/{m}@16/g=a": v, f"eval/{m}@1": 0.4}
    (folder / f"scaling-{name}.json").write_text(json.dumps([row]))


def test_the_table_means_shares_and_paired_difference(tmp_path, capsys):
    runs = [tmp_path / f"seed{i}" for i in range(3)]
    for run, (maj, bon) in zip(runs, [(0.5, 0.7), (0.6, 0.7), (0.4, 0.6)], strict=True):
        scored(run, "dpo-1", maj, bon, bon + 0.05, 0.9)
        scored(run, "orm-2", maj, bon - 0.3, maj, 0.9)
    assert script().main([*map(str, runs), "--against", "orm"]) == 0
    out = capsys.readouterr().out
    assert "seed0          iter 0: 50.0 / 70.0 / 75.0 / 90.0   bon 50%" in out
    assert "| 0 | overall | 50.0 [" in out and "| 0 | g=a |" in out
    # bon's shares 50%, 33%, 40%: mean 41.1%
    assert "| 41.1% [" in out
    assert "dpo - orm, bon@16 at iteration 0: per seed +30.0, +30.0, +30.0; mean 30.0 [30.0, 30.0] points" in out


def test_a_run_without_scores_or_with_two_verifiers_is_named(tmp_path):
    with pytest.raises(SystemExit, match="no eval_k/eval-\\*/scaling-dpo"):
        script().main([str(tmp_path)])
    scored(tmp_path, "dpo-1", 0.5, 0.6, 0.6, 0.9)
    scored(tmp_path, "dpo-2", 0.5, 0.6, 0.6, 0.9)
    with pytest.raises(SystemExit, match="2 verifiers match 'dpo'"):
        script().main([str(tmp_path)])


def test_a_verifier_is_named_by_its_name_not_a_longer_one(tmp_path):
    """verifier.name=dpo16 folders (dpo16-<key>) are not matched by --verifier dpo, and the reverse."""
    scored(tmp_path, "dpo-1", 0.5, 0.6, 0.6, 0.9)
    scored(tmp_path, "dpo16-2", 0.5, 0.8, 0.8, 0.9)
    assert script().main([str(tmp_path), "--verifier", "dpo16"]) == 0
    assert script().rows(tmp_path, "dpo", 16)[0]["eval/bon@16"] == 0.6
    assert script().rows(tmp_path, "dpo16", 16)[0]["eval/bon@16"] == 0.8
    assert script().rows(tmp_path, "dpo16-2", 16)[0]["eval/bon@16"] == 0.8
