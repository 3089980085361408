"""The PRM objective of star.verifiers on a tiny random Llama (a few seconds): it trains from
labeled steps into a keyed folder (steps.jsonl, a peft adapter with the head), loads and
scores per step; the head learns labels it is shown; and a build killed mid-way (its
temporary folder left behind) is redone from scratch, under the lock that clears the
leftovers, to the weights of an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from star import prm, verifiers
from star.config import ModelConfig, TinyConfig, VerifierConfig
from star.models import build_tiny
from star.rundir import RunDir


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", TinyConfig(hidden_size=32, intermediate_size=64,
                                                                            layers=1, heads=2), seed=0)


# the step "b=4" is always wrong, the others right
MADE = [prm.StepExample(f"p{i}", f"{i}+3\n", ("a=2\n", "b=3\n" if i % 2 else "b=4\n", "A: 5"),
                        (1.0, 1.0, 1.0) if i % 2 else (1.0, 0.0, 0.0)) for i in range(8)]
CFG = VerifierConfig(objective="prm", steps=30, batch_size=4, lr=1e-2, warmup_steps=0)
MODEL = ModelConfig(device="cpu")


def build(run: Path, base: Path, cfg: VerifierConfig = CFG) -> Path:
    key = verifiers.verifier_key(cfg, [1], MADE, "base-hash", 0)
    folder = verifiers.folder_for(run, cfg, key)
    lock = RunDir(run / verifiers.FOLDER)  # as star verifier holds it: clears a killed build's leftovers
    try:
        return verifiers.build(folder, base, MADE, cfg, MODEL, 0, {"key": key, "iterations": [1], "delimiter": "\n",
                                                                    "base": {"hash": "base-hash"}})
    finally:
        lock.close()


def adapter(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter" / "adapter_model.safetensors"))


def test_a_prm_trains_into_its_folder_and_scores_steps(tmp_path: Path, base: Path):
    folder = build(tmp_path / "run", base)
    assert folder.name.startswith("prm-")
    assert {p.name for p in folder.iterdir()} == {"verifier.json", "steps.jsonl", "adapter", "train_log.json"}
    assert [prm.StepExample.from_dict(json.loads(x)) for x in (folder / "steps.jsonl").read_text().splitlines()] == MADE
    info = verifiers.info(folder)
    assert info["objective"] == "prm" and info["train"]["steps"] == 30
    assert any("score" in k for k in adapter(folder)), "the head must be saved with the adapter"
    log = json.loads((folder / "train_log.json").read_text())
    assert log["loss_last"] < log["loss_first"]
    scorer = verifiers.load(folder, base, MODEL, "base-hash")
    good, bad = scorer.step_scores(["1+3\n", "2+3\n"], ["a=2\nb=3\nA: 5", "a=2\nb=4\nA: 5"])
    assert len(good) == len(bad) == 3
    assert good[1] > 0.5 > bad[1]  # the wrong step, learned
    assert scorer.score(["2+3\n"], ["a=2\nb=4\nA: 5"]) == [pytest.approx(min(bad))]
    assert scorer.cost()["tokens"] > 0
    with pytest.raises(ValueError, match="starting model"):
        verifiers.load(folder, base, MODEL, "another-hash")


def test_a_killed_prm_build_is_redone_to_the_same_weights(tmp_path: Path, base: Path):
    plain = build(tmp_path / "plain", base)
    killed = tmp_path / "killed"
    # what a SIGKILL mid-training leaves: the temporary folder, with the data and no verifier.json
    key = verifiers.verifier_key(CFG, [1], MADE, "base-hash", 0)
    leftover = verifiers.folder_for(killed, CFG, key).with_name(f".prm-{key[:12]}.tmp-999999")
    (leftover / "adapter").mkdir(parents=True)
    (leftover / "steps.jsonl").write_text("garbled\n")
    (leftover / "adapter" / "adapter_model.safetensors").write_bytes(b"half")
    redone = build(killed, base)
    assert redone.name == plain.name and not leftover.exists()
    a, b = adapter(plain), adapter(redone)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # and the same command again finds it, untouched
    stamp = (redone / "verifier.json").stat().st_mtime_ns
    assert build(killed, base) == redone and (redone / "verifier.json").stat().st_mtime_ns == stamp
