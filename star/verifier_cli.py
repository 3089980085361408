"""`star verifier`: train a verifier on a finished run's own training-side samples (star.verifiers).

    star verifier RUN_DIR [--iterations 1-4|1,3|all] [--samples K] [verifier.objective=dpo|orm|prm] [verifier.KEY=VALUE ...]

The pairs are the (correct, incorrect) completions of each training problem in the chosen
iterations' samples.jsonl (and rationalized.jsonl with verifier.hinted=true; default: every
finished iteration >= 1); `--samples K` adds K samples per training problem at
verifier.temperature from the model that wrote each chosen iteration's samples (iteration t:
model t - 1), seeded by (run seed, t - 1, stage) and cached in RUN_DIR/verifier/samples/.
The verifier trains on the run's starting model (the one pinned in manifest.json) and lands
in RUN_DIR/verifier/<objective>-<key>/ (<verifier.name>-<key>/ with a name, to keep recipes
apart); the same command again finds it there. Use it with
`star eval RUN_DIR --verifier <objective, name or folder> eval.k=1,4,16`.

`verifier.objective=prm` trains a process reward model (star.prm): the chosen iterations'
distinct completions of each training problem (verifier.solutions_per_problem of them) are
cut into steps, and verifier.rollouts completions at verifier.temperature from each step
prefix, drawn by the model that wrote the samples, label the steps (verifier.step_label:
soft or hard); the labeled steps are cached in RUN_DIR/verifier/steps/. Where the task
checks its own steps (check_steps), the output gives the rollout labels' and the trained
PRM's step-label accuracy against it, the PRM's on the last chosen iteration's eval
samples (completions it never trained on), with the scoring cost (kept in the PRM's folder,
agreement.json). Use it with `star eval RUN_DIR --beam-search prm` (or --verifier prm).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from star import prm, verifiers
from star.checkers import CheckPool
from star.cold_start import starting_model
from star.config import Config, ConfigError, VerifierConfig, make_task, to_config
from star.identity import cache_key, source_hash, tree_hash
from star.iteration import draw, seed_for
from star.models import load_tokenizer, quiet_libraries
from star.policy import Policy
from star.prompting import render
from star.rundir import (
    RunDir,
    RunDirError,
    atomic_write_json,
    atomic_write_jsonl,
    model_mismatch,
    pinned_model,
    read_jsonl,
)
from star.types import Problem, Sample

log = logging.getLogger("star")
PREFIX = "verifier."


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="star verifier", description=(
        "Train a verifier (V-STaR's DPO, or an outcome reward model) on a run's own checked training samples."))
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="verifier.objective=dpo|orm, verifier.steps=150, verifier.batch_size=16, verifier.beta=1.0, "
                        "verifier.lr=3e-4, verifier.pairs_per_problem=8, verifier.hinted=true ...")
    p.add_argument("--iterations", "-i", default=None,
                   help="the iterations whose samples train it: 1-4, 1,3 or all (default: every finished one >= 1)")
    p.add_argument("--samples", type=int, default=None, metavar="K",
                   help="K extra samples per training problem from the run's models (verifier.samples)")
    args = p.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(levelname)s %(name)s] %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    quiet_libraries()
    run = Path(args.run)
    try:
        cfg, task, vcfg = run_config(run, args.overrides + ([f"verifier.samples={args.samples}"]
                                                            if args.samples is not None else []))
        iterations = chosen(run, args.iterations)
    except (FileNotFoundError, ValueError) as e:
        print(f"star verifier: {e}", file=sys.stderr)
        return 2
    try:
        lock = RunDir(run / verifiers.FOLDER)  # one trainer per run's verifiers; clears a killed one's leftovers
    except RunDirError as e:
        print(f"star verifier: {e}", file=sys.stderr)
        return 2
    try:
        folder, meta = train(run, cfg, task, vcfg, iterations)
        if meta["objective"] == "prm":
            meta = {**meta, "agreement": prm_agreement(run, cfg, task, folder, iterations[-1])}
    except (RunDirError, ValueError) as e:
        print(f"star verifier: {e}", file=sys.stderr)
        return 2
    finally:
        lock.close()
    sys.stdout.write(summary(run, folder, meta))
    return 0


def run_config(run: Path, overrides: list[str]) -> tuple[Config, Any, VerifierConfig]:
    """The run's own config (config.yaml), its task, and the verifier.* overrides, typed."""
    from omegaconf import OmegaConf

    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"{run}: not a run directory (no config.yaml)")
    dotlist = []
    for o in overrides:
        key, sep, _ = o.partition("=")
        if not sep or not key.startswith(PREFIX):
            raise ValueError(f"{o!r}: overrides are verifier.KEY=VALUE (the rest of the config is the run's)")
        dotlist.append(o.removeprefix(PREFIX))
    composed = OmegaConf.load(run / "config.yaml")
    try:
        vcfg = to_config(OmegaConf.from_dotlist(dotlist), VerifierConfig)
    except ConfigError as e:  # the schema names the key without its group
        raise ValueError(str(e).replace("(key: ", f"(key: {PREFIX}")) from None
    try:
        cfg = to_config(composed)
        if vcfg.samples and cfg.loop.labels != "gold":
            raise ConfigError(f"config error: verifier.samples={vcfg.samples} (--samples) judges the extra samples "
                              f"against gold answers, which a loop.labels={cfg.loop.labels} run never saw: train "
                              "on the run's own samples (verifier.samples=0)")
        return cfg, make_task(composed.task), vcfg
    except ConfigError as e:
        raise ValueError(str(e)) from None


def chosen(run: Path, spec: str | None) -> list[int]:
    """1-4, 1,3, all: finished iterations >= 1 (iteration 0 trains nothing)."""
    done = sorted(int(d.name[5:]) for d in run.glob("iter_*") if (d / "DONE").exists() and d.name != "iter_000")
    if not done:
        raise ValueError(f"{run}: no finished STaR iteration (>= 1) yet: nothing has sampled the training problems")
    if spec is None or spec == "all":
        return done
    wanted: list[int] = []
    for part in spec.split(","):
        lo, sep, hi = part.partition("-")
        try:
            wanted += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
        except ValueError:
            raise ValueError(f"--iterations {spec!r}: expected e.g. 1-4, 1,3 or all") from None
    missing = [t for t in wanted if t not in done]
    if missing:
        raise ValueError(f"iteration(s) {missing} not finished in {run} (finished, from 1: {done})")
    return sorted(set(wanted))


def train(run: Path, cfg: Config, task: Any, vcfg: VerifierConfig, iterations: list[int]) -> tuple[Path, dict]:
    """Data (the run's samples of training problems, plus extra ones), key, folder, training."""
    with CheckPool(cfg.check.workers, cfg.check.timeout, cfg.check.max_memory_mb) as pool:
        base, digest = run_model(run, cfg, task, pool)
        problems = task.load("train")
        prompts = training_prompts(task, problems, load_tokenizer(base, cfg.model))
        if vcfg.objective == "prm":
            return train_prm(run, cfg, task, vcfg, iterations, pool, base, digest, problems, prompts)
        samples = verifiers.run_samples(run, iterations, vcfg.hinted)
        if vcfg.samples:
            samples += extra_samples(run, cfg, task, pool, base, digest, iterations, problems, vcfg)
    seed = seed_for(cfg.seed, 0, "verifier")
    cands = verifiers.candidates(samples, prompts, vcfg.hinted)
    made = verifiers.pairs(cands, prompts, vcfg.pairs_per_problem, seed)
    key = verifiers.verifier_key(vcfg, iterations, made, digest, seed)
    folder = verifiers.folder_for(run, vcfg, key)
    stats = verifiers.data_stats(cands, made)
    log.info("verifier data: %d pairs from %d of %d training problems (%d correct, %d incorrect distinct "
             "completions; iterations %s) -> %s", stats["pairs"], stats["problems_with_pairs"], len(problems),
             stats["correct"], stats["incorrect"], ",".join(map(str, iterations)), folder)
    meta = {"key": key, "iterations": iterations, "base": {"hash": digest, "path": str(base)}, "data": stats,
            "labels": cfg.loop.labels, "run": str(run.resolve())}
    verifiers.build(folder, base, made, vcfg, cfg.model, seed, meta)
    return folder, verifiers.info(folder)


def train_prm(run: Path, cfg: Config, task: Any, vcfg: VerifierConfig, iterations: list[int], pool: Any, base: Path,
              digest: str, problems: list[Problem], prompts: dict[str, str]) -> tuple[Path, dict]:
    """A process reward model: each chosen iteration t's distinct completions of training
    problems (those of no earlier chosen iteration), their steps labeled by rollouts from
    model t - 1 (soft labels, cached per iteration in RUN/verifier/steps/<settings>/; hard
    ones are derived from them), then trained."""
    seed = seed_for(cfg.seed, 0, "verifier")
    delimiter = verifiers.step_delimiter(task)
    by_id = {p.id: p for p in problems}
    policy = Policy(base, cfg, run)
    gen_prompts = {p.id: render(task.prompt(p), policy.tokenizer) for p in problems}
    manifest = json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").is_file() else {}
    key = cache_key({"run": manifest.get("config_hash"), "base": digest, "rollouts": vcfg.rollouts,
                     "temperature": vcfg.temperature, "hinted": vcfg.hinted,  # soft labels: hard ones follow
                     "per_problem": vcfg.solutions_per_problem, "samples": vcfg.samples, "delimiter": delimiter,
                     "generator": asdict(cfg.generator), "problems": [p.id for p in problems],
                     "code": source_hash("star.prm")})
    cache = run / verifiers.FOLDER / "steps" / f"n{vcfg.rollouts}-T{vcfg.temperature:g}-{key[:8]}"
    cache.mkdir(parents=True, exist_ok=True)
    made: list[prm.StepExample] = []
    seen: set[tuple[str, str]] = set()
    cost = {"completions": 0, "tokens": 0, "seconds": 0.0}
    for t in iterations:
        samples = verifiers.run_samples(run, [t], vcfg.hinted)
        if vcfg.samples:
            samples += extra_samples(run, cfg, task, pool, base, digest, [t], problems, vcfg)
        sols = []
        for s in prm.solutions(verifiers.candidates(samples, prompts, vcfg.hinted), gen_prompts, prompts,
                               vcfg.solutions_per_problem, seed):
            if (s.problem_id, " ".join(s.completion.split())) not in seen:
                seen.add((s.problem_id, " ".join(s.completion.split())))
                sols.append(s)
        f = cache / f"iter_{t:03d}.jsonl"
        if not f.is_file():
            log.info("iteration %d: %d completions' steps labeled by %d rollouts per step prefix from model %d at "
                     "T=%g", t, len(sols), vcfg.rollouts, t - 1, vcfg.temperature)
            generator = prm.Counting(policy.generator(t - 1))
            rows = prm.rollout_labels(generator, task, pool, by_id, sols, n=vcfg.rollouts,
                                      temperature=vcfg.temperature, seed=seed_for(cfg.seed, t - 1, "prm-rollouts"),
                                      max_new_tokens=cfg.generator.max_new_tokens,
                                      delimiter=delimiter, desc=f"rollouts {t}")
            atomic_write_json(f.with_suffix(".cost.json"), generator.cost())  # before the rows, as cached_scores
            atomic_write_jsonl(f, [e.to_dict() for e in rows])
        rows = [prm.StepExample.from_dict(r) for r in read_jsonl(f)]
        made += [prm.hardened(e) for e in rows] if vcfg.step_label == "hard" else rows
        c = f.with_suffix(".cost.json")
        for k, v in (json.loads(c.read_text()) if c.is_file() else {}).items():
            cost[k] = round(cost[k] + v, 3)
    policy.release()
    key = verifiers.verifier_key(vcfg, iterations, made, digest, seed)
    folder = verifiers.folder_for(run, vcfg, key)
    labels = [x for e in made for x in e.labels]
    agreement = prm.label_agreement(task, by_id, made)
    stats = {"solutions": len(made), "steps": len(labels), "problems": len({e.problem_id for e in made}),
             "mean_label": round(sum(labels) / len(labels), 4) if labels else None, "rollouts": cost,
             "label_agreement": agreement.to_dict() if agreement else None}
    log.info("prm data: %d steps of %d completions of %d training problems (mean label %s; rollouts: %d tokens in "
             "%.1f s; iterations %s) -> %s", stats["steps"], stats["solutions"], stats["problems"],
             stats["mean_label"], cost["tokens"], cost["seconds"], ",".join(map(str, iterations)), folder)
    meta = {"key": key, "iterations": iterations, "base": {"hash": digest, "path": str(base)}, "data": stats,
            "labels": cfg.loop.labels, "run": str(run.resolve()), "delimiter": delimiter}
    verifiers.build(folder, base, made, vcfg, cfg.model, seed, meta)
    return folder, verifiers.info(folder)


def prm_agreement(run: Path, cfg: Config, task: Any, folder: Path, t: int) -> dict[str, Any] | None:
    """The trained PRM's step-label accuracy against the task's check_steps on iteration t's
    eval samples (distinct completions; problems it never trained on) and its cost, computed
    once into the PRM's folder (agreement.json). None where the task has no check_steps."""
    if not callable(getattr(task, "check_steps", None)):
        return None
    f = folder / "agreement.json"
    if f.is_file():
        return json.loads(f.read_text())
    meta = verifiers.info(folder)
    src = run / f"iter_{t:03d}" / "eval.jsonl"
    if not src.is_file():
        return None
    by_id = {p.id: p for p in task.load(cfg.eval.split)}
    seen, chosen = set(), []
    for s in (Sample.from_dict(r) for r in read_jsonl(src)):
        if s.problem_id in by_id and (s.problem_id, s.completion) not in seen and s.completion.strip():
            seen.add((s.problem_id, s.completion))
            chosen.append(s)
    scorer = verifiers.load(folder, Path(meta["base"]["path"]), cfg.model, meta["base"]["hash"])
    a = prm.step_agreement(task, by_id, [s.train_prompt for s in chosen], [s.completion for s in chosen],
                           [s.problem_id for s in chosen], scorer)
    out = {**a.to_dict(), "source": str(src.relative_to(run))}
    atomic_write_json(f, out)
    return out


def run_model(run: Path, cfg: Config, task: Any, pool: Any) -> tuple[Path, str]:
    """The run's starting model and its content hash: the folder manifest.json pins, while it
    holds the pinned content (no cold start to redo after an unrelated code change), else the
    one this machine builds, refused when its content is not the pinned one."""
    pinned = pinned_model(run, "starting_model")
    if pinned is not None and Path(pinned["path"]).is_dir() and tree_hash(Path(pinned["path"])) == pinned["hash"]:
        return Path(pinned["path"]), pinned["hash"]
    base = Path(starting_model(cfg.model, task, cfg.seed, pool))
    digest = tree_hash(base)
    if pinned is not None and pinned["hash"] != digest:
        raise RunDirError(model_mismatch(run, "starting_model", pinned, digest, base))
    return base, digest


def training_prompts(task: Any, problems: list[Problem], tokenizer: Any) -> dict[str, str]:
    """Each training problem's training prompt, rendered as star.attempts renders it."""
    own = getattr(task, "train_prompt", None)
    return {p.id: render(own(p) if own else task.prompt(p), tokenizer) for p in problems}


def extra_samples(run: Path, cfg: Config, task: Any, pool: Any, base: Path, digest: str, iterations: list[int],
                  problems: list[Problem], vcfg: VerifierConfig) -> list[Sample]:
    """verifier.samples more samples per training problem at verifier.temperature, from the
    model that wrote iteration t's samples (t - 1), cached per settings in RUN/verifier/samples/."""
    manifest = json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").is_file() else {}
    key = cache_key({"run": manifest.get("config_hash"), "base": digest, "k": vcfg.samples,
                     "temperature": vcfg.temperature, "generator": asdict(cfg.generator),
                     "problems": [p.id for p in problems]})
    folder = run / verifiers.FOLDER / "samples" / f"k{vcfg.samples}-T{vcfg.temperature:g}-{key[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    policy, out = Policy(base, cfg, run), []
    for t in iterations:
        f = folder / f"iter_{t:03d}.jsonl"
        if not f.is_file():
            log.info("iteration %d: %d extra samples per training problem from model %d at T=%g", t, vcfg.samples,
                     t - 1, vcfg.temperature)
            rows = draw(cfg, task, pool, policy, t - 1, problems, "verifier-samples", n=vcfg.samples,
                        temperature=vcfg.temperature)
            atomic_write_jsonl(f, [s.to_dict() for s in rows])
        out += [Sample.from_dict(r) for r in read_jsonl(f)]
    policy.release()
    return out


def summary(run: Path, folder: Path, meta: dict) -> str:
    """What was trained, on what, and how long it took beside one STaR iteration's training."""
    data, trained = meta["data"], meta["train"]
    its = meta["iterations"]
    if meta["objective"] == "prm":
        return prm_summary(folder, meta)
    star_s = [json.loads(s.read_text()).get("adapter") for t in its
              if (s := run / f"iter_{t:03d}" / "seconds.json").is_file()]
    star_s = [s for s in star_s if s is not None]
    log_f = folder / "train_log.json"
    acc = json.loads(log_f.read_text()).get("pair_accuracy_last10") if log_f.is_file() else None
    return (f"verifier {folder.name} ({meta['objective']}): {data['pairs']} pairs from {data['problems_with_pairs']} "
            f"training problems of iterations {','.join(map(str, its))}; {trained['steps']} steps in "
            f"{trained['seconds']:.1f} s"
            + (f" (a STaR iteration's training: {min(star_s):.1f}-{max(star_s):.1f} s)" if star_s else "")
            + (f"; pair accuracy over the last steps {acc:.2f}" if isinstance(acc, float) else "")
            + f"\n{folder}\n")


def prm_summary(folder: Path, meta: dict) -> str:
    """The PRM's data, training, and step-label accuracy against the task's own step check."""
    data, trained = meta["data"], meta["train"]
    r = data["rollouts"]
    lines = [f"verifier {folder.name} (prm): {data['steps']} steps of {data['solutions']} completions of "
             f"{data['problems']} training problems of iterations {','.join(map(str, meta['iterations']))}, mean "
             f"label {data['mean_label']}; rollouts {r['completions']} completions, {r['tokens']} tokens in "
             f"{r['seconds']:.1f} s; {trained['steps']} steps of training in {trained['seconds']:.1f} s"]
    la, a = data.get("label_agreement"), meta.get("agreement")
    if la:
        lines.append(f"rollout labels vs the task's check_steps: accuracy {la['accuracy']} (balanced "
                     f"{la.get('balanced_accuracy')}) over {la['steps']} steps ({la['true_steps']} right; "
                     f"{la['unaligned']} of {la['completions']} completions unaligned)")
    if a:
        lines.append(f"PRM step-label accuracy vs the task's check_steps on {a['source']}: {a['accuracy']} (balanced "
                     f"{a.get('balanced_accuracy')}) over {a['steps']} steps ({a['true_steps']} right; {a['unaligned']} of {a['completions']} "
                     f"completions unaligned); scoring {a['seconds']:.2f} s, {a['tokens']} forward-pass tokens")
    elif a is None:
        lines.append("no PRM step-label accuracy: the task has no check_steps, or the iteration no eval samples")
    return "\n".join(lines) + f"\n{folder}\n"
