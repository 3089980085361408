"""generator=vllm on a machine without vLLM stops before any model work, naming the extra.

Runs the real command (`star run experiment=smoke generator=vllm`) in a subprocess: it must
exit non-zero within seconds, say `pip install 'star[vllm]'`, and leave no iteration folder.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time

import pytest


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_missing_fails_before_model_work(tmp_path):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "star.cli", "run", "experiment=smoke", "generator=vllm",
                           f"out_dir={tmp_path / 'runs'}"], capture_output=True, text=True, cwd=tmp_path,
                          env={"STAR_CACHE_DIR": str(tmp_path / "cache"), "PATH": ""}, timeout=120)
    seconds = time.perf_counter() - t0
    assert proc.returncode != 0
    assert "pip install 'star[vllm]'" in proc.stderr
    assert "generator.backend=vllm" in proc.stderr
    assert not list(tmp_path.rglob("iter_*")), "no iteration may start"
    assert not (tmp_path / "cache").exists(), "no model may be built"
    assert seconds < 60, f"took {seconds:.0f}s: the check must come before any model work"
