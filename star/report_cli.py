"""`star report`: look at runs after (or while) they run.

    star report RUN_DIR [RUN_DIR ...] [--format text|markdown|csv|json] [-o FILE] [--plot PNG]
                [--mean-over KEY] [--measure accuracy|maj@K|pass@K] [--panels groups|runs]
                [--x iteration|tokens|seconds]

It reads metrics.jsonl files only (see star/report.py); `star eval` (star/eval_cli.py)
measures new samples.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from star import report

log = logging.getLogger("star")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(levelname)s %(name)s] %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)


def _write(text: str, out: str | None) -> None:
    text = text if text.endswith("\n") else text + "\n"
    if out:
        Path(out).write_text(text)
        log.info("wrote %s", out)
    else:
        sys.stdout.write(text)


# -- star report ----------------------------------------------------------------------------------
def report_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="star report", description=(
        "Per-iteration table and comparison figure over run directories, multirun sweep folders "
        "(their */run_dir.txt) or folders of runs."))
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--format", "-f", choices=report.FORMATS, default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write the table here (default: stdout)")
    p.add_argument("--plot", metavar="PNG", help="the figure (default: FILE with .png, or report.png)")
    p.add_argument("--no-plot", action="store_true", help="no figure")
    p.add_argument("--mean-over", action="append", default=[], metavar="KEY",
                   help="merge runs that differ only in this config key (e.g. seed); repeatable")
    p.add_argument("--measure", default="accuracy", help="accuracy (greedy, default), maj@K or pass@K")
    p.add_argument("--panels", choices=("groups", "runs"), default="groups",
                   help="a panel per group with a line per run (default), or a panel per run")
    p.add_argument("--title", default="", help="the figure's title")
    p.add_argument("--x", choices=tuple(report.AXES), default="iteration",
                   help="the x-axis: iterations (default), or the work so far: generated tokens (training and "
                        "evaluation) or wall seconds, to compare algorithms whose iterations differ (STaR, GRPO)")
    args = p.parse_args(argv)
    _logging()
    try:
        runs = report.load(map(Path, args.runs), args.mean_over)
    except (FileNotFoundError, ValueError) as e:
        print(f"star report: {e}", file=sys.stderr)
        return 2
    if args.measure not in report.measures(runs):
        print(f"star report: no run measured {args.measure!r} (measured: {', '.join(report.measures(runs))})",
              file=sys.stderr)
        return 2
    _write(report.render(runs, args.format, args.measure, args.x), args.output)
    if not args.no_plot:
        png = Path(args.plot or (Path(args.output).with_suffix(".png") if args.output else "report.png"))
        png.write_bytes(report.plot(runs, args.measure, args.panels, args.title, args.x))
        print(f"figure: {png}", file=sys.stderr)
    return 0
