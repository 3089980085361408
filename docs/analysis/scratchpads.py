"""Are the accepted hinted rationales right, or only their answers? (docs/REPRODUCING.md, paper_arithmetic)

    python docs/analysis/scratchpads.py runs/arithmetic/paper_arithmetic-<hash> [--iteration 1]

For a run of task=arithmetic with style=lookup, reads the hinted attempts that were
accepted in one iteration (iter_NNN/rationalized.jsonl, verdict correct) and checks every
scratchpad line `a4+A7+0=1p1` against the problem: are the operand digits the ones in the
question (read), and are the column sum and the carry right (add)? Prints, per digit
count, how many accepted rationales are right throughout and how many reach the hinted
answer through a misread or mis-added scratchpad. The checker only sees the final answer.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

LINE = re.compile(r"([a-z])(\d)\+([A-Z])(\d)\+(\d)=(\d)[a-z](\d)")


def verdict(question: str, completion: str) -> str:
    a = {letter: int(d) for d, letter in re.findall(r"(\d)([a-z])", question)}
    b = {letter.lower(): int(d) for d, letter in re.findall(r"(\d)([A-Z])", question)}
    lines = LINE.findall(completion)
    if not lines:
        return "no scratchpad"
    read = add = True
    carry = 0
    for place, x, _, y, c, tens, units in lines:
        x, y, c, tens, units = map(int, (x, y, c, tens, units))
        read &= x == a.get(place, 0) and y == b.get(place, 0)
        add &= x + y + c == 10 * tens + units and c == carry
        carry = tens
    return "right" if read and add else "misread" if not read else "mis-added"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--iteration", type=int, default=1)
    args = ap.parse_args()
    counts: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    path = args.run / f"iter_{args.iteration:03d}" / "rationalized.jsonl"
    for line in path.read_text().splitlines():
        row = json.loads(line) if line.strip() else None
        if not row or row["verdict"] != "correct" or row.get("rejected"):
            continue
        question = row["train_prompt"].strip().splitlines()[-1]
        counts[len(re.findall(r"\d[a-z]", question))][verdict(question, row["completion"])] += 1
    kinds = ["right", "misread", "mis-added", "no scratchpad"]
    print("| digits | accepted hinted | " + " | ".join(kinds) + " |")
    print("| ---: | ---: |" + " ---: |" * len(kinds))
    for digits in sorted(counts):
        c = counts[digits]
        print(f"| {digits} | {sum(c.values())} | " + " | ".join(str(c[k]) for k in kinds) + " |")


if __name__ == "__main__":
    main()
