"""What identifies an artifact: cache locations and keys, content hashes, the code's build identity.

Caches (the built tiny model, converted GGUF checkpoints, cold starts) are keyed by
everything that shapes them. A package version that is bumped by hand does not say
whether the code changed, so the code's part of a key is a hash of the source files that
produce the artifact (`source_hash`); the weights' part is a hash of their bytes
(`tree_hash`, `file_sha256`; `model_identity`, a base model's part of a key, hashes a
model directory once per process). A run directory records its starting model's `tree_hash`,
so that a resume or `star eval` after a cache rebuild cannot apply old adapters to a
different model without saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path


def cache_dir() -> Path:
    """STAR_CACHE_DIR, else $XDG_CACHE_HOME/star, else ~/.cache/star."""
    if os.environ.get("STAR_CACHE_DIR"):
        return Path(os.environ["STAR_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "star"


def cache_key(obj: object) -> str:
    """A short, stable key of a JSON-able description (dict order does not matter)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read once per process for as long as the file keeps its
    size and mtime (a GGUF checkpoint of hundreds of MB is not re-read on every lookup)."""
    path = Path(path).resolve()
    st = path.stat()
    return _file_digest(path, st.st_size, st.st_mtime_ns)


@cache
def _file_digest(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def tree_hash(folder: Path) -> str:
    """The content hash of a model directory: every file's relative path and bytes, in
    sorted order (hidden files and train logs, which do not shape the weights, excluded)."""
    folder = Path(folder)
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = f.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in rel.split("/")) or f.name == "train_log.json":
            continue
        h.update(rel.encode() + b"\0" + file_sha256(f).encode() + b"\0")
    return h.hexdigest()[:16]


@cache
def source_hash(*modules: str) -> str:
    """A hash of the source files of the named modules (`star.cold_start`, a task's module):
    the code's part of a cache key. A module without a source file (built in, frozen)
    contributes its name only."""
    from importlib.util import find_spec

    h = hashlib.sha256()
    for name in sorted(set(modules)):
        spec = find_spec(name)
        origin = spec.origin if spec is not None else None
        h.update(name.encode() + b"\0")
        if origin and origin.endswith(".py") and Path(origin).is_file():
            h.update(Path(origin).read_bytes())
    return h.hexdigest()[:16]


def model_identity(base: str | Path) -> str:
    """What identifies a base model in a cache key: a hub name by its name; a directory of
    the model cache (the built tiny model, a converted GGUF file) by its name, which is
    already a key of everything that made it; any other directory by its `tree_hash`,
    computed once per process for as long as no file in it changes (size, mtime)."""
    path = Path(base)
    if not path.is_dir():
        return str(base)
    path = path.resolve()
    if path.parent == (cache_dir() / "models").resolve():
        return f"cache:{path.name}"
    listing = tuple((f.relative_to(path).as_posix(), (st := f.stat()).st_size, st.st_mtime_ns)
                    for f in sorted(path.rglob("*")) if f.is_file())
    return _hashed_tree(path, listing)


@cache
def _hashed_tree(path: Path, listing: tuple) -> str:
    """tree_hash of `path` as its files were listed (the listing is the cache's key)."""
    return tree_hash(path)
