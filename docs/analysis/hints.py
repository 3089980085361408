"""How the arithmetic runs fail, from their saved completions (docs/REPRODUCING.md).

    python docs/analysis/hints.py runs/multirun/paper_arithmetic runs/multirun/demo

For every sweep folder (its jobs' run_dir.txt) or run directory given, reads
iter_*/samples.jsonl (plain attempts) and iter_*/rationalized.jsonl (hinted attempts) and
prints:
  - hinted attempts: how many succeeded, per digit count;
  - failed attempts whose scratchpad misreads an operand digit (a line `b2+B8+...` where
    the prompt's `b` digit is not 2), plain and hinted;
  - of the misread digits in failed hinted attempts, how many equal the hint's digit of
    the same place (about 1 in 10 by chance).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

PLACES, HINT = "abcdefghij", "pqrstuvwxy"
LINE = re.compile(r"^([a-j])(\d)\+([A-J])(\d)\+", re.M)


def run_dirs(paths: list[str]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        jobs = sorted(p.glob("*/run_dir.txt"))
        out += [Path(j.read_text().strip()) for j in jobs] if jobs else [p]
    return out


def operands(question: str) -> tuple[dict[str, str], dict[str, str]]:
    """'6c2b4a+2C5B7A' -> ({'c': '6', 'b': '2', 'a': '4'}, {'c': '2', 'b': '5', 'a': '7'})."""
    a, b = question.split("+")
    return ({p: d for d, p in re.findall(r"(\d)([a-j])", a)},
            {p.lower(): d for d, p in re.findall(r"(\d)([A-J])", b)})


def main(paths: list[str]) -> None:
    tried, solved = Counter(), Counter()
    failed, misread = Counter(), Counter()
    wrong_digits = hint_digits = 0
    for rd in run_dirs(paths):
        for kind in ("samples", "rationalized"):
            for f in sorted(rd.glob(f"iter_*/{kind}.jsonl")):
                for line in f.open():
                    r = json.loads(line)
                    hint, _, question = r["prompt"].strip().rpartition(") ")
                    a, b = operands(question)
                    if kind == "rationalized":
                        digits = len(a)
                        tried[digits] += 1
                        solved[digits] += r["verdict"] == "correct"
                    if r["verdict"] == "correct":
                        continue
                    failed[kind] += 1
                    hinted = {PLACES[HINT.index(p)]: d for d, p in re.findall(r"(\d)([p-y])", hint)}
                    bad = False
                    for m in LINE.finditer(r["completion"]):
                        place = m.group(1)
                        for got, true in ((m.group(2), a.get(place, "0")), (m.group(4), b.get(place, "0"))):
                            if got != true:
                                bad = True
                                if kind == "rationalized":
                                    wrong_digits += 1
                                    hint_digits += got == hinted.get(place)
                    misread[kind] += bad
    print("hinted attempts that succeeded, by digit count:")
    for d in sorted(tried):
        print(f"  {d} digits: {solved[d]} of {tried[d]} ({solved[d] / tried[d]:.1%})")
    for kind, name in (("samples", "plain"), ("rationalized", "hinted")):
        n = max(failed[kind], 1)
        print(f"failed {name} attempts with a misread operand digit: {misread[kind]} of {failed[kind]} "
              f"({misread[kind] / n:.1%})")
    print(f"misread digits in failed hinted attempts equal to the hint's digit of that place: "
          f"{hint_digits} of {wrong_digits} ({hint_digits / max(wrong_digits, 1):.1%})")


if __name__ == "__main__":
    main(sys.argv[1:] or ["runs/multirun/paper_arithmetic", "runs/multirun/demo"])
