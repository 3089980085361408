"""The run directory: the contract between stages, and what resume reads.

    runs/<task>/<run_name>/
      config.yaml  manifest.json   resolved config; config hash, package version, seed
      metrics.jsonl                one row per finished iteration, append-only
      iter_NNN/  samples.jsonl rationalized.jsonl train.jsonl adapter/ eval.jsonl metrics.json DONE

Every file is written atomically (temp file, fsync, rename), so a stage's output either
exists whole or not at all; a stage that finished is never redone. DONE is written last.
A lock file keeps two processes out of one run directory.

A chained run (algorithm=pipeline, star/pipeline.py) holds one folder per stage, each a
run directory of its own (config.yaml, manifest.json, metrics.jsonl, iter_NNN/), beside
the run's one metrics.jsonl, whose rows name their stage:

    runs/<task>/<run_name>/
      config.yaml  manifest.json  metrics.jsonl     every stage's rows, with stage, stage_index
      stage_1_grpo/  iter_000/ iter_001/ ... DONE    a finished stage is never redone
      stage_2_star/  starting_model/ iter_000/ ...   the previous stage's final model, merged

`final_model` reads what a finished run (or stage) ends with: its starting model and the
weights of its last finished iteration.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: not valid JSON ({e.msg})") from None
    return rows


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    """Append one row durably: the whole file is rewritten atomically, so a crash leaves
    either the old rows or the old rows plus this one, never half a line."""
    old = Path(path).read_bytes() if Path(path).exists() else b""
    atomic_write_bytes(path, old + (json.dumps(row, sort_keys=True) + "\n").encode())


class atomic_dir:
    """Build a directory under a temporary name; rename it into place when the block succeeds.

    `replace=False` (caches): when another process put the directory in place meanwhile,
    keep theirs (same inputs, same content) and drop ours, so readers never see it vanish.
    """

    def __init__(self, final: Path, *, replace: bool = True):
        self.final = Path(final)
        self.replace = replace
        self.tmp = self.final.with_name(f".{self.final.name}.tmp-{os.getpid()}")

    def __enter__(self) -> Path:
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        for f in self.tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        if self.final.exists():
            if not self.replace:
                shutil.rmtree(self.tmp, ignore_errors=True)
                return
            shutil.rmtree(self.final)
        os.replace(self.tmp, self.final)
        _fsync_dir(self.final.parent)


class RunDirError(RuntimeError):
    pass


class RunDir:
    """A run directory, locked for the lifetime of the object."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise RunDirError(f"cannot write the run directory {self.path}: {e.strerror} "
                              "(set out_dir=... or run_name=... to write elsewhere)") from None
        self._lock = open(self.path / ".lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(f"{self.path} is in use by another star process") from None
        for stale in self.path.rglob(".*.tmp-*"):  # leftovers of a killed run
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()

    def close(self) -> None:
        self._lock.close()

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics_path) if self.metrics_path.exists() else []

    def pin_model(self, name: str, model: Path, digest: str) -> None:
        """Record the content hash (`digest`) of a model the run builds on (its starting model, a peer's) in
        manifest.json; if one is recorded already, refuse a different model, naming both, since
        the run's adapters were trained on the recorded one (a cache wiped and rebuilt by other
        code, another machine's cold start)."""
        f = self.path / "manifest.json"
        manifest = json.loads(f.read_text()) if f.exists() else {}
        pinned = manifest.get("models", {}).get(name)
        if pinned is None:
            manifest.setdefault("models", {})[name] = {"hash": digest, "path": str(model)}
            atomic_write_json(f, manifest)
        elif pinned["hash"] != digest:
            raise RunDirError(model_mismatch(self.path, name, pinned, digest, model))

    def iteration(self, t: int) -> Iteration:
        return Iteration(self.path / f"iter_{t:03d}", t)

    def stage(self, index: int, name: str) -> RunDir:
        """Stage `index` (from 1) of a chained run: `stage_<index>_<name>/`, a run directory of its own."""
        return RunDir(self.path / f"stage_{index}_{name}")

    @property
    def done(self) -> bool:
        """A stage of a chained run that finished every iteration (its DONE marker)."""
        return (self.path / "DONE").exists()

    def mark_done(self) -> None:
        atomic_write_text(self.path / "DONE", "")


class Iteration:
    """One iteration's folder. A stage runs once: its output is written atomically when it
    finishes and read back on every later run, with the seconds it took when it ran."""

    def __init__(self, path: Path, t: int):
        self.path, self.t = path, t
        path.mkdir(parents=True, exist_ok=True)

    @property
    def done(self) -> bool:
        return (self.path / "DONE").exists()

    def mark_done(self) -> None:
        self.mark("DONE")

    def mark(self, name: str) -> None:
        """An empty marker file (DONE, TRACKED), written atomically."""
        atomic_write_text(self.path / name, "")

    def records(self, name: str, record_type: type[T], make: Callable[..., list[T]], *args: Any) -> list[T]:
        """`name`.jsonl as records: read back if a previous run finished it, else `make(*args)`."""
        f = self.path / f"{name}.jsonl"
        if not f.exists():
            t0 = time.perf_counter()
            rows = [r.to_dict() for r in make(*args)]
            self._timed(name, t0)  # before the file: a kill between the two redoes the stage and its time
            atomic_write_jsonl(f, rows)
        return [record_type.from_dict(r) for r in read_jsonl(f)]  # type: ignore[attr-defined]

    def folder(self, name: str, make: Callable[..., Any], *args: Any) -> Path:
        """`name`/: reused if a previous run finished it, else built by `make(tmp_dir, *args)`."""
        final = self.path / name
        if not final.exists():
            t0 = time.perf_counter()
            with atomic_dir(final) as tmp:
                make(tmp, *args)
                self._timed(name, t0)  # before the rename into place, as for records
        return final

    def seconds(self) -> dict[str, float]:
        f = self.path / "seconds.json"
        return json.loads(f.read_text()) if f.exists() else {}

    def _timed(self, name: str, t0: float) -> None:
        atomic_write_json(self.path / "seconds.json", {**self.seconds(), name: round(time.perf_counter() - t0, 2)})


def model_mismatch(path: Path, name: str, pinned: dict[str, str], digest: str, model: Path) -> str:
    return (f"{path}: its {name.replace('_', ' ')} was {pinned['path']} (content {pinned['hash']}), but this "
            f"machine's is {model} (content {digest}); its iterations' weights were trained on the first and "
            "would be applied to another model. Rebuild the same model (same code, cache and machine), or "
            "start a new run (another run_name=...).")


def pinned_model(path: Path, name: str) -> dict[str, str] | None:
    """The model a run directory recorded under `name` (pin_model), if any."""
    f = Path(path) / "manifest.json"
    return json.loads(f.read_text()).get("models", {}).get(name) if f.exists() else None


STAGE = re.compile(r"stage_(\d+)_[A-Za-z0-9_.-]+")


def stage_dirs(path: Path) -> list[Path]:
    """The stage folders of a chained run, in stage order (none for a run of one algorithm)."""
    found = [p for p in Path(path).iterdir() if p.is_dir() and STAGE.fullmatch(p.name)] if Path(path).is_dir() else []
    return sorted(found, key=lambda p: int(STAGE.fullmatch(p.name)[1]))  # type: ignore[index]


def last_iteration(path: Path) -> int | None:
    """The last iteration of a run directory whose DONE exists, if any."""
    done = [int(p.name[5:]) for p in Path(path).glob("iter_[0-9][0-9][0-9]") if (p / "DONE").exists()]
    return max(done, default=None)


@dataclass(frozen=True)
class FinalModel:
    """What a run ends with: its starting model plus the weights of its last finished iteration
    (None: the starting model itself, when no iteration trained anything)."""

    base: Path
    weights: Path | None
    iteration: int
    base_hash: str


def final_model(path: Path, weights: str) -> FinalModel:
    """The final model of the run directory `path` (a stage folder of a chained run too):
    the starting model it pinned, and `weights` (adapter, model) of its last finished
    iteration; an iteration that accepted nothing (EMPTY) keeps the weights before it."""
    path = Path(path)
    start, last = pinned_model(path, "starting_model"), last_iteration(path)
    if start is None or last is None:
        raise FileNotFoundError(f"{path}: no finished iteration (and starting model) to take a final model from")
    t = last
    while t > 0 and (path / f"iter_{t:03d}" / weights / "EMPTY").exists():
        t -= 1
    found = path / f"iter_{t:03d}" / weights if t > 0 else None
    if found is not None and not found.is_dir():
        raise FileNotFoundError(f"{path}: iteration {t} finished without its weights ({found})")
    return FinalModel(Path(start["path"]), found, last, start["hash"])


# Keys that do not change results: a resume may differ in these (e.g. more iterations).
NEUTRAL_KEYS = ("run_name", "out_dir", "experiment", "loop.iterations", "tracker", "check.workers",
                "generator.progress", "trainer.progress", "model.cold_start.train.progress",
                # engine memory knobs: a resume after an out-of-memory crash may lower them
                "generator.release", "generator.gpu_memory_utilization", "generator.enforce_eager",
                # where generation runs, not what it computes (generator=ray: same completions as hf)
                "generator.num_replicas", "generator.resources", "generator.ray_address",
                "generator.ray_num_cpus", "generator.max_restarts", "generator.ship_weights")


# Keys added after runs were made, each with the value that behaves as before it existed.
# At that value a key is left out of the results config (so of the config hash and the run
# name): a run made before the key existed still resumes, and still merges with new runs
# in `star report`. A new results-changing key with such a value belongs here.
LATER_KEYS: dict[str, Any] = {"loop.voters": 1, "loop.process_filter": "none", "loop.teacher": None,
                              "loop.prm": None, "loop.prm_threshold": 0.5,
                              "algorithm.stages": [], "task.validation_size": None, "task.eval_seed": None,
                              # generator=ray's keys: no other backend reads them
                              "generator.engine": "hf", "generator.num_replicas": 1,
                              "generator.resources.cpus": 0.5, "generator.resources.gpus": 0.0,
                              "generator.resources.threads": None, "generator.shard_size": 32,
                              "generator.ray_address": None, "generator.ray_num_cpus": None,
                              "generator.max_restarts": 3, "generator.ship_weights": False}


def results_config(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved config that can change results."""
    flat = _flatten(config)
    return without_later_defaults({k: v for k, v in flat.items()
                                   if not any(k == n or k.startswith(n + ".") for n in NEUTRAL_KEYS)})


def without_later_defaults(flat: dict[str, Any]) -> dict[str, Any]:
    """A flat results config without the LATER_KEYS at their behave-as-before values."""
    return {k: v for k, v in flat.items() if not (k in LATER_KEYS and v == LATER_KEYS[k])}


def config_hash(config: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(results_config(config), sort_keys=True, default=str).encode()).hexdigest()


def check_resume(path: Path, config: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Write manifest.json for a new run; refuse a resume whose results-changing config differs."""
    f = Path(path) / "manifest.json"
    if not f.exists():
        atomic_write_json(f, manifest)
        return
    old = json.loads(f.read_text())
    if old.get("config_hash") == manifest["config_hash"]:
        return
    before, after = without_later_defaults(old.get("results_config", {})), results_config(config)
    diff = [f"  {k}: {before.get(k, '<unset>')!r} -> {after.get(k, '<unset>')!r}"
            for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    if not diff:  # the same results config, hashed before a LATER_KEYS entry existed
        return
    raise RunDirError(
        f"{path} holds a run made with a different config; resuming it would mix results.\n"
        + "\n".join(diff[:20]) + ("\n  ..." if len(diff) > 20 else "")
        + "\nUse another run_name=..., or rerun with the original values.")


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}
