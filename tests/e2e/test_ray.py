"""End to end on a local Ray instance: `star run experiment=smoke generator=ray` (2 replicas
of the tiny model, 0.5 CPU each) gives the metrics of `generator=hf`; a replica killed in
the middle of a batch changes nothing; a run killed (SIGKILL) in the middle of generation
takes its local Ray instance with it (Ray's processes notice and exit within about a
minute), and resumes to the same metrics.

The smoke preset generates greedily (training problems, rationalization and evaluation),
so every metric must match. Each generate call starts its replicas afresh (a Ray actor
imports torch and loads the model, ~10-20 s on 2 CPUs): these runs take minutes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                 reason="Ray is not installed (pip install 'star[ray]')")]

STAR = [sys.executable, "-m", "star.cli", "run", "experiment=smoke"]
RAY = ["generator=ray", "generator.ray_num_cpus=2"]


def env() -> dict[str, str]:
    out = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out.pop("RAY_ADDRESS", None)  # a local instance, whatever the caller's shell says
    return out


def star_run(tmp: Path, *overrides: str) -> None:
    proc = subprocess.run([*STAR, f"out_dir={tmp}", *overrides], capture_output=True, text=True, cwd=tmp,
                          env=env(), timeout=1200)
    if proc.returncode != 0:
        raise AssertionError(f"star run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def results(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


def samples(run: Path, t: int, stage: str) -> list[dict]:
    return [json.loads(line) for line in (run / f"iter_{t:03d}" / f"{stage}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("hf")
    star_run(tmp, "run_name=hf")
    return tmp / "arithmetic" / "hf"


def descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def busy_replicas(pid: int) -> list[int]:
    """The Ray replicas under the star process `pid` that are running a batch now."""
    import psutil

    found = []
    for p in descendants(pid):
        try:
            if "MapBatches(Replica)).submit" in " ".join(p.cmdline()):
                found.append(p.pid)
        except psutil.Error:
            pass
    return found


def test_generator_ray_gives_the_metrics_of_generator_hf(reference: Path, tmp_path: Path):
    star_run(tmp_path, "run_name=ray", *RAY)
    run = tmp_path / "arithmetic" / "ray"
    assert results(run) == results(reference)
    for t, stage in [(0, "eval"), (1, "samples"), (1, "rationalized"), (2, "samples"), (2, "eval")]:
        assert samples(run, t, stage) == samples(reference, t, stage), (t, stage)


def test_a_replica_killed_mid_batch_changes_nothing(reference: Path, tmp_path: Path):
    proc = subprocess.Popen([*STAR, f"out_dir={tmp_path}", "run_name=killed-replica", "loop.iterations=1", *RAY,
                             "generator.shard_size=8"], cwd=tmp_path, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "arithmetic" / "killed-replica"
    killed: list[int] = []

    def kill_one_replica():  # in the training pool's generation (iteration 1), mid-batch
        while proc.poll() is None and not killed:
            if (run / "iter_001").is_dir() and not (run / "iter_001" / "samples.jsonl").exists():
                for pid in busy_replicas(proc.pid):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    break
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_one_replica)
    watcher.start()
    _, stderr = proc.communicate(timeout=1200)
    watcher.join()
    assert proc.returncode == 0, stderr[-3000:]
    assert killed, "no replica was seen in a batch of iteration 1's generation"
    assert results(run) == results(reference)[:2]
    assert samples(run, 1, "samples") == samples(reference, 1, "samples")


def test_a_run_killed_mid_generation_resumes_to_the_same_metrics(reference: Path, tmp_path: Path):
    import psutil

    proc = subprocess.Popen([*STAR, f"out_dir={tmp_path}", "run_name=killed", "loop.iterations=1", *RAY],
                            cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / "arithmetic" / "killed"
    deadline = time.time() + 900
    while not ((run / "iter_001").is_dir() and busy_replicas(proc.pid)):
        assert proc.poll() is None, "the run ended before generation of iteration 1"
        assert time.time() < deadline
        time.sleep(0.02)
    ours = descendants(proc.pid)  # the local Ray instance: raylet, GCS, workers, replicas
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "iter_001" / "samples.jsonl").exists(), "killed before generation finished"
    # they share the driver's fate, noticing its death by polling: within ~65 s on 2 CPUs
    _, alive = psutil.wait_procs(ours, timeout=180)
    for p in alive:  # clean up before failing: these are this test's processes
        p.kill()
    assert not alive, f"Ray processes outlived the killed run: {[p.pid for p in alive]}"
    star_run(tmp_path, "run_name=killed", "loop.iterations=1", *RAY)
    assert results(run) == results(reference)[:2]
