"""Distillation on the demo: does a smaller student learn more from a teacher's accepted
samples than from its own STaR loop? A benchmark, not a test.

For each seed, three runs of `star run` (each an ordinary, resumable run directory under --out):

    star_s<seed>         the demo itself (`star run seed=<seed>`): its final model is the teacher
    student_own_s<seed>  the student's own STaR loop: a smaller tiny model (--student, default
                         model.tiny.layers=2), cold-started the same way
    distill_s<seed>      the same student, trained on the teacher's samples of the training
                         problems (loop.teacher=<star_s<seed>>): checked, rationalized and
                         filtered as the loop does; the student is evaluated each iteration

Both students train the same steps per iteration (the demo's schedule) on what their
iteration accepted. Per seed it prints the final eval accuracy of the teacher and of both
students, the differences, and the generated tokens: the student's own (training side and
evaluation) and, for the distilled one, the teacher's (read from the samples: `voter` -1
marks the teacher's), then the mean with a 95% t-interval over seeds and whether the target
holds (distilled above own in every seed, the mean within 0.05 of the teacher's).

    python bench/bench_distill.py --seeds 0-2 --out runs/distill          # runs what is missing
    python bench/bench_distill.py --seeds 0-2 --out runs/distill --only-report \
        --markdown distill.md --plot distill.png       # + the three arms, mean of the seeds

`--markdown` and `--plot` write `star report`'s table and figure of the three arms, each the
mean over the seeds with their [min, max] (star report itself would not merge the distilled
runs over seeds: each names another teacher in loop.teacher; it shows them one by one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from star.evaluation import mean_ci

TEACHER = -1  # star.committee.TEACHER (a benchmark imports no model code it does not need)


def seeds_arg(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def run(out: Path, name: str, overrides: list[str], threads: int) -> Path:
    """`star run` into out/arithmetic/<name> (resumed, or a no-op, when it exists)."""
    cmd = [sys.executable, "-m", "star.cli", "run", f"out_dir={out}", f"run_name={name}", *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log = out / f"{name}.log"
    t0 = time.perf_counter()
    with open(log, "a") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed; see {log}")
    print(f"  {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return next(out.glob(f"*/{name}"))


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines() if line.strip()]


def tokens(path: Path) -> tuple[int, int]:
    """(the student's generated tokens, the teacher's), over every iteration's training side and
    evaluation, from the samples themselves (a teacher's samples carry voter -1)."""
    own = teacher = 0
    for it in sorted(path.glob("iter_*")):
        for name in ("samples", "rationalized"):
            f = it / f"{name}.jsonl"
            for s in (json.loads(line) for line in f.read_text().splitlines()) if f.exists() else ():
                if s.get("voter", 0) == TEACHER:
                    teacher += s["tokens"]
                else:
                    own += s["tokens"]
        f = it / "eval.jsonl"
        own += sum(json.loads(line)["tokens"] for line in f.read_text().splitlines()) if f.exists() else 0
    return own, teacher


def shared(own: Path, distill: Path) -> tuple[int, int]:
    """(accepted examples of the distilled run that the student's own loop accepted too, same
    problem and same completion, in the same iteration; all of the distilled run's)."""
    both = total = 0
    for it in sorted(distill.glob("iter_*")):
        f, g = it / "train.jsonl", own / it.name / "train.jsonl"
        if not (f.exists() and g.exists()):
            continue
        key = lambda line: (json.loads(line)["problem_id"], json.loads(line)["completion"])  # noqa: E731
        theirs, ours = {key(x) for x in f.read_text().splitlines()}, {key(x) for x in g.read_text().splitlines()}
        both, total = both + len(theirs & ours), total + len(theirs)
    return both, total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=seeds_arg, default=seeds_arg("0-2"))
    p.add_argument("--out", type=Path, default=Path("runs/distill"))
    p.add_argument("--student", nargs="*", default=["model.tiny.layers=2"], help="overrides that make the student")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only-report", action="store_true", help="read finished runs, run nothing")
    p.add_argument("--names", default="star,student_own,distill",
                   help="run names of the teacher, own and distilled runs (then _s<seed>)")
    p.add_argument("--markdown", type=Path, help="star report's table of the three arms, mean over seeds")
    p.add_argument("--plot", type=Path, help="star report's figure of the three arms, mean over seeds")
    p.add_argument("--title", default="")
    p.add_argument("overrides", nargs="*", help="overrides for every run (after --)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    table, arms = [], []
    for seed in args.seeds:
        base = [f"seed={seed}", *args.overrides]
        names = {k: f"{n}_s{seed}" for k, n in zip(("teacher", "own", "distill"), args.names.split(","), strict=True)}
        if args.only_report:
            paths = {k: next(args.out.glob(f"*/{n}")) for k, n in names.items()}
        else:
            paths = {"teacher": run(args.out, names["teacher"], base, args.threads)}
            paths["own"] = run(args.out, names["own"], [*base, *args.student], args.threads)
            paths["distill"] = run(args.out, names["distill"],
                                   [*base, *args.student, f"loop.teacher={paths['teacher'].resolve()}"], args.threads)
        final = {k: rows(v)[-1]["eval/accuracy"] for k, v in paths.items()}
        start = rows(paths["own"])[0]["eval/accuracy"]
        own_tokens, distill_tokens = tokens(paths["own"]), tokens(paths["distill"])
        table.append((seed, start, final, own_tokens, distill_tokens, shared(paths["own"], paths["distill"])))
        arms.append(paths)

    print(f"{'seed':>4} {'student@0':>9} {'teacher':>8} {'own':>7} {'distill':>8} {'d-own':>7} {'d-teach':>8} "
          f"{'own: student tok':>17} {'distill: student tok':>21} {'teacher tok':>12} {'shared ex.':>17}")
    for seed, start, f, (own_tok, _), (d_tok, t_tok), (both, total) in table:
        print(f"{seed:>4} {start:>9.3f} {f['teacher']:>8.3f} {f['own']:>7.3f} {f['distill']:>8.3f} "
              f"{f['distill'] - f['own']:>+7.3f} {f['distill'] - f['teacher']:>+8.3f} {own_tok:>17,} {d_tok:>21,} "
              f"{t_tok:>12,} {f'{both}/{total}':>11} {both / max(total, 1):>5.1%}")
    print("shared ex.: the distilled student's training examples (all iterations) that its own loop accepted too")
    gain = [row[2]["distill"] - row[2]["own"] for row in table]
    gap = [row[2]["distill"] - row[2]["teacher"] for row in table]
    mean = {k: sum(row[2][k] for row in table) / len(table) for k in ("teacher", "own", "distill")}
    print(f"mean final accuracy: teacher {mean['teacher']:.3f}, own loop {mean['own']:.3f}, "
          f"distilled {mean['distill']:.3f}")
    if len(table) > 1:
        m, lo, hi = mean_ci(gain)
        print(f"distilled - own: mean {m:+.3f}, 95% CI [{lo:+.3f}, {hi:+.3f}]; "
              f"distilled - teacher: mean {sum(gap) / len(gap):+.3f}")
    ok = all(g > 0 for g in gain) and abs(mean["distill"] - mean["teacher"]) <= 0.05
    print(f"target (distilled above own in every seed, mean within 0.05 of the teacher's): "
          f"{'met' if ok else 'missed'}")
    if args.markdown or args.plot:
        draw(arms, args.seeds, args.student, args.markdown, args.plot, args.title)
    return 0


LABELS = {"teacher": "teacher: the demo", "own": "student: its own STaR loop",
          "distill": "student: on the teacher's samples"}


def draw(arms: list[dict[str, Path]], seeds: list[int], student: list[str], markdown: Path | None,
         png: Path | None, title: str) -> None:
    """The three arms as `star report` tables and draws them: each the mean over the seeds."""
    from star import report

    runs = [report.Run(path, report.load_run(path).rows, config={"arm": arm, "seed": seed})
            for paths, seed in zip(arms, seeds, strict=True) for arm, path in paths.items()]
    def label(r: report.Run) -> str:
        arm = r.config["arm"]
        return (LABELS[arm] + (f" ({' '.join(student)})" if arm != "teacher" else "")
                + (f" (mean of {r.runs})" if r.runs > 1 else ""))

    merged = [replace(r, label=label(r)) for r in report.merge(runs, ["seed"])]
    if markdown:
        markdown.write_text(report.render(merged, "markdown"))
    if png:
        png.write_bytes(report.plot(merged, title=title))


if __name__ == "__main__":
    raise SystemExit(main())
