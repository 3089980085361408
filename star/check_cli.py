"""`star check`: score model outputs in JSONL with a checker, outside any run.

    star check [--checker math|numeric|choice|exact] [--timeout S] [--workers N] [INPUT] [-o OUTPUT]

Input rows are JSON objects with `gold` and `pred` (a bare answer or a whole model output;
null means no answer) and optionally `id`. `pred` is read as the tasks read a completion
(tasks/benchmark.py's EXTRACT), then handed to the checker, as in the loop: a whole model
output gives its anchored answer (`\\boxed{}`, "the answer is ...", "#### ..."), a bare
answer gives itself, anything else (code, prose with no anchored answer) gives no answer
and is INCORRECT; never a number picked out of code or prose. `--extract` replaces those
strategies (fallbacks included, if asked for). Output rows are `{"id", "verdict", "seconds"}`
in input order (`id` is the row's 0-based index when the input has none). A summary
(counts, checks/s) goes to stderr. Exit status: 0 when every row got a verdict, even where
some checks timed out (UNVERIFIABLE); 1 when some input rows were malformed (they are
answered "unverifiable" with an "error" field); 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from tqdm import tqdm

from star.checkers import CHECKERS, Checker, CheckPool, Verdict, get_checker
from star.checkers.extract import ANCHORS, find_answer, validate_strategies

log = logging.getLogger(__name__)
BATCH = 1000  # rows per pool call: streams large files, keeps dedup effective
# The tasks' extraction (anchored strategies only), plus `bare`: the pred itself when it is
# a bare answer. The checker's own (default) extraction then reads what this returns.
EXTRACT = (*ANCHORS, "bare")


@dataclass(frozen=True)
class Row:
    id: Any
    gold: str | None
    pred: str | None
    error: str | None = None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="star check",
        description="Check model answers against gold answers (JSONL in, JSONL out).",
        epilog='input rows: {"gold": ..., "pred": ..., "id": optional}; output rows: '
        '{"id", "verdict": "correct"|"incorrect"|"unverifiable", "seconds"}',
    )
    p.add_argument("input", nargs="?", default="-", help="JSONL file (default: stdin)")
    p.add_argument("-o", "--output", default="-", help="JSONL file (default: stdout)")
    p.add_argument("--checker", default="math", choices=sorted(CHECKERS))
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per check (default 5)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--max-memory-mb", type=int, default=1024, help="per worker (0: no cap)")
    p.add_argument("--extract", help="comma-separated extraction strategies for pred (default: "
                   f"{','.join(EXTRACT)}; fallbacks: final_line, last_number, whole)")
    p.add_argument("--labels", help="choice checker: valid option labels (default ABCDE)")
    p.add_argument("--case-sensitive", action="store_true", help="exact checker: keep case")
    p.add_argument("--batch-size", type=int, default=BATCH, help=argparse.SUPPRESS)
    return p


def _checker_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.labels:
        options["labels"] = args.labels
    if args.case_sensitive:
        options["case_sensitive"] = True
    return options


def _text(value: Any) -> str | None:
    """Gold or pred as a string: numbers are accepted (CSV-born data), null is no answer."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def read_rows(stream: IO[str]) -> Iterator[Row]:
    index = 0
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        obj: Any = None
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict) or "gold" not in obj or "pred" not in obj:
                raise ValueError('a row needs "gold" and "pred"')
            gold, pred = _text(obj["gold"]), _text(obj["pred"])
            if gold is None:
                raise ValueError("gold is null")
            yield Row(obj.get("id", index), gold, pred)
        except (ValueError, TypeError) as e:
            rid = obj.get("id", index) if isinstance(obj, dict) else index
            log.warning("input line %d: %s", lineno, e)
            yield Row(rid, None, None, error=f"line {lineno}: {e}")
        index += 1


def _batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def pred_answer(pred: str | None, strategies: Sequence[str] = EXTRACT) -> str | None:
    """The answer `star check` hands the checker for `pred`, as a task's extract_answer
    does for a completion; None (no answer) when the strategies find none."""
    if pred is None:
        return None
    try:
        return find_answer(pred, strategies)
    except Exception:  # plain string work, total like the checkers' own extract
        return None


def _check_batch(
    pool: CheckPool, checker: Checker, strategies: Sequence[str], batch: list[Row]
) -> list[dict[str, Any]]:
    valid = [r for r in batch if r.error is None]
    outcomes = iter(pool.check_timed(checker, [(r.gold, pred_answer(r.pred, strategies)) for r in valid]))
    out = []
    for r in batch:
        if r.error is not None:
            out.append({"id": r.id, "verdict": Verdict.UNVERIFIABLE.value, "seconds": 0.0, "error": r.error})
        else:
            verdict, seconds = next(outcomes)
            out.append({"id": r.id, "verdict": verdict.value, "seconds": round(seconds, 6)})
    return out


def check_rows(
    pool: CheckPool,
    checker: Checker,
    rows: Iterable[Row],
    strategies: Sequence[str] = EXTRACT,
    batch_size: int = BATCH,
) -> Iterator[list[dict[str, Any]]]:
    """Output rows in input order, one list per batch of input rows (streams large files)."""
    for batch in _batches(iter(rows), max(1, batch_size)):
        yield _check_batch(pool, checker, strategies, batch)


def _open(path: str, mode: str) -> IO[str]:
    if path == "-":
        return sys.stdin if "r" in mode else sys.stdout
    return open(path, mode, encoding="utf-8")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="star check: %(message)s")
    try:
        strategies = validate_strategies(args.extract) if args.extract else EXTRACT
        checker = get_checker(args.checker, **_checker_options(args))
        pool = CheckPool(workers=args.workers, timeout=args.timeout, max_memory_mb=args.max_memory_mb)
    except ValueError as e:
        print(f"star check: error: {e}", file=sys.stderr)
        return 2
    counts: Counter[str] = Counter()
    start = time.perf_counter()
    try:
        src, dst = _open(args.input, "r"), _open(args.output, "w")
    except OSError as e:
        pool.close()
        print(f"star check: error: {e}", file=sys.stderr)
        return 2
    progress = tqdm(unit=" rows", disable=not sys.stderr.isatty(), file=sys.stderr)
    try:
        with pool, progress:
            for out in check_rows(pool, checker, read_rows(src), strategies, args.batch_size):
                for row in out:
                    counts["malformed" if "error" in row else row["verdict"]] += 1
                    dst.write(json.dumps(row, ensure_ascii=False) + "\n")
                dst.flush()
                progress.update(len(out))
    finally:
        for f in (src, dst):
            if f not in (sys.stdin, sys.stdout):
                f.close()
    _summary(counts, pool, time.perf_counter() - start)
    return 1 if counts["malformed"] else 0


def _summary(counts: Counter[str], pool: CheckPool, elapsed: float) -> None:
    total = sum(counts.values())
    rate = total / elapsed if elapsed > 0 else float("inf")
    parts = [f"{counts[v.value]} {v.value}" for v in Verdict]
    if counts["malformed"]:
        parts.append(f"{counts['malformed']} malformed")
    print(
        f"star check: {total} rows: {', '.join(parts)}; {pool.stats['timeouts']} timeouts; "
        f"{pool.stats['fast']} on the fast path; {elapsed:.2f} s, {rate:.0f} checks/s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
