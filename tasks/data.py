"""Rows for data-backed tasks: read local files or hub datasets, map fields, split, report bad rows.

A task's data comes from one of two places:

- local files (`task.data_files`): JSON Lines, JSON (an array, or JSON Lines in a `.json`
  file), CSV/TSV and Parquet. The text formats are read here, line by line, rather than
  through `datasets.load_dataset`, because its readers fail a whole file on one malformed
  line without saying which, and infer types (CSV reads `007` as 7, JSON `0.50` as 0.5).
  Here every row keeps its file and line, and numbers keep their source text (gold answers
  are strings, always). Parquet is typed already and goes through pyarrow.
- a hub dataset (`task.dataset`, `task.subset`): `datasets.load_dataset`, rows numbered
  within their split.

Each row is a `Record(where, data)`; a row that cannot be read is a `BadRow(where, reason)`.
A task turns records into problems (`map_fields` reads dotted paths such as
`question.stem`) and reports bad rows through `collect`: an error listing them by default,
or skipped and counted with `on_bad_row="skip"`. `divide` splits one source into train and
eval by a seed, when a benchmark ships a single file.
"""

from __future__ import annotations

import csv
import json
import logging
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
           ".parquet": "parquet"}
ON_BAD_ROW = ("error", "skip")
MAX_LISTED = 20  # bad rows named in an error message


class DataError(ValueError):
    """The data cannot be used as configured; the message names the file, line and config key."""


class BadRowError(ValueError):
    """Raised by a task's row parser: this row cannot become a problem (the message says why)."""


@dataclass(frozen=True)
class Record:
    where: str  # "path/to/file.jsonl:17", "file.parquet row 3", "openai/gsm8k[test] row 5"
    data: Any


@dataclass(frozen=True)
class BadRow:
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


# -- reading ----------------------------------------------------------------------------
def file_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise DataError(f"{path}: unknown data file format {path.suffix!r} "
                        f"(expected one of {', '.join(sorted(FORMATS))})") from None


def read_file(path: str | Path) -> Iterator[Record | BadRow]:
    """Every row of a local file, in order, each a Record or a BadRow."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    fmt = file_format(path)
    if fmt == "parquet":
        yield from _read_parquet(path)
        return
    text = path.read_text(encoding="utf-8-sig")
    if fmt in ("csv", "tsv"):
        yield from _read_csv(path, text, "\t" if fmt == "tsv" else ",")
    elif fmt == "json" and text.lstrip().startswith("["):
        yield from _read_json_array(path, text)
    else:  # JSON Lines; a .json file holding one object per line is read the same way
        yield from _read_jsonl(path, text)


def _loads(s: str) -> Any:
    # Numbers keep their source text: a gold answer of 0.50 or 007 is what the file says.
    return json.loads(s, parse_int=str, parse_float=str)


def _read_jsonl(path: Path, text: str) -> Iterator[Record | BadRow]:
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield Record(f"{path}:{lineno}", _loads(line))
        except json.JSONDecodeError as e:
            yield BadRow(f"{path}:{lineno}", f"malformed JSON ({e.msg} at column {e.colno})")


def _read_json_array(path: Path, text: str) -> Iterator[Record | BadRow]:
    """The elements of a top-level JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder(parse_int=str, parse_float=str)
    i = text.index("[") + 1
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] == "]":
            return
        line = text.count("\n", 0, i) + 1
        try:
            value, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError as e:
            # Past a syntax error the array's structure is lost: report it and stop.
            yield BadRow(f"{path}:{e.lineno}", f"malformed JSON ({e.msg}); the rest of the file is unreadable")
            return
        yield Record(f"{path}:{line}", value)


def _read_csv(path: Path, text: str, delimiter: str) -> Iterator[Record | BadRow]:
    reader = csv.DictReader(text.splitlines(keepends=True), delimiter=delimiter)
    header = reader.fieldnames or []
    start = reader.line_num + 1
    for row in reader:
        where = f"{path}:{start}"
        start = reader.line_num + 1
        if None in row:  # more cells than the header names
            yield BadRow(where, f"{len(header) + len(row[None])} cells, the header has {len(header)}")
        elif any(v is None for v in row.values()):
            yield BadRow(where, f"{sum(v is not None for v in row.values())} cells, the header has {len(header)}")
        else:
            yield Record(where, row)


def _read_parquet(path: Path) -> Iterator[Record | BadRow]:
    import pyarrow.parquet as pq

    for i, row in enumerate(pq.read_table(path).to_pylist(), 1):
        yield Record(f"{path} row {i}", row)


def read_hub(dataset: str, subset: str | None, split: str,
             data_files: Any = None) -> Iterator[Record | BadRow]:
    """Rows of a split of a dataset loaded with `datasets.load_dataset` (hub name or builder)."""
    import datasets

    try:
        ds = datasets.load_dataset(dataset, subset, split=split, data_files=data_files)
    except Exception as e:  # the hub, the network, a missing split: say which dataset
        raise DataError(f"task.dataset={dataset!r} (subset {subset!r}, split {split!r}) "
                        f"cannot be loaded: {type(e).__name__}: {e}") from e
    for i, row in enumerate(ds, 1):
        yield Record(f"{dataset}[{split}] row {i}", row)


# -- fields -----------------------------------------------------------------------------
_MISSING = object()


def get_path(data: Any, path: str) -> Any:
    """data["a"]["b"] for "a.b"; _MISSING when any step is absent."""
    for key in path.split("."):
        if not isinstance(data, Mapping) or key not in data:
            return _MISSING
        data = data[key]
    return data


def map_fields(data: Any, fields: Mapping[str, str | Sequence[str]],
               required: Iterable[str]) -> dict[str, Any]:
    """{name: value} for each configured field found in the row. A field maps to a dotted
    path, or to a list of paths of which the first present one is used (so one default fits
    several published formats). Raises BadRowError when a required field is absent."""
    if not isinstance(data, Mapping):
        raise BadRowError(f"expected an object, got {type(data).__name__}")
    out: dict[str, Any] = {}
    for name, paths in fields.items():
        for path in [paths] if isinstance(paths, str) else paths:
            value = get_path(data, path)
            if value is not _MISSING and value is not None:
                out[name] = value
                break
    missing = [name for name in required if name not in out]
    if missing:
        wanted = ", ".join(f"{n} (from {fields.get(n)!r})" for n in missing)
        raise BadRowError(f"missing field(s) {wanted}; the row has {sorted(data)}")
    return out


def text(value: Any, name: str) -> str:
    """A field's value as a stripped, non-empty string (numbers read as their text)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRowError(f"field {name!r} should be text, got {type(value).__name__}")
    s = str(value).strip()
    if not s:
        raise BadRowError(f"field {name!r} is empty")
    return s


# -- bad rows, splits ---------------------------------------------------------------------
def collect(items: Iterable[T | BadRow], on_bad_row: str, source: str) -> tuple[list[T], list[BadRow]]:
    """(good items, bad rows); raises DataError listing the bad rows unless on_bad_row="skip"."""
    if on_bad_row not in ON_BAD_ROW:
        raise DataError(f"task.on_bad_row={on_bad_row!r} is not one of {', '.join(ON_BAD_ROW)}")
    good: list[T] = []
    bad: list[BadRow] = []
    for item in items:
        (bad if isinstance(item, BadRow) else good).append(item)  # type: ignore[arg-type]
    if bad and on_bad_row == "error":
        listed = "\n".join(f"  {b}" for b in bad[:MAX_LISTED])
        more = f"\n  ... and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        raise DataError(f"{source}: {len(bad)} bad row(s) of {len(good) + len(bad)}:\n{listed}{more}\n"
                        "(fix the data or the field mapping `task.fields`, or skip them with "
                        "task.on_bad_row=skip)")
    if bad:
        log.warning("%s: skipped %d bad row(s) of %d (task.on_bad_row=skip); first: %s",
                    source, len(bad), len(good) + len(bad), bad[0])
    return good, bad


def divide(items: Sequence[T], eval_size: float, seed: int, part: str = "eval") -> tuple[list[T], list[T]]:
    """(rest, part) from one source: the part ("eval", or "validation" out of the training
    rows) gets `eval_size` items (a count, or a fraction when below 1) drawn with `seed`
    in a stream of its own; both keep the source order."""
    n = len(items)
    k = int(round(eval_size * n)) if 0 < eval_size < 1 else int(eval_size)
    if k < 0 or k > n:
        raise DataError(f"task.{part}_size={eval_size} does not fit a source of {n} rows")
    chosen = set(random.Random(f"{seed}/{part}").sample(range(n), k))
    return ([x for i, x in enumerate(items) if i not in chosen], [x for i, x in enumerate(items) if i in chosen])


def subsample(items: Sequence[T], size: int | None, seed: int, salt: str) -> list[T]:
    """At most `size` items drawn with `seed`, in source order (all of them when size is None)."""
    if size is None or size >= len(items):
        return list(items)
    if size < 0:
        raise DataError(f"a size of {size} rows is negative")
    chosen = set(random.Random(f"{seed}/{salt}").sample(range(len(items)), size))
    return [x for i, x in enumerate(items) if i in chosen]
