"""`star tasks` and `star task-check`: list the task plugins, and validate one without any model.

    star tasks [--config-dir DIR]
    star task-check task=NAME [task.key=value ...] [--config-dir DIR] [--workers N] [--timeout S]
    star task-check --cold-start task=NAME [model=... model.key=value seed=N ...]

The registry is the `task` config group: every `conf/task/*.yaml` shipped with star, plus
those under `DIR/task/` for each `--config-dir DIR` (Hydra's own flag, as in `star run`).
Configs are composed with Hydra's compose API from the same primary config as `star run`,
so overrides and config dirs mean exactly what they mean there.

`task-check` instantiates the task, loads the training split and the eval split, counts
problems and skipped bad rows, prints one prompt and its hinted version, and checks with
the task's own checker (in a CheckPool, as the loop does) that every gold answer is
accepted, that the answer extracted from each row's worked solution (`meta["solution"]`,
where the data carry one) is accepted against the gold, and that every seed rationale's
answer is accepted against its problem's gold. It also checks that each hinted prompt
differs from the plain one. Exit status 0 when all pass, 1 when anything fails (the
failing rows are listed), 2 on a config error (also one raised while the task is built: a
value of the wrong type, an unknown `+task.` key, a `_target_` that cannot be imported).

`--cold-start` then runs the cold start alone for the composed config (model, task, seed),
through the same `cold_start.starting_model` as `star run`, so it fills the cache a later
`star run` with that config reuses (or reuses what is there), and prints the probe curve
per group (step, overall, each group), whether the target was reached, and the levers if
not: whether a task will learn, in minutes. A target not reached exits 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("star")
MAX_LISTED = 50  # failing rows printed in full; the rest are counted


# -- composing, as `star run` does ------------------------------------------------------------
def _searchpath(config_dirs: Sequence[str]) -> list[str]:
    if not config_dirs:
        return []
    dirs = ",".join(f"file://{Path(d).resolve()}" for d in config_dirs)
    return [f"hydra.searchpath=[{dirs}]"]


def compose(overrides: Sequence[str], config_dirs: Sequence[str] = ()) -> Any:
    """The composed config (a DictConfig) for `overrides`, with `config_dirs` on the search path."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from star import config as _schema  # noqa: F401  (registers the schema with Hydra)

    with initialize_config_module("star.conf", version_base="1.3"):
        return hydra_compose("config", overrides=[*_searchpath(config_dirs), *overrides])


def task_names(config_dirs: Sequence[str] = ()) -> list[str]:
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from star import config as _schema  # noqa: F401

    with initialize_config_module("star.conf", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        return sorted(loader.get_group_options("task", config_name="config",
                                               overrides=_searchpath(config_dirs)))


def _config_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config-dir", "-cd", action="append", default=[], metavar="DIR",
                   help="an extra config directory holding task/<name>.yaml (repeatable)")


# -- star tasks -----------------------------------------------------------------------------
def tasks_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="star tasks", description="List the tasks (the conf/task config group).")
    _config_dir_arg(p)
    args = p.parse_intermixed_args(argv)
    rows = []
    for name in task_names(args.config_dir):
        origin = next((d for d in args.config_dir if (Path(d) / "task" / f"{name}.yaml").is_file()), "built-in")
        rows.append((name, _describe(compose([f"task={name}"], args.config_dir).task), origin))
    width = max((len(n) for n, _, _ in rows), default=0)
    for name, description, origin in rows:
        print(f"{name:<{width}}  {description}" + ("" if origin == "built-in" else f"  [{origin}]"))
    return 0


def _describe(task_cfg: Any) -> str:
    """The task class's one-line `description`, read without instantiating it (that may
    need data files)."""
    from hydra.utils import get_class

    from star.config import quiet_hydra

    target = task_cfg.get("_target_")
    if not target:
        return "(no _target_ in the config)"
    try:
        with quiet_hydra():
            cls = get_class(target)
    except Exception as e:  # an out-of-tree module not on PYTHONPATH, a typo in _target_
        return f"(cannot import {target}: {_cause(e)})"
    description = getattr(cls, "description", None)
    return description if isinstance(description, str) and description else f"({target})"


# -- star task-check --------------------------------------------------------------------------
@dataclass
class Failure:
    check: str
    problem: str
    detail: str


@dataclass
class Report:
    failures: list[Failure] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def fail(self, check: str, problem: str, detail: str) -> None:
        self.failures.append(Failure(check, problem, detail))

    def say(self, line: str = "") -> None:
        self.lines.append(line)


def check_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="star task-check",
        description="Validate a task without any model: load its splits, show a prompt and a hinted "
                    "prompt, and check every gold answer (and worked solution) with its own checker.")
    p.add_argument("overrides", nargs="*", help="Hydra overrides: task=NAME task.key=value ...")
    _config_dir_arg(p)
    p.add_argument("--workers", type=int, default=2, help="checker worker processes (default 2)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per check (default 5)")
    p.add_argument("--cold-start", action="store_true",
                   help="then run the cold start for the composed config (model, task, seed), as `star run` "
                        "would and into the same cache, and print its probe curve per group")
    args = p.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s %(name)s] %(message)s", stream=sys.stderr)
    try:
        cfg = compose(args.overrides, args.config_dir)
    except Exception as e:
        print(f"star task-check: config error: {_cause(e)}", file=sys.stderr)
        return 2
    from star.config import ConfigError, make_task, to_config

    try:
        typed = to_config(cfg) if args.cold_start else None
        if typed is not None and not typed.model.cold_start.enabled:
            raise ConfigError("config error: --cold-start with model.cold_start.enabled=false: there is no "
                              "cold start to run (set model.cold_start.enabled=true)")
        task = make_task(cfg.task)  # quiet about Hydra's own "Error getting class" log
    except ConfigError as e:
        print(f"star task-check: {e}", file=sys.stderr)
        return 2
    from star.checkers import CheckPool

    with CheckPool(args.workers, args.timeout) as pool:
        report = check_task(task, pool, eval_split=cfg.eval.split)
        print("\n".join(report.lines))
        if report.failures:
            print(f"\nFAILED: {len(report.failures)} failing row(s)")
            for f in report.failures[:MAX_LISTED]:
                print(f"  [{f.check}] {f.problem}: {f.detail}")
            if len(report.failures) > MAX_LISTED:
                print(f"  ... and {len(report.failures) - MAX_LISTED} more")
            return 1
        print("\nOK")
        if typed is None:
            return 0
        return run_cold_start(typed, task, pool)


def run_cold_start(cfg: Any, task: Any, pool: Any) -> int:
    """`--cold-start`: the cold start `star run` would make (or its cached result), and its
    probe curve; 0 when the target was reached (or there is none), 1 when not."""
    from star import cold_start
    from star.models import quiet_libraries

    quiet_libraries()
    cs = cfg.model.cold_start
    print(f"\n--- cold start (model {cfg.model.name_or_path}, seed {cfg.seed}) ---")
    out = cold_start.starting_model(cfg.model, task, cfg.seed, pool)
    metrics = cold_start.summary(out)
    print(f"model: {out}")
    if cs.target is None:
        print(f"no target (model.cold_start.target=null): trained {metrics.get('cold_start/steps', 0)} steps, "
              "no probe")
        return 0
    curve = cold_start.history(out)
    print("\n".join(probe_table(curve)))
    reached = metrics.get("cold_start/reached", False)
    print(f"\ntarget {cs.target:g} ({cs.measure}) {'reached' if reached else 'NOT reached'} after "
          f"{metrics.get('cold_start/steps', 0)} steps (cap: model.cold_start.train.steps={cs.train.steps})")
    if reached:
        return 0
    print(f"Levers: {cold_start.LEVERS}.")
    return 1


def probe_table(curve: Sequence[dict[str, float]]) -> list[str]:
    """The probe curve as aligned rows: step, overall, then each group."""
    if not curve:
        return ["(no probe measured)"]
    columns = ["step", "overall", *(k for k in curve[0] if k not in ("step", "overall"))]
    widths = [max(len(c), 7) for c in columns]
    rows = ["  ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))]
    for point in curve:
        cells = [str(int(point["step"]))] + [f"{point[c]:.3f}" if c in point else "-" for c in columns[1:]]
        rows.append("  ".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    return rows


def check_task(task: Any, pool: Any, eval_split: str = "eval") -> Report:
    """Everything `star task-check` verifies, as a report (lines to print, failures)."""
    from star.types import Task

    r = Report()
    if not isinstance(task, Task):
        missing = [a for a in ("name", "description", "checker", "stop", "load", "prompt", "extract_answer",
                               "groups", "max_new_tokens", "seed_rationales") if not hasattr(task, a)]
        r.fail("protocol", type(task).__name__, f"not a Task: missing {', '.join(missing)}")
        return r
    r.say(f"task {task.name} ({type(task).__module__}.{type(task).__qualname__}): {task.description}")
    r.say(f"checker: {getattr(task.checker, 'name', type(task.checker).__name__)}")
    splits: dict[str, list] = {}
    for split in dict.fromkeys(("train", eval_split)):
        try:
            splits[split] = task.load(split)
        except Exception as e:  # DataError lists bad rows by file and line
            r.fail("load", split, _cause(e))
            continue
        gold = sum(bool(p.answer) for p in splits[split])
        r.say(f"{split}: {len(splits[split])} problems, {gold} with a gold answer"
              + (" (loop.labels=majority trains without gold; loop.labels=gold needs it for every one)"
                 if gold < len(splits[split]) else ""))
        if not splits[split]:
            r.fail("load", split, "the split is empty")
    bad = task.bad_rows() if callable(getattr(task, "bad_rows", None)) else []
    r.say(f"bad rows skipped: {len(bad)}" + "".join(f"\n  {b}" for b in bad[:10])
          + (f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""))
    problems = [p for ps in splits.values() for p in ps]
    if "train" in splits and eval_split != "train" and eval_split in splits:
        overlap = {p.question for p in splits["train"]} & {p.question for p in splits[eval_split]}
        if overlap:
            r.say(f"warning: {len(overlap)} {eval_split} question(s) also appear in the training split")
    if problems:
        _show_prompts(task, problems[0], r)
    _check_hints(task, problems, r)
    _check_answers(task, problems, pool, r)
    return r


def _show_prompts(task: Any, problem: Any, r: Report) -> None:
    r.say(f"\n--- prompt ({problem.id}) ---\n{_display(task.prompt(problem))}")
    r.say(f"--- hinted prompt (hint: {problem.answer}) ---\n{_display(task.prompt(problem, hint=problem.answer))}")
    r.say("--- end ---")


def _display(prompt: Any) -> str:
    """Text as is; chat messages as role-tagged blocks (no tokenizer here to apply a template)."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"[{m['role']}]\n{m['content']}" for m in prompt)


def _check_hints(task: Any, problems: Sequence[Any], r: Report) -> None:
    """A hinted prompt must differ from the plain one, and hinting must leave no trace in
    the plain prompt (the loop trains on the plain one)."""
    bad, longest = 0, 0
    for p in (p for p in problems if p.answer):
        plain = task.prompt(p)
        longest = max(longest, len(_display(plain)))
        if task.prompt(p, hint=p.answer) == plain:
            r.fail("hint", p.id, "the hinted prompt is identical to the plain one")
            bad += 1
        elif task.prompt(p) != plain:
            r.fail("hint", p.id, "the plain prompt changed after a hinted one was built")
            bad += 1
    # Characters, not tokens (no tokenizer here); the embedded tiny model reads bytes and
    # has 1024 positions, which few-shot prompts exceed.
    r.say(f"longest prompt: {longest} characters")
    r.say(f"hinted prompts differ from plain ones: {len(problems) - bad}/{len(problems)}")


def _check_answers(task: Any, problems: Sequence[Any], pool: Any, r: Report) -> None:
    from star.types import Verdict

    cases: list[tuple[str, str, str, str | None]] = []  # (check, problem id, gold, pred)
    for p in (p for p in problems if p.answer):  # a training row may have no gold (loop.labels=majority)
        cases.append(("gold", p.id, p.answer, p.answer))
        solution = p.meta.get("solution") if isinstance(p.meta, dict) else None
        if solution:
            cases.append(("solution", p.id, p.answer, task.extract_answer(solution)))
    try:
        seeds = task.seed_rationales()
    except Exception as e:
        r.fail("seed", "seed_rationales()", _cause(e))
        seeds = []
    cases += [("seed", p.id, p.answer, task.extract_answer(c)) for p, c in seeds]
    verdicts = pool.check(task.checker, [(gold, pred) for _, _, gold, pred in cases]) if cases else []
    names = {"gold": "gold answers accepted by the checker",
             "solution": "worked solutions' answers accepted against the gold",
             "seed": "seed rationales' answers accepted against the gold"}
    for check, label in names.items():
        rows = [(c, v) for c, v in zip(cases, verdicts, strict=True) if c[0] == check]
        if not rows and check != "gold":
            continue
        for (_, pid, gold, pred), v in rows:
            if v is not Verdict.CORRECT:
                r.fail(check, pid, f"gold {gold!r}, answer {pred!r}: {v.value}")
        r.say(f"{label}: {sum(v is Verdict.CORRECT for _, v in rows)}/{len(rows)}")


def _cause(e: BaseException) -> str:
    while e.__cause__ is not None:
        e = e.__cause__
    return f"{type(e).__name__}: {e}"
