"""`star report` and `star eval`: look at runs after (or while) they run.

    star report RUN_DIR [RUN_DIR ...] [--format text|markdown|csv|json] [-o FILE] [--plot PNG]
                [--mean-over KEY] [--measure accuracy|maj@K|pass@K] [--panels groups|runs]
    star eval RUN_DIR [--iterations 0,4|all] [eval.k=1,4,16] [eval.temperature=0.7] [key=value ...]

`star report` reads metrics.jsonl files only (see star/report.py). `star eval` measures the
test-time-compute scaling of a run's models: for each chosen iteration it loads that
iteration's weights as the loop does (`loop.Policy`), samples n = max(k) attempts per eval
problem at `eval.temperature` (plus the greedy one) with the loop's own eval stage and
seeds, and reports maj@k and pass@k for every k, overall and per group, with 95%
intervals, as a table and a figure. Its files go to `RUN_DIR/eval_k/<settings>/`
(samples per iteration, reused by later calls; scaling.json, .csv, .md, .png);
metrics.jsonl is never touched. Overrides may change the eval.*, generator.* and check.*
keys of the run's config, nothing that would change which model an iteration is.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from star import report

log = logging.getLogger("star")
EVAL_OVERRIDABLE = ("eval.", "generator.", "check.")


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
    _write(report.render(runs, args.format, args.measure), args.output)
    if not args.no_plot:
        png = Path(args.plot or (Path(args.output).with_suffix(".png") if args.output else "report.png"))
        png.write_bytes(report.plot(runs, args.measure, args.panels, args.title))
        print(f"figure: {png}", file=sys.stderr)
    return 0


# -- star eval ------------------------------------------------------------------------------------
def eval_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="star eval", description=(
        "Accuracy against the number of samples (maj@k, pass@k) for chosen iterations of a run."))
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="eval.k=1,4,16 (default), eval.temperature=0.7, eval.max_problems=200, generator.batch_size=64")
    p.add_argument("--iterations", "-i", default=None,
                   help="comma-separated iterations, or all (default: the first and the last finished)")
    p.add_argument("--format", "-f", choices=("text", "markdown"), default="text")
    args = p.parse_intermixed_args(argv)
    _logging()
    from star.cli import _quiet_libraries

    _quiet_libraries()  # as star run: our progress bars, not the libraries' chatter
    run = Path(args.run)
    try:
        cfg, task = _run_config(run, args.overrides)
        iterations = _iterations(run, args.iterations)
    except (FileNotFoundError, ValueError) as e:
        print(f"star eval: {e}", file=sys.stderr)
        return 2
    rows, out = _scaling(run, cfg, task, iterations)
    text = report.scaling_table(rows, cfg.eval.k, args.format)
    from star.rundir import atomic_write_bytes, atomic_write_json, atomic_write_text
    from star.tracking import to_csv

    atomic_write_json(out / "scaling.json", rows)
    atomic_write_text(out / "scaling.csv", to_csv(rows))
    atomic_write_text(out / "scaling.md", report.scaling_table(rows, cfg.eval.k, "markdown"))
    atomic_write_bytes(out / "scaling.png", report.plot_scaling(rows, cfg.eval.k, title=f"{run.name}: {out.name}"))
    sys.stdout.write(text)
    print(f"files: {out}/scaling.{{json,csv,md,png}}", file=sys.stderr)
    return 0


def _run_config(run: Path, overrides: list[str]) -> tuple[Any, Any]:
    """The run's own config (config.yaml) with eval/generator/check overrides, typed; the task."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from star.config import Config, validate

    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"{run}: not a run directory (no config.yaml)")
    dotlist = ["eval.k=[1,4,16]"]
    for o in overrides:
        key, sep, value = o.partition("=")
        if not sep or not key.startswith(EVAL_OVERRIDABLE):
            raise ValueError(f"{o!r}: overrides are KEY=VALUE for the keys under {', '.join(EVAL_OVERRIDABLE)} "
                             "(the rest of the config is the run's)")
        # eval.k=1,4,16 reads as a list, as a Hydra sweep value would
        dotlist.append(f"{key}=[{value}]" if "," in value and not value.startswith("[") else o)
    dcfg = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(run / "config.yaml"),
                           OmegaConf.from_dotlist(dotlist))
    cfg: Config = OmegaConf.to_object(dcfg)
    if not cfg.eval.k:
        raise ValueError("eval.k is empty: give the numbers of samples to compare, e.g. eval.k=1,4,16")
    if not any(o.startswith("eval.samples=") for o in overrides):  # n = max(k), unless asked for more
        cfg.eval.samples = max(cfg.eval.k)
    validate(cfg)
    return cfg, instantiate(dcfg.task, _convert_="all")


def _iterations(run: Path, spec: str | None) -> list[int]:
    done = sorted(int(d.name[5:]) for d in run.glob("iter_*") if (d / "DONE").exists())
    if not done:
        raise ValueError(f"{run}: no finished iteration yet")
    if spec is None:
        return sorted({done[0], done[-1]})
    wanted = done if spec == "all" else [int(x) for x in spec.split(",")]
    missing = [t for t in wanted if t not in done]
    if missing:
        raise ValueError(f"iteration(s) {missing} not finished in {run} (finished: {done})")
    return wanted


class _Iterations:
    """What Policy needs from a run directory (its iteration folders), without taking the
    run's lock: star eval may look at a run that is still running."""

    def __init__(self, path: Path):
        self.path = path

    def iteration(self, t: int):
        from star.rundir import Iteration

        return Iteration(self.path / f"iter_{t:03d}", t)


def _scaling(run: Path, cfg, task, iterations: list[int]) -> tuple[list[dict[str, Any]], Path]:
    """Eval records per iteration (sampled once, reused), and their maj@k/pass@k rows."""
    from star import evaluation, models
    from star.checkers import CheckPool
    from star.loop import Policy, Stages, cold_start_examples
    from star.rundir import atomic_write_jsonl, read_jsonl
    from star.types import Sample

    e = cfg.eval
    out = run / "eval_k" / (f"{e.split}-T{e.temperature:g}-n{e.samples}" + (f"-m{e.max_problems}" if e.max_problems else ""))
    out.mkdir(parents=True, exist_ok=True)
    problems = task.load(e.split)[: e.max_problems]
    base = models.starting_model(cfg.model, cold_start_examples(task, cfg), cfg.seed)
    rows = []
    with CheckPool(cfg.check.workers, cfg.check.timeout, cfg.check.max_memory_mb) as pool:
        stages = Stages(cfg, task, pool, Policy(base, cfg, _Iterations(run)))  # type: ignore[arg-type]
        for t in iterations:
            f = out / f"iter_{t:03d}.jsonl"
            if not f.exists():
                log.info("iteration %d: %d eval problems x (greedy + %d samples at T=%g)", t, len(problems),
                         e.samples, e.temperature)
                atomic_write_jsonl(f, [s.to_dict() for s in stages.evaluate(t, problems)])
            records = [Sample.from_dict(r) for r in read_jsonl(f)]
            rows.append({"iteration": t, **evaluation.accuracy(problems, records, task, pool, e.k)})
            log.info("iteration %d: greedy %.3f | %s", t, rows[-1]["eval/accuracy"],
                     " ".join(f"maj@{k} {rows[-1][f'eval/maj@{k}']:.3f} pass@{k} {rows[-1][f'eval/pass@{k}']:.3f}"
                              for k in e.k))
    return rows, out
