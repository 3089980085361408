"""`star eval`: accuracy against the number of samples (maj@k, pass@k; bon@k and wmaj@k with a
verifier) for iterations of a run.

    star eval RUN_DIR [--iterations 0,4|all] [--verifier NAME] [eval.k=1,4,16] [eval.temperature=0.7] [key=value ...]

It measures the test-time-compute scaling of a run's models: for each chosen iteration it
loads that iteration's weights as the loop does (star.policy.Policy), samples n = max(k)
attempts per eval problem at `eval.temperature` (plus the greedy one) with the loop's own
eval stage and seeds, and reports maj@k and pass@k for every k, overall and per group,
with 95% intervals, as a table and a figure. Its files go to
`RUN_DIR/eval_k/<settings>-<hash>/`, where the hash covers every key that can change the
samples or their verdicts (the run's results-changing config with the overrides): samples
per iteration are reused only by a later call with the same settings. metrics.jsonl is
never touched. Overrides may change the eval.*, generator.* and check.* keys of the run's
config, and task.* keys that leave the training pool and the worked examples as they are
(a fresh eval set: `task.eval_seed=1`), nothing that would change which model an iteration is.

`--verifier` (a folder, a folder name under RUN_DIR/verifier/, or an objective when the run
has one verifier of it: `star verifier`) scores every sampled attempt once (star.verifiers;
kept in `<settings>/scores/<verifier>/iter_NNN.jsonl` with its cost) and adds best-of-k and
verifier-weighted majority (star.evaluation) to the rows, the table and the figures, whose
files are then named `scaling-<verifier>.*`. The scoring cost (candidates, forward-pass
tokens, seconds) is reported beside generation's (generated tokens, and seconds where this
call or an earlier one generated the samples).

`--beam-search NAME` (a process reward model of the run: `star verifier RUN_DIR
verifier.objective=prm`) adds step-level beam search (star.prm.beam_search): per eval
problem, `--beam-width` beams, each expanded by `--expansions` candidate next steps sampled
at eval.temperature up to the task's step delimiter, the top beams by the PRM's score kept,
until an answer. Its results are kept in `<settings>/beam/<prm>-B<width>-n<expansions>/`;
its accuracy and generated tokens per problem join the rows (eval/beam_*), and a table
puts it beside maj@k, pass@k (and bon@k with --verifier) at k samples' generated tokens
(k x a sample's mean length): the same axis (beam-<prm>.md/json).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from star import evaluation, prm, report, verifiers
from star.checkers import CheckPool
from star.cold_start import starting_model
from star.config import (
    CheckConfig,
    Config,
    ConfigError,
    EvalConfig,
    GeneratorConfig,
    make_task,
    to_config,
)
from star.identity import tree_hash
from star.iteration import Evaluation, seed_for
from star.models import quiet_libraries
from star.plots import to_csv
from star.policy import Policy
from star.prompting import render
from star.rundir import (
    RunDirError,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    config_hash,
    model_mismatch,
    pinned_model,
    read_jsonl,
)
from star.types import Sample, Verdict

log = logging.getLogger("star")
# task.* too, as long as the training side stays the run's (a fresh eval set: task.eval_seed=1)
OVERRIDABLE = ("eval.", "generator.", "check.", "task.")
# list-typed keys of the overridable sections (read off the schema: eval.k today), which a
# single value may be given for: eval.k=1 is [1]
LIST_KEYS = tuple(f"{section}.{f.name}" for section, schema in
                  (("eval", EvalConfig), ("generator", GeneratorConfig), ("check", CheckConfig))
                  for f in fields(schema) if str(f.type).startswith("list"))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="star eval", description=(
        "Accuracy against the number of samples (maj@k, pass@k) for chosen iterations of a run."))
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="eval.k=1,4,16 (default), eval.temperature=0.7, eval.max_problems=200, generator.batch_size=64")
    p.add_argument("--iterations", "-i", default=None,
                   help="comma-separated iterations, or all (default: the first and the last finished)")
    p.add_argument("--format", "-f", choices=("text", "markdown"), default="text")
    p.add_argument("--verifier", "-v", default=None, metavar="NAME",
                   help="rank the samples with a verifier of the run (star verifier): adds bon@k and wmaj@k")
    p.add_argument("--beam-search", "-b", default=None, metavar="PRM",
                   help="step-level beam search guided by a process reward model of the run (star verifier "
                        "verifier.objective=prm): adds beam accuracy at its generated tokens")
    p.add_argument("--beam-width", type=int, default=4, metavar="B", help="beams kept per problem (default 4)")
    p.add_argument("--expansions", type=int, default=4, metavar="N",
                   help="candidate next steps drawn per beam (default 4)")
    p.add_argument("--max-steps", type=int, default=32, help="steps per beam at most (default 32)")
    args = p.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(levelname)s %(name)s] %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    quiet_libraries()  # as star run: our progress bars, not the libraries' chatter
    run = Path(args.run)
    try:
        cfg, task = run_config(run, args.overrides)
        iterations = finished(run, args.iterations)
        verifier = verifiers.resolve(run, args.verifier) if args.verifier else None
        beam = None
        if args.beam_search:
            beam = Search(verifiers.resolve(run, args.beam_search), args.beam_width, args.expansions, args.max_steps)
            if verifiers.info(beam.prm)["objective"] != "prm":
                raise ValueError(f"--beam-search {args.beam_search}: {beam.prm.name} is not a process reward model "
                                 "(train one: star verifier RUN verifier.objective=prm)")
            if min(args.beam_width, args.expansions, args.max_steps) < 1:
                raise ValueError("--beam-width, --expansions and --max-steps must be >= 1")
    except (FileNotFoundError, ValueError) as e:
        print(f"star eval: {e}", file=sys.stderr)
        return 2
    try:
        rows, out = scaling(run, cfg, task, iterations, verifier, beam)
    except (RunDirError, ValueError) as e:  # the run's starting model is not the one this machine builds
        print(f"star eval: {e}", file=sys.stderr)
        return 2
    name = f"scaling-{verifier.name}" if verifier else "scaling"
    title = f"{run.name}: {out.name}" + (f", verifier {verifier.name}" if verifier else "")
    atomic_write_json(out / f"{name}.json", rows)
    atomic_write_text(out / f"{name}.csv", to_csv(rows))
    atomic_write_text(out / f"{name}.md", report.scaling_table(rows, cfg.eval.k, "markdown"))
    atomic_write_bytes(out / f"{name}.png", report.plot_scaling(rows, cfg.eval.k, title=title))
    atomic_write_bytes(out / f"{name}_tokens.png", report.plot_scaling(rows, cfg.eval.k, title=title, x="tokens"))
    sys.stdout.write(report.scaling_table(rows, cfg.eval.k, args.format))
    print(f"files: {out}/{name}.{{json,csv,md,png}}, {name}_tokens.png", file=sys.stderr)
    if beam is not None:
        table = beam_rows(rows, cfg.eval.k)
        bname = f"beam-{beam.name()}"
        atomic_write_json(out / f"{bname}.json", table)
        atomic_write_text(out / f"{bname}.md", beam_table(table, "markdown", beam))
        atomic_write_bytes(out / f"{bname}.png", beam_figure(table, f"{run.name}: {out.name}, {beam.name()}"))
        sys.stdout.write(beam_table(table, args.format, beam))
        print(f"files: {out}/{bname}.{{json,md,png}}", file=sys.stderr)
    return 0


class Search:
    """--beam-search: the PRM's folder and the search's settings."""

    def __init__(self, prm_folder: Path, width: int, expansions: int, max_steps: int):
        self.prm, self.width, self.expansions, self.max_steps = prm_folder, width, expansions, max_steps

    def name(self) -> str:
        return f"{self.prm.name}-B{self.width}-n{self.expansions}" + (
            f"-s{self.max_steps}" if self.max_steps != 32 else "")


def beam_rows(rows: list[dict[str, Any]], ks: list[int]) -> list[dict[str, Any]]:
    """Per iteration: beam search's accuracy at its generated tokens per problem, and each
    sampling strategy's at k samples' tokens (k x a sample's mean length), on one axis."""
    out = []
    for r in rows:
        if "eval/beam_accuracy" not in r:
            continue
        per = r.get("eval/sample_tokens")
        out.append({"iteration": r["iteration"], "strategy": "beam", "tokens": r["eval/beam_tokens"],
                    "accuracy": r["eval/beam_accuracy"], "interval": r.get("eval/beam_accuracy_ci")})
        for k in sorted(ks):
            for m in ("maj", "pass", "bon", "wmaj"):
                if f"eval/{m}@{k}" in r:
                    out.append({"iteration": r["iteration"], "strategy": f"{m}@{k}",
                                "tokens": round(k * per, 1) if per else None, "accuracy": r[f"eval/{m}@{k}"],
                                "interval": r.get(f"eval/{m}@{k}_ci")})
    return out


def beam_figure(table: list[dict[str, Any]], title: str) -> bytes:
    """Accuracy against generated tokens per problem: a curve per sampling strategy over k, beam
    search a point, a panel per iteration."""
    from star.plots import Line, plot_panels

    panels: dict[str, list[Line]] = {}
    for t in sorted({x["iteration"] for x in table}):
        mine = [x for x in table if x["iteration"] == t and x["tokens"] is not None]
        lines = []
        for m in ("maj", "pass", "bon", "wmaj", "beam"):
            pts = sorted((x["tokens"], x["accuracy"]) for x in mine if x["strategy"].split("@")[0] == m)
            if pts:
                lines.append(Line("beam search" if m == "beam" else f"{m}@k", [a for a, _ in pts],
                                  [b for _, b in pts], style=":" if m == "beam" else "-",
                                  width=3 if m == "beam" else 1.5))
        panels[f"iteration {t}"] = lines
    return plot_panels(panels, xlabel="generated tokens per problem", title=title, log2x=True, point_ticks=False)


def beam_table(table: list[dict[str, Any]], fmt: str, beam: Search) -> str:
    """The beam table: strategy, generated tokens per problem, accuracy, sorted by tokens."""
    head = (f"\nStep-level beam search ({beam.prm.name}: width {beam.width}, {beam.expansions} expansions per beam) "
            "against sampling at k samples' generated tokens per eval problem; accuracy in %.\n\n")
    rows = sorted(table, key=lambda x: (x["iteration"], x["tokens"] if x["tokens"] is not None else 0))
    body = [(str(x["iteration"]), x["strategy"], "" if x["tokens"] is None else f"{x['tokens']:.0f}",
             f"{100 * x['accuracy']:.1f}") for x in rows]
    if fmt == "markdown":
        lines = ["| iter | strategy | tokens | accuracy |", "|---|---|---|---|"]
        lines += [f"| {' | '.join(b)} |" for b in body]
    else:
        w = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(("iter", "strategy", "tokens", "acc"))]
        lines = ["  ".join(h.ljust(w[i]) for i, h in enumerate(("iter", "strategy", "tokens", "acc")))]
        lines += ["  ".join(c.ljust(w[i]) for i, c in enumerate(b)) for b in body]
    return head + "\n".join(lines) + "\n"


def beam_eval(out: Path, beam: Search, cfg: Config, task: Any, pool: Any, problems: list, policy: Policy,
              scorer: Any, t: int) -> dict[str, Any]:
    """Iteration t's beam search over the eval problems (searched once, kept), its accuracy,
    generated tokens per problem and the PRM's scoring cost."""
    f = out / "beam" / beam.name() / f"iter_{t:03d}.jsonl"
    cost_f = f.with_suffix(".cost.json")
    if not f.is_file():
        s = scorer()
        before = s.cost()
        t0 = time.perf_counter()
        own = getattr(task, "train_prompt", None)
        results = prm.beam_search(
            policy.generator(t), s.score, task, problems, [render(task.prompt(p), policy.tokenizer) for p in problems],
            [render(own(p) if own else task.prompt(p), policy.tokenizer) for p in problems], width=beam.width,
            expansions=beam.expansions, temperature=cfg.eval.temperature, seed=seed_for(cfg.seed, t, "beam-search"),
            delimiter=s.delimiter, max_steps=beam.max_steps, max_new_tokens=cfg.generator.max_new_tokens,
            desc=f"beam {t}")
        after = s.cost()
        f.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cost_f, {"seconds": round(time.perf_counter() - t0, 3),
                                   **{f"score_{k}": round(after[k] - before[k], 3) for k in after}})
        atomic_write_jsonl(f, [r.to_dict() for r in results])
    results = read_jsonl(f)
    verdicts = pool.check(task.checker, [(p.answer, r["pred"]) for p, r in zip(problems, results, strict=True)],
                          problems)
    n = len(problems)
    right = sum(v is Verdict.CORRECT for v in verdicts)
    cost = json.loads(cost_f.read_text()) if cost_f.is_file() else {}
    return {"eval/beam_accuracy": right / n if n else 0.0, "eval/beam_accuracy_ci": list(evaluation.wilson(right / n, n)) if n else None,
            "eval/beam_tokens": round(sum(r["tokens"] for r in results) / max(n, 1), 3),
            "eval/beam_finished": sum(r["finished"] for r in results) / max(n, 1),
            **{f"eval/beam_{k}": v for k, v in cost.items()}}


def run_config(run: Path, overrides: list[str]) -> tuple[Config, Any]:
    """The run's own config (config.yaml) with eval/generator/check overrides, typed; the task."""
    from omegaconf import OmegaConf

    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"{run}: not a run directory (no config.yaml)")
    dotlist = ["eval.k=[1,4,16]"]
    for o in overrides:
        key, sep, value = o.partition("=")
        if not sep or not key.startswith(OVERRIDABLE):
            raise ValueError(f"{o!r}: overrides are KEY=VALUE for the keys under {', '.join(OVERRIDABLE)} "
                             "(the rest of the config is the run's)")
        # eval.k=1,4,16 reads as a list, as a Hydra sweep value would; eval.k=1 as a list of one
        as_list = ("," in value or key in LIST_KEYS) and not value.startswith("[")
        dotlist.append(f"{key}=[{value}]" if as_list else o)
    if not any(o.startswith("eval.samples=") for o in overrides):  # n = max(k), unless asked for more
        ks = OmegaConf.from_dotlist(dotlist).eval.k
        dotlist.append(f"eval.samples={max(ks) if ks else 0}")
    original = OmegaConf.load(run / "config.yaml")
    composed = OmegaConf.merge(original, OmegaConf.from_dotlist(dotlist))
    try:
        cfg = to_config(composed)
        if not cfg.eval.k:
            raise ConfigError("eval.k is empty: give the numbers of samples to compare, e.g. eval.k=1,4,16")
        task = make_task(composed.task)
        if composed.task != original.task and _training_side(task) != _training_side(make_task(original.task)):
            raise ConfigError("config error: the task.* overrides change the training problems or the worked "
                              "examples, so the run's models were not trained on this task; only keys that "
                              "leave them as they are (e.g. task.eval_seed) may change")
        return cfg, task
    except ConfigError as e:
        raise ValueError(str(e)) from None


def _training_side(task: Any) -> str:
    """A fingerprint of what trained the run's models: the STaR pool and the worked examples."""
    rows = [p.to_dict() for p in task.load("train")] + [[p.to_dict(), c] for p, c in task.seed_rationales()]
    return json.dumps(rows, sort_keys=True, default=str)


def settings_dir(run: Path, cfg: Config) -> Path:
    """RUN_DIR/eval_k/<split>-T<temperature>-n<samples>[-m<max>]-<hash of every results-changing key>."""
    e = cfg.eval
    name = f"{e.split}-T{e.temperature:g}-n{e.samples}" + (f"-m{e.max_problems}" if e.max_problems else "")
    relevant = {k: v for k, v in asdict(cfg).items() if k not in ("eval",)}
    relevant["eval"] = {k: v for k, v in asdict(e).items() if k != "k"}  # k is computed from the samples
    return run / "eval_k" / f"{name}-{config_hash(relevant)[:8]}"


def finished(run: Path, spec: str | None) -> list[int]:
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


def scaling(run: Path, cfg: Config, task: Any, iterations: list[int],
            verifier: Path | None = None, beam: Search | None = None) -> tuple[list[dict[str, Any]], Path]:
    """Eval records per iteration (sampled once per settings, reused), and their maj@k/pass@k
    rows; with a verifier, its scores of the sampled records (scored once, reused) and
    bon@k/wmaj@k, with the cost of scoring and of generation."""
    e = cfg.eval
    out = settings_dir(run, cfg)
    out.mkdir(parents=True, exist_ok=True)
    problems = task.load(e.split)[: e.max_problems]
    rows = []
    with CheckPool(cfg.check.workers, cfg.check.timeout, cfg.check.max_memory_mb) as pool:
        pinned = pinned_model(run, "starting_model")
        if pinned is not None and Path(pinned["path"]).is_dir() and tree_hash(Path(pinned["path"])) == pinned["hash"]:
            base, digest = Path(pinned["path"]), pinned["hash"]  # the pinned model itself: no cold start to redo
        else:
            base = Path(starting_model(cfg.model, task, cfg.seed, pool))
            digest = tree_hash(base)
            if pinned is not None and pinned["hash"] != digest:
                raise RunDirError(model_mismatch(run, "starting_model", pinned, digest, base))
        policy, evaluate = Policy(base, cfg, run), Evaluation(cfg, task, pool, problems)
        scorer: list[verifiers.Scorer] = []  # loaded on the first iteration whose scores are not cached

        def load_scorer() -> verifiers.Scorer:
            if not scorer:
                policy.release()  # the generator's model goes before the verifier's comes
                scorer.append(verifiers.load(verifier, base, cfg.model, digest))
            return scorer[0]

        guide: list[verifiers.Scorer] = []  # the beam search's PRM, loaded beside the generator

        def load_guide() -> verifiers.Scorer:
            if not guide:
                guide.append(verifiers.load(beam.prm, base, cfg.model, digest))
            return guide[0]

        for t in iterations:
            f = out / f"iter_{t:03d}.jsonl"
            if not f.exists():
                log.info("iteration %d: %d eval problems x (greedy + %d samples at T=%g)", t, len(problems),
                         e.samples, e.temperature)
                t0 = time.perf_counter()
                rows_t = [s.to_dict() for s in evaluate.attempts(policy, t)]
                atomic_write_json(out / f"iter_{t:03d}.seconds.json", {"eval": round(time.perf_counter() - t0, 2)})
                atomic_write_jsonl(f, rows_t)
            records = [Sample.from_dict(r) for r in read_jsonl(f)]
            row: dict[str, Any] = {"iteration": t}
            scores = None
            if verifier is not None:
                sampled = [s for s in records if s.index > 0]
                scores, cost = verifiers.cached_scores(out / "scores" / verifier.name / f"iter_{t:03d}.jsonl",
                                                       sampled, load_scorer, desc=f"score {t}")
                row |= {f"eval/score_{k}": v for k, v in cost.items()}
            row |= evaluation.accuracy(problems, records, task, pool, e.k, scores)
            sampled_tokens = [s.tokens for s in records if s.index > 0]
            if sampled_tokens:  # a sampled attempt's mean length: the tokens axis of the figure
                row["eval/sample_tokens"] = round(sum(sampled_tokens) / len(sampled_tokens), 3)
            timing = out / f"iter_{t:03d}.seconds.json"
            if timing.is_file():
                row["eval/seconds"] = json.loads(timing.read_text())["eval"]
            if beam is not None:
                row |= beam_eval(out, beam, cfg, task, pool, problems, policy, load_guide, t)
            rows.append(row)
            log.info("iteration %d: greedy %.3f | %s", t, row["eval/accuracy"],
                     " ".join(f"{m}@{k} {row[f'eval/{m}@{k}']:.3f}" for k in e.k
                              for m in ("maj", "pass", "bon", "wmaj") if f"eval/{m}@{k}" in row)
                     + (f" | beam {row['eval/beam_accuracy']:.3f} at {row['eval/beam_tokens']:.0f} tokens"
                        if "eval/beam_accuracy" in row else ""))
    return rows, out
