"""Reports over finished (or running) run directories: what `star report` prints and draws.

    star report RUN_DIR [RUN_DIR ...] [--format text|markdown|csv|json] [-o FILE]

A RUN_DIR is a run directory (it holds metrics.jsonl), a multirun sweep folder (its jobs'
`<job>/run_dir.txt` name their run directories), or any folder of run directories. Runs
are labelled by the config keys in which they differ (from each manifest.json), so a sweep
over `loop.rationalize=true,false seed=0,1,2` reads as such; `--mean-over seed` merges runs
that differ only in the seed (mean, and [min, max] across them in place of the interval).

The table has one row per iteration and run: eval accuracy overall and per group with its
95% interval, maj@k/pass@k overall where they were measured, and the training side
(problems solved without hint, rationalized, examples accepted; GRPO's mean reward). The
figure has a panel per group and a line per run (`--panels runs`: a panel per run and a line
per group). An iteration is different work in STaR and in GRPO, so the x-axis can also be
the work done so far (`--x tokens`: generated tokens, training and evaluation, summed over
the iterations so far; `--x seconds`: the stages' wall seconds, summed likewise), and the
table then has that column too.

A chained run (algorithm=pipeline) is one run whose rows name their stage: the table has a
stage column, and on every axis the stages lie end to end. A later stage's iteration 0 is the
previous stage's last model evaluated again: it sits at that model's place and adds no work
(its tokens and seconds are not counted twice). Its stage folders, run directories of their
own, are not reported beside it when a folder of runs is searched.
Only metrics.jsonl and manifest.json are read: a report never loads a model.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from star.evaluation import natural, parse_key
from star.plots import Line, plot_panels, to_csv
from star.rundir import LATER_KEYS, STAGE, read_jsonl, without_later_defaults

log = logging.getLogger(__name__)
FORMATS = ("text", "markdown", "csv", "json")
TRAIN = (("train/solved", "solved"), ("train/rationalized", "rationalized"), ("train/accepted", "accepted"),
         ("train/pseudo_labeled", "pseudo-labeled"), ("train/pseudo_label_accuracy", "pseudo-label acc"),
         ("train/reward", "reward"))
# --x: the figure's label, what an iteration's row adds to the x-axis (summed over the iterations
# so far), and the figure's unit
AXES = {"iteration": ("iteration", None, 1), "tokens": ("generated tokens (thousands)", ("train/tokens", "eval/tokens"), 1000),
        "seconds": ("wall seconds", ("time/",), 1)}


@dataclass
class Run:
    path: Path
    rows: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)  # the manifest's results config, flattened
    label: str = ""
    runs: int = 1  # > 1: the mean of that many runs (brackets are then [min, max] across them)


# -- finding and loading runs ---------------------------------------------------------------------
def find_runs(paths: Iterable[Path]) -> list[Path]:
    """Run directories named by `paths`: run directories themselves, sweep folders (through
    their run_dir.txt files, in job order), or folders holding run directories."""
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / "metrics.jsonl").is_file():
            runs = [path]
        elif pointers := sorted(path.rglob("run_dir.txt"), key=lambda p: natural(str(p))):
            runs = [Path(p.read_text().strip()) for p in pointers]
            missing = [r for r in runs if not (r / "metrics.jsonl").is_file()]
            for r in missing:
                log.warning("%s: no metrics.jsonl yet (a job that has not finished an iteration); skipped", r)
            runs = [r for r in runs if r not in missing]
        else:
            runs = sorted((m.parent for m in path.rglob("metrics.jsonl") if not _stage_of_a_run(m.parent)),
                          key=lambda p: natural(str(p)))
        if not runs:
            raise FileNotFoundError(f"{path}: neither a run directory (metrics.jsonl) nor a folder of runs "
                                    "(a multirun sweep's */run_dir.txt, or run directories below it)")
        found += [r for r in runs if r.resolve() not in {f.resolve() for f in found}]
    return found


def _stage_of_a_run(path: Path) -> bool:
    """A stage folder of a chained run (reported as part of its run, not beside it)."""
    return bool(STAGE.fullmatch(path.name)) and (path.parent / "metrics.jsonl").is_file()


def load_run(path: Path) -> Run:
    manifest = path / "manifest.json"
    config = json.loads(manifest.read_text()).get("results_config", {}) if manifest.is_file() else {}
    return Run(path=path, rows=read_jsonl(path / "metrics.jsonl"), config=without_later_defaults(config))


def load(paths: Iterable[Path], mean_over: Sequence[str] = ()) -> list[Run]:
    """The runs under `paths`, merged over the `mean_over` config keys, labelled."""
    runs = [load_run(p) for p in find_runs(paths)]
    if mean_over:
        runs = merge(runs, mean_over)
    return label(runs)


def label(runs: list[Run]) -> list[Run]:
    """Each run's label: the config keys in which the runs differ (`loop.rationalize=false seed=1`),
    else its directory name."""
    keys = sorted({k for r in runs for k in r.config}, key=natural)
    differ = [k for k in keys if len({_show(r.config.get(k, LATER_KEYS.get(k))) for r in runs}) > 1]
    out = []
    for r in runs:
        text = " ".join(f"{k}={_show(r.config.get(k, LATER_KEYS.get(k)))}" for k in differ) or r.path.name
        out.append(replace(r, label=text + (f" (mean of {r.runs})" if r.runs > 1 else "")))
    labels = [r.label for r in out]
    return [replace(r, label=f"{r.label} [{r.path.name}]") if labels.count(r.label) > 1 else r for r in out]


def shown(path: Path) -> str:
    """A run directory as a report names it: relative to the working directory when it lies
    below it, else its last two parts (a report must not embed one machine's absolute paths)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(Path(*path.parts[-2:])) if len(path.parts) >= 2 else path.name


def _show(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, dict) and "algorithm" in v for v in value):
        return "+".join(_stage(v) for v in value)  # algorithm.stages: grpo{loop.iterations=2}+star{...}
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def _stage(stage: dict[str, Any]) -> str:
    def flat(d: Any, prefix: str = "") -> list[str]:
        if isinstance(d, dict):
            return [x for k, v in sorted(d.items()) for x in flat(v, f"{prefix}{k}.")]
        return [f"{prefix[:-1]}={d}"]

    keys = flat(stage.get("overrides") or {})
    return (stage.get("name") or stage["algorithm"]) + ("{" + ",".join(keys) + "}" if keys else "")


def merge(runs: list[Run], keys: Sequence[str]) -> list[Run]:
    """Runs whose configs agree except in `keys` become one: per iteration, the mean of every
    metric, and for each eval measure the [min, max] across runs in place of its interval."""
    buckets: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        common = {k: v for k, v in r.config.items() if k not in keys}
        buckets[json.dumps(common, sort_keys=True, default=str)].append(r)
    out = []
    for members in buckets.values():
        if len(members) == 1:
            out.append(members[0])
            continue
        common = {k: v for k, v in members[0].config.items() if k not in keys}
        out.append(Run(path=members[0].path, rows=_mean_rows([m.rows for m in members]), config=common,
                       runs=len(members)))
    return out


def _mean_rows(row_lists: Sequence[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per (stage, iteration): a chained run's stages each count their iterations from 0."""
    by_it: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for rows in row_lists:
        for r in rows:
            by_it[(r.get("stage_index", 0), r["iteration"])].append(r)
    out = []
    for stage, it in sorted(by_it):
        rows = by_it[(stage, it)]
        merged: dict[str, Any] = {"iteration": it, "runs": len(rows)}
        if "stage" in rows[0]:
            merged |= {"stage": rows[0]["stage"], "stage_index": stage}
        for key in dict.fromkeys(k for r in rows for k in r):
            values = [r[key] for r in rows if isinstance(r.get(key), int | float) and not isinstance(r[key], bool)]
            parsed = parse_key(key)
            if key in ("iteration", "stage_index") or not values or (parsed and parsed[0].endswith(("_lo", "_hi"))):
                continue
            merged[key] = sum(values) / len(values)
            if parsed and any(_key(parsed[0] + "_lo", parsed[1]) in r for r in rows):
                merged[_key(parsed[0] + "_lo", parsed[1])] = min(values)
                merged[_key(parsed[0] + "_hi", parsed[1])] = max(values)
        out.append(merged)
    return out


# -- what a run measured ----------------------------------------------------------------------------
# Training-side measures with per-group values, shown with --measure train/<name>
TRAIN_MEASURES = ("solve_rate", "rationalization_rate", "yield", "pseudo_label_rate", "pseudo_label_accuracy")


def _key(measure: str, group: str = "") -> str:
    """`accuracy` -> eval/accuracy; a training-side measure is named in full: train/solve_rate."""
    return (measure if measure.startswith("train/") else f"eval/{measure}") + (f"/{group}" if group else "")


def _parse(key: str) -> tuple[str, str] | None:
    """The (measure, group) of an eval key, or of a train/<measure>[/group] key."""
    if key.startswith("train/"):
        _, name, *group = key.split("/", 2)
        return f"train/{name}", group[0] if group else ""
    return parse_key(key)


def groups(runs: Sequence[Run], measure: str = "accuracy") -> list[str]:
    """The difficulty groups the runs report `measure` for, in natural order."""
    return row_groups([row for r in runs for row in r.rows], measure)


def row_groups(rows: Iterable[dict[str, Any]], measure: str = "accuracy") -> list[str]:
    found = {p[1] for row in rows for k in row if (p := _parse(k)) and p[0] == measure and p[1]}
    return sorted(found, key=natural)


def measures(runs: Sequence[Run]) -> list[str]:
    """accuracy, then maj@k and pass@k by k, then the training side's per-group rates
    (train/solve_rate, train/pseudo_label_accuracy, ...), as far as any run measured them."""
    keys = {k for r in runs for row in r.rows for k in row}
    found = {p[0] for k in keys
             if (p := parse_key(k)) and p[0].startswith(("maj@", "pass@")) and not p[0].endswith(("_lo", "_hi"))}
    train = [f"train/{m}" for m in TRAIN_MEASURES if f"train/{m}" in keys or any(k.startswith(f"train/{m}/") for k in keys)]
    return ["accuracy", *sorted(found, key=lambda m: (int(m.split("@")[1]), m)), *train]


# -- tables ---------------------------------------------------------------------------------------
def cell(row: dict[str, Any], measure: str, group: str = "") -> str:
    """`41.2 [36.5, 46.1]`: a measure in percent with its interval (or [min, max] over runs)."""
    value = row.get(_key(measure, group))
    if value is None:
        return "-"
    lo, hi = row.get(_key(measure + "_lo", group)), row.get(_key(measure + "_hi", group))
    return f"{100 * value:.1f}" + (f" [{100 * lo:.1f}, {100 * hi:.1f}]" if lo is not None and hi is not None else "")


def _count(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def work(rows: Sequence[dict[str, Any]], x: str = "iteration") -> list[float]:
    """Each row's place on the x-axis: its iteration, or the work done up to and including it
    (`tokens`: train/tokens + eval/tokens; `seconds`: every time/*_s), summed over the rows.
    A chained run's stages lie end to end: the first row of a later stage (its iteration 0,
    the previous stage's last model) sits where that model does and adds no work."""
    if x not in AXES:
        raise ValueError(f"x-axis {x!r}: expected one of {', '.join(AXES)}")
    keys = AXES[x][1]
    out: list[float] = []
    total, offset, stage = 0.0, 0.0, None
    for r in rows:
        again = bool(out) and r.get("stage_index") != stage and r["iteration"] == 0  # a stage's start, seen before
        stage = r.get("stage_index")
        if keys is None:
            offset = out[-1] - r["iteration"] if again else offset
            out.append(offset + r["iteration"])
            continue
        if not again:
            total += sum(v for k, v in r.items() if k.startswith(keys) and isinstance(v, int | float)
                         and not isinstance(v, bool))
        out.append(total)
    return out


def train_columns(run: Run) -> list[tuple[str, str]]:
    """The training-side columns the run has (STaR's counts, GRPO's reward); STaR's when none."""
    found = [(k, name) for k, name in TRAIN if any(k in r for r in run.rows)]
    return found or list(TRAIN[:3])


def table(run: Run, measure: str = "accuracy", extra: Sequence[str] = (),
          x: str = "iteration") -> tuple[list[str], list[list[str]]]:
    """(header, rows) for one run: `measure` overall and per group, the `extra` measures
    overall, and the training side; with `x` tokens or seconds, the work so far after `iter`."""
    gs, train = groups([run], measure), train_columns(run)
    xs = [[f"{v:,.0f}"] for v in work(run.rows, x)] if x != "iteration" else [[] for _ in run.rows]
    staged = any("stage" in r for r in run.rows)  # a chained run: which stage each row is
    stage = [[f"{r.get('stage_index', '')} {r.get('stage', '')}".strip()] if staged else [] for r in run.rows]
    header = [*(["stage"] if staged else []), "iter", *([x] if x != "iteration" else []),
              measure if measure != "accuracy" else "overall", *gs, *extra, *(name for _, name in train)]
    body = [[*s, str(r["iteration"]), *w, cell(r, measure), *(cell(r, measure, g) for g in gs),
             *(cell(r, m) for m in extra), *(_reward(r.get(k)) if name in ("reward", "pseudo-label acc") else _count(r.get(k))
                                              for k, name in train)] for r, w, s in zip(run.rows, xs, stage, strict=True)]
    return header, body


def _reward(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def legend(runs: Sequence[Run], measure: str, x: str = "iteration") -> str:
    row = runs[0].rows[-1] if runs and runs[0].rows else {}
    sizes = ", ".join(f"{g}: {_count(row[_key('n', g)])}" for g in groups(runs[:1], "n") if _key("n", g) in row)
    brackets = ("[min, max] over the merged runs" if any(r.runs > 1 for r in runs)
                else "its 95% Wilson interval")
    star = next((r.rows[-1] for r in runs if r.rows and "train/problems" in r.rows[-1]), None)
    grpo = any("train/reward" in row for r in runs for row in r.rows)
    pseudo = any("train/pseudo_labeled" in row for r in runs for row in r.rows)
    what = f"Training-side {measure.removeprefix('train/')}" if measure.startswith("train/") else f"Eval {measure}"
    return (f"{what} in % with {brackets}"
            + (f"; {_count(row['eval/n'])} eval problems ({sizes})" if "eval/n" in row else "")
            + (f"; solved / rationalized: of {_count(star['train/problems'])} training problems, "
               "accepted: training examples" if star else "")
            + ("; reward: GRPO's mean reward over the round's completions" if grpo else "")
            + ("; pseudo-labeled: problems whose majority answer became a label, pseudo-label acc: their "
               "agreement with the gold answers hidden from training" if pseudo else "")
            + {"iteration": "", "tokens": "; tokens: generated tokens so far (training and evaluation)",
               "seconds": "; seconds: wall seconds of the stages so far"}[x]
            + ("; stage: a chained run's stage, whose iteration 0 is the previous stage's last model "
               "(its work not counted again)" if any("stage" in row for r in runs for row in r.rows) else "") + ".")


def render(runs: Sequence[Run], fmt: str = "text", measure: str = "accuracy", x: str = "iteration") -> str:
    """The report in `fmt` (text, markdown, csv, json); `x` adds the work so far (tokens, seconds)."""
    if fmt == "json":
        return json.dumps([{"label": r.label, "path": shown(r.path), "runs": r.runs, "config": r.config,
                            "rows": r.rows} for r in runs], indent=2) + "\n"
    if fmt == "csv":
        return to_csv([{"run": r.label, "path": shown(r.path), **row} for r in runs for row in r.rows])
    # maj@K and pass@K at the largest K as columns; every k is in the csv and json formats
    sampled = [m for m in measures(runs) if "@" in m]
    top = max((int(m.split("@")[1]) for m in sampled), default=None)
    extra = [m for m in ("accuracy", f"maj@{top}", f"pass@{top}") if m in measures(runs) and m != measure]
    parts = [legend(runs, measure, x), ""]
    for r in runs:
        header, body = table(r, measure, extra, x)
        title = f"{r.label}  ({shown(r.path)})" if r.runs == 1 else r.label
        parts += [f"### {title}" if fmt == "markdown" else title, "",
                  _markdown(header, body) if fmt == "markdown" else _text(header, body), ""]
    return "\n".join(parts)


def _text(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=True)]
    lines = [header, ["-" * w for w in widths], *body]
    return "\n".join("  ".join(x.rjust(w) for x, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = [header, ["---:"] * len(header), *body]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


# -- figures --------------------------------------------------------------------------------------
def plot(runs: Sequence[Run], measure: str = "accuracy", panels: str = "groups", title: str = "",
         x: str = "iteration") -> bytes:
    """PNG: a panel per group (overall first) with a line per run, or (`panels="runs"`) a panel
    per run with a line per group; bands are the intervals (or [min, max] over merged runs).
    The x-axis: iterations, or the work so far (`x="tokens"`, `"seconds"`; see `work`)."""
    gs = ["", *groups(runs, measure)]

    def line(run: Run, group: str, name: str, color: str | None, style: str = "-", width: float = 1.5) -> Line:
        rows = run.rows
        return Line(name, [w / AXES[x][2] for w in work(rows, x)], [r.get(_key(measure, group)) for r in rows],
                    [r.get(_key(measure + "_lo", group)) for r in rows],
                    [r.get(_key(measure + "_hi", group)) for r in rows], color, style, width)

    if panels == "runs":
        grid = {r.label: [line(r, g, g or "overall", "black" if not g else f"C{i - 1}", width=2.5 if not g else 1.5)
                          for i, g in enumerate(gs)] for r in runs}
    else:
        colors, styles = _styles(runs)
        grid = {g or "overall": [line(r, g, r.label, colors[i], styles[i]) for i, r in enumerate(runs)] for g in gs}
        if len(runs) > 4:  # bands of many lines hide the lines
            grid = {k: [replace(x, lo=None, hi=None) for x in v] for k, v in grid.items()}
    return plot_panels(grid, xlabel=AXES[x][0], ylabel=f"eval {measure}", title=title, point_ticks=x == "iteration")


def _styles(runs: Sequence[Run]) -> tuple[list[str], list[str]]:
    """One color per configuration, one line style per seed within it: a sweep over seeds x
    settings reads as a few colors."""
    settings = [" ".join(f"{k}={v}" for k, v in sorted(r.config.items()) if k != "seed") for r in runs]
    order = list(dict.fromkeys(settings))
    if len(order) == 1:  # nothing but seeds (or no manifests) tells the runs apart
        return [f"C{i % 10}" for i in range(len(runs))], ["-"] * len(runs)
    seen: dict[str, int] = defaultdict(int)
    styles = []
    for s in settings:
        styles.append(["-", "--", ":", "-."][seen[s] % 4])
        seen[s] += 1
    return [f"C{order.index(s) % 10}" for s in settings], styles


# -- star eval: accuracy against the number of samples -------------------------------------------
SCALING = ("maj", "bon", "wmaj", "pass")  # the measures at k, in the table's and the figure's order


def _scaled(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The measures at k the rows have (bon@k and wmaj@k only with a verifier)."""
    return [m for m in SCALING if any(k.startswith(f"eval/{m}@") for r in rows for k in r)]


def tokens_per_problem(row: dict[str, Any], k: int) -> float | None:
    """Generated tokens per problem for k sampled attempts: k times a sampled attempt's mean
    length (`eval/sample_tokens`, which star eval adds to its rows)."""
    mean = row.get("eval/sample_tokens")
    return None if mean is None else k * mean


def scaling_table(rows: Sequence[dict[str, Any]], ks: Sequence[int], fmt: str = "text") -> str:
    """Per iteration: greedy accuracy, then maj@k and pass@k (with a verifier's scores, bon@k and
    wmaj@k too) for each k, overall with 95% intervals, per group as `maj / ... / pass`; the
    cost of generation and of scoring under the table."""
    gs, ms = row_groups(rows), _scaled(rows)
    header = ["iter", "k", *(f"{m}@k" for m in ms), *gs]
    body = []
    for r in rows:
        body.append([str(r["iteration"]), "greedy", cell(r, "accuracy"), *[""] * (len(ms) - 1),
                     *(cell(r, "accuracy", g) for g in gs)])
        for k in sorted(ks):
            body.append([str(r["iteration"]), str(k), *(cell(r, f"{m}@{k}") for m in ms),
                         *(" / ".join(cell(r, f"{m}@{k}", g).split()[0] for m in ms) for g in gs)])
    names = {"maj": "maj@k (majority vote over k samples)", "pass": "pass@k (any of k samples correct)",
             "bon": "bon@k (the verifier's top-scored of k samples)",
             "wmaj": "wmaj@k (votes weighted by the verifier's scores)"}
    note = ("Eval accuracy in % against the number of samples k: greedy decoding, "
            + ", ".join(names[m] for m in ms) + ", each with its 95% Wilson interval overall; per group: "
            + " / ".join(f"{m}@k" for m in ms) + ".")
    lines = [note, "", _markdown(header, body) if fmt == "markdown" else _text(header, body), ""]
    costs = [f"iter {r['iteration']}: {cost_line(r)}" for r in rows
             if "eval/score_candidates" in r or "eval/seconds" in r]
    return "\n".join(lines + (costs + [""] if costs else []))


def cost_line(row: dict[str, Any]) -> str:
    """Generation's cost (generated tokens, seconds) beside the verifier's (candidates, forward tokens, seconds)."""
    gen = f"generation {_count(row.get('eval/tokens'))} tokens" + (
        f" in {row['eval/seconds']:.1f} s" if "eval/seconds" in row else "")
    if "eval/score_candidates" not in row:
        return gen
    return (gen + f"; scoring {_count(row['eval/score_candidates'])} candidates, "
            f"{_count(row['eval/score_tokens'])} forward-pass tokens in {row['eval/score_seconds']:.1f} s")


def plot_scaling(rows: Sequence[dict[str, Any]], ks: Sequence[int], title: str = "", x: str = "k") -> bytes:
    """PNG: a panel per group (overall first); per iteration, maj@k (solid, with its 95% band),
    bon@k (dash-dot) and wmaj@k (dotted, thick) where a verifier scored the samples, pass@k
    (dashed), and greedy accuracy (dotted), against k on a log scale (`x="k"`) or against the
    generated tokens per problem (`x="tokens"`: k times a sampled attempt's mean length)."""
    ks = sorted(ks)
    gs, ms = ["", *row_groups(rows)], _scaled(rows)
    style = {"maj": ("-", 1.5), "bon": ("-.", 1.5), "wmaj": (":", 2.5), "pass": ("--", 1.5)}
    grid: dict[str, list[Line]] = {}
    for g in gs:
        lines = []
        for i, r in enumerate(rows):
            color, it = f"C{i % 10}", r["iteration"]
            xs = [float(k) for k in ks] if x == "k" else [tokens_per_problem(r, k) or 0.0 for k in ks]
            for m in ms:
                band = m == "maj"  # the others' bands would hide maj@k's: the table has their intervals
                lines.append(Line(f"iter {it} {m}@k", xs, [r.get(_key(f"{m}@{k}", g)) for k in ks],
                                  [r.get(_key(f"{m}@{k}_lo", g)) for k in ks] if band else None,
                                  [r.get(_key(f"{m}@{k}_hi", g)) for k in ks] if band else None,
                                  color, *style[m]))
            lines.append(Line(f"iter {it} greedy", xs, [r.get(_key("accuracy", g))] * len(ks), color=color, style=":",
                              width=1))
        grid[g or "overall"] = lines
    xlabel = "samples k" if x == "k" else "generated tokens per problem"
    return plot_panels(grid, xlabel=xlabel, title=title, log2x=True, point_ticks=x == "k")
