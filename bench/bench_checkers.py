"""Benchmark and agreement figures for the checkers (docs/CHECKERS.md quotes this script).

    python bench/bench_checkers.py                 # speed: star check vs Math-Verify
    python bench/bench_checkers.py --agreement     # correctness on tests/checkers' table

Speed: checks/s of `star check --workers 2` (a subprocess, timed end to end: interpreter
start, imports, worker start-up, JSONL in and out) against Math-Verify called directly in
one process (parse + verify per pair, bare strings wrapped in $...$, imports excluded), on
the same generated LaTeX pairs and on plain numbers, with ratios from the same run.

Agreement: every row of tests/checkers/checker_cases.py judged by star (through a
CheckPool) and by Math-Verify used as is (in a guarded child process: a pair that hangs
it is killed after 10 s and counted as no verdict).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import multiprocessing as mp
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("bench_checkers")
ROOT = Path(__file__).resolve().parents[1]
TARGET_LATEX_RATIO = 2.0
TARGET_NUMBERS_RATE = 1000.0


# --- generated pairs ---------------------------------------------------------------------


def _latex_pair(rng: random.Random, kind: int) -> tuple[str, str]:
    """One (gold, pred) pair of a given kind; half equal, half not, values all distinct."""
    a, b, k = rng.randint(1, 97), rng.randint(2, 89), rng.randint(2, 9)
    same = rng.random() < 0.5
    if kind == 0:  # unreduced fraction
        return rf"\frac{{{a}}}{{{b}}}", rf"\frac{{{k * a}}}{{{k * b + (0 if same else 1)}}}"
    if kind == 1:  # decimal vs fraction
        den = rng.choice([2, 4, 5, 8, 16, 20, 25, 40])
        value = a / den + (0 if same else 0.001)
        return rf"\dfrac{{{a}}}{{{den}}}", f"{value:.6f}".rstrip("0").rstrip(".")
    if kind == 2:  # radicals
        m = rng.choice([2, 3, 5, 6, 7, 10, 11])
        return rf"{k}\sqrt{{{m}}}", rf"\sqrt{{{k * k * m + (0 if same else 1)}}}"
    if kind == 3:  # polynomial identity
        c = a + b if same else a + b + 1
        return f"(x+{a})(x+{b})", f"x^2+{c}x+{a * b}"
    if kind == 4:  # trigonometry in degrees
        d, value = rng.choice([(30, r"\frac{1}{2}"), (60, r"\frac{\sqrt{3}}{2}"), (45, r"\frac{\sqrt{2}}{2}")])
        return value, rf"\sin {d if same else d + 90}^\circ + {a} - {a}"
    if kind == 5:  # sets
        xs = rng.sample(range(-50, 50), 3)
        ys = list(reversed(xs)) if same else [xs[0], xs[1], xs[2] + 1]
        return r"\{" + ", ".join(map(str, xs)) + r"\}", r"\{" + ", ".join(map(str, ys)) + r"\}"
    if kind == 6:  # interval vs inequality
        lo, hi = sorted(rng.sample(range(-60, 60), 2))
        return f"[{lo}, {hi})", (rf"{lo} \le x < {hi}" if same else rf"{lo} < x < {hi}")
    if kind == 7:  # matrices
        m = [rng.randint(-9, 9) for _ in range(4)]
        n = m if same else [m[0], m[2], m[1], m[3] + 1]
        return (
            rf"\begin{{pmatrix}}{m[0]} & {m[1]}\\ {m[2]} & {m[3]}\end{{pmatrix}}",
            rf"\begin{{bmatrix}}{n[0]}&{n[1]}\\{n[2]}&{n[3]}\end{{bmatrix}}",
        )
    if kind == 8:  # equation of a line
        return f"y={a}x+{b}", f"{a}x-y+{b if same else b + 1}=0"
    if kind == 9:  # pi multiples
        return rf"\frac{{{a}\pi}}{{{b}}}", rf"\frac{{{k * a}\pi}}{{{k * b + (0 if same else 1)}}}"
    if kind == 10:  # boxed answer in a short solution
        return rf"\frac{{{a}}}{{{b}}}", rf"So the answer is $\boxed{{\frac{{{2 * a if same else a + 1}}}{{{2 * b}}}}}$."
    return f"2^{{{a}}}", str(2**a + (0 if same else 1))  # kind 11: powers


def latex_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [_latex_pair(rng, i % 12) for i in range(n)]


def number_pairs(n: int, seed: int = 1) -> list[tuple[str, str]]:
    """GSM8K-style gold numbers with predictions that are equal half of the time."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        gold = rng.randint(-10**6, 10**7) if i % 5 else round(rng.uniform(-1000, 1000), 2)
        pred = gold if rng.random() < 0.5 else gold + rng.choice([1, -1, 10])
        fmt = "{:,}" if i % 3 == 0 else "{}"
        pairs.append((str(gold), fmt.format(pred)))
    return pairs


# --- star check (a subprocess, end to end) -------------------------------------------------


def run_star_check(pairs: Sequence[tuple[str, str | None]], checker: str, workers: int = 2) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_text("".join(json.dumps({"id": i, "gold": g, "pred": p}) + "\n" for i, (g, p) in enumerate(pairs)))
        cmd = [sys.executable, "-m", "star.check_cli", "--checker", checker, "--workers", str(workers), str(src), "-o", str(dst)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"star check failed: {proc.stderr}")
        verdicts = [json.loads(line)["verdict"] for line in dst.read_text().splitlines()]
    return {"seconds": seconds, "rate": len(pairs) / seconds, "verdicts": verdicts, "summary": proc.stderr.strip()}


# --- Math-Verify, used as is ----------------------------------------------------------------


def _wrap(s: str) -> str:
    """Math-Verify needs $...$ around a bare answer; a whole output goes in as it is."""
    whole = any(m in s for m in ("\n", "$", "\\boxed", "answer", "Answer", "####", "\\[", "\\("))
    return s if whole else f"${s}$"


def math_verify_verdict(gold: str, pred: str | None, strings: str | None = None) -> str:
    from math_verify import (
        ExprExtractionConfig,
        LatexExtractionConfig,
        StringExtractionConfig,
        parse,
        verify,
    )

    if pred is None:
        return "incorrect"
    if strings:
        config = [StringExtractionConfig(strings=tuple(strings))]
        ok = verify(parse(gold, config), parse(pred, config))
    else:
        config = [LatexExtractionConfig(), ExprExtractionConfig()]
        ok = verify(parse(_wrap(gold), config), parse(_wrap(pred), config))
    return "correct" if ok else "incorrect"


def time_math_verify(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    math_verify_verdict("1", "1")  # imports and regex compilation are not the checks
    start = time.perf_counter()
    verdicts = [math_verify_verdict(g, p) for g, p in pairs]
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rate": len(pairs) / seconds, "verdicts": verdicts}


def _guarded_child(conn: Any, items: list) -> None:
    logging.disable(logging.CRITICAL)
    for i, (gold, pred, strings) in items:
        conn.send((i, math_verify_verdict(gold, pred, strings)))
    conn.send(None)


def guarded_map(items: list[tuple[str, str | None, str | None]], per_item: float = 10.0) -> list[str]:
    """Math-Verify verdicts in a child process; an item that hangs it (past `per_item`
    seconds) gets "no verdict" and the child restarts after it."""
    ctx = mp.get_context("spawn")
    out: list[str | None] = [None] * len(items)
    todo = list(enumerate(items))
    while todo:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_guarded_child, args=(child, [(i, it) for i, it in todo]), daemon=True)
        proc.start()
        done_upto = -1
        while True:
            try:
                msg = parent.recv() if parent.poll(per_item) else "hung"
            except EOFError:  # the child died on an item
                msg = "died"
            if msg in ("hung", "died"):
                stuck = todo[done_upto + 1][0]
                out[stuck] = "no verdict"
                log.warning("Math-Verify %s on row %d", msg, stuck)
                proc.kill()
                proc.join()
                todo = todo[done_upto + 2 :]
                break
            if msg is None:
                proc.join()
                todo = []
                break
            out[msg[0]] = msg[1]
            done_upto += 1
    return [o or "no verdict" for o in out]


# --- the two reports -----------------------------------------------------------------------


def _load_cases() -> Any:
    spec = importlib.util.spec_from_file_location("checker_cases", ROOT / "tests/checkers/checker_cases.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def agreement() -> None:
    from star.checkers import CheckPool, get_checker

    rows = _load_cases().all_rows()
    with CheckPool(workers=2, timeout=5.0) as pool:
        star = [pool.check(get_checker(name, **opts), [(g, p)])[0].value for name, opts, g, p, _ in rows]
    mv_items = [
        (g, p, (opts.get("labels", "ABCDE") if name == "choice" else None))
        for name, opts, g, p, _ in rows
        if name in ("math", "numeric", "choice")
    ]
    mv = iter(guarded_map(mv_items))
    print(f"{'checker':9} {'rows':>5} {'star agrees':>12} {'Math-Verify agrees':>19}")
    totals = {"rows": 0, "star": 0, "mv": 0}
    for kind in ("math", "numeric", "choice", "exact"):
        idx = [i for i, r in enumerate(rows) if r[0] == kind]
        expected = [rows[i][4] for i in idx]
        star_ok = sum(_agrees(star[i], e) for i, e in zip(idx, expected, strict=True))
        line = f"{kind:9} {len(idx):5} {star_ok:6} ({star_ok / len(idx):6.1%})"
        if kind != "exact":
            mv_kind = [next(mv) for _ in idx]
            mv_ok = sum(_agrees(v, e) for v, e in zip(mv_kind, expected, strict=True))
            line += f" {mv_ok:11} ({mv_ok / len(idx):6.1%})"
            wrong_accept = sum(v == "correct" and e != "correct" for v, e in zip(mv_kind, expected, strict=True))
            line += f"   Math-Verify accepts {wrong_accept} wrong"
            if kind in ("math", "numeric"):
                totals["rows"] += len(idx)
                totals["star"] += star_ok
                totals["mv"] += mv_ok
        else:
            line += f" {'n/a':>11}"
        print(line)
    n = totals["rows"]
    print(f"math+numeric {n} rows: star {totals['star'] / n:.1%}, Math-Verify {totals['mv'] / n:.1%}")


def _agrees(verdict: str, expected: str) -> bool:
    """UNVERIFIABLE and INCORRECT are both "not accepted"; a checker without a third verdict
    agrees with an expected UNVERIFIABLE by rejecting."""
    if expected == "unverifiable":
        return verdict != "correct"
    return verdict == expected


def _agreement_of(verdicts: Sequence[str], reference: Sequence[str]) -> float:
    return sum(a == b for a, b in zip(verdicts, reference, strict=True)) / len(reference)


def speed(n_latex: int, n_numbers: int, n_mv_numbers: int) -> None:
    pairs = latex_pairs(n_latex)
    star = run_star_check(pairs, "math")
    mv = time_math_verify(pairs)
    ratio = star["rate"] / mv["rate"]
    print(f"LaTeX pairs ({n_latex}, 12 kinds, half equal):")
    print(f"  star check --workers 2  {star['rate']:8.1f} checks/s  ({star['seconds']:.2f} s end to end)")
    print(f"    {star['summary']}")
    print(f"  Math-Verify, 1 process  {mv['rate']:8.1f} checks/s  ({mv['seconds']:.2f} s, imports excluded)")
    print(f"  ratio {ratio:.2f}x (target >= {TARGET_LATEX_RATIO:.0f}x); verdicts agree on {_agreement_of(star['verdicts'], mv['verdicts']):.1%}")

    from star.checkers import get_checker

    math = get_checker("math")
    hard = [pair for pair in pairs if math.fast_check(*pair) is None]
    star_h, mv_h = run_star_check(hard, "math"), time_math_verify(hard)
    print(f"  of which need sympy ({len(hard)} pairs, no fast path for star):")
    print(f"  star check --workers 2  {star_h['rate']:8.1f} checks/s  ({star_h['seconds']:.2f} s end to end)")
    print(f"  Math-Verify, 1 process  {mv_h['rate']:8.1f} checks/s  ratio {star_h['rate'] / mv_h['rate']:.2f}x")

    numbers = number_pairs(n_numbers)
    star_n = run_star_check(numbers, "numeric")
    star_m = run_star_check(numbers, "math")
    mv_n = time_math_verify(numbers[:n_mv_numbers])
    print(f"plain numbers ({n_numbers}; Math-Verify on the first {n_mv_numbers}):")
    print(f"  star check --checker numeric --workers 2  {star_n['rate']:9.1f} checks/s  ({star_n['seconds']:.2f} s end to end)")
    print(f"  star check --checker math --workers 2     {star_m['rate']:9.1f} checks/s  ({star_m['seconds']:.2f} s end to end)")
    print(f"  Math-Verify, 1 process                    {mv_n['rate']:9.1f} checks/s")
    print(f"  ratios {star_n['rate'] / mv_n['rate']:.1f}x (numeric), {star_m['rate'] / mv_n['rate']:.1f}x (math); target >= {TARGET_NUMBERS_RATE:.0f} checks/s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agreement", action="store_true", help="score the test table instead of timing")
    p.add_argument("--latex", type=int, default=1200, help="generated LaTeX pairs (default 1200)")
    p.add_argument("--numbers", type=int, default=20000, help="plain-number pairs for star (default 20000)")
    p.add_argument("--mv-numbers", type=int, default=3000, help="plain-number pairs for Math-Verify")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    if args.agreement:
        agreement()
    else:
        speed(args.latex, args.numbers, args.mv_numbers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
