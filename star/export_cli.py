"""`star export`: a run's accepted rationales as a Hugging Face dataset, for any other trainer.

    star export RUN_DIR [--iteration 3|all] [--out DIR]

Every STaR iteration writes the examples it trained on (`iter_NNN/train.jsonl`: the
training prompt, the accepted completion, the problem, whether a hint produced it). This
command turns them into data another trainer reads as is:

    DIR/dataset/        `datasets.Dataset.save_to_disk`: `prompt`, `completion` (the
                        prompt-completion format TRL's SFTTrainer trains with loss on the
                        completion only, as star does), and the columns below
    DIR/messages/       the same rows as chat `messages` (user turn(s), assistant turn)
    DIR/examples.jsonl  one row per example with every column, `messages` included
    DIR/metadata.json   the run, its config hash, the iterations, the row count

Columns beside the text: `problem_id`, `group` (the task's groups, `digits=3`), `verdict`
(`correct`: only accepted rows are exported), `hinted` (a rationalized row: the hint is in
no prompt), `iteration` (whose train.jsonl), and `model`, the model that wrote the row:
the starting model's content hash plus the weights of iteration t - 1 that generated it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from star.evaluation import group_names
from star.rundir import atomic_dir, atomic_write_json, atomic_write_jsonl, pinned_model, read_jsonl
from star.types import Example

log = logging.getLogger("star")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="star export", description=(
        "Write a run's accepted examples (train.jsonl of each iteration) as a Hugging Face dataset "
        "(save_to_disk, prompt/completion and chat messages) and JSONL."))
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("--iteration", "-i", default="all", help="an iteration number, or all (default)")
    p.add_argument("--out", "-o", default=None, help="output folder (default: RUN_DIR/export[-<iteration>])")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(levelname)s %(name)s] %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    run = Path(args.run)
    try:
        iterations = chosen(run, args.iteration)
        rows = export_rows(run, iterations)
    except (FileNotFoundError, ValueError) as e:
        print(f"star export: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else run / ("export" if args.iteration == "all" else f"export-{args.iteration}")
    write(out, rows, run, iterations)
    print(f"{len(rows)} examples from iterations {iterations} -> {out}", file=sys.stderr)
    return 0


def chosen(run: Path, spec: str) -> list[int]:
    """Finished iterations >= 1 with a train.jsonl: all of them, or the one asked for."""
    done = sorted(int(d.name[5:]) for d in run.glob("iter_*")
                  if (d / "DONE").exists() and (d / "train.jsonl").exists())
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"{run}: not a run directory (no config.yaml)")
    if spec == "all":
        if not done:
            raise ValueError(f"{run}: no finished STaR iteration with accepted examples (train.jsonl)")
        return done
    t = int(spec)
    if t not in done:
        raise ValueError(f"{run}: iteration {t} is not a finished STaR iteration (finished: {done})")
    return [t]


def export_rows(run: Path, iterations: list[int]) -> list[dict[str, Any]]:
    """One row per accepted example of the chosen iterations, with its problem's groups, the
    chat messages of its training prompt and the model that wrote it."""
    from omegaconf import OmegaConf

    from star.config import make_task

    task = make_task(OmegaConf.load(run / "config.yaml").task)
    problems = {p.id: p for p in task.load("train")}
    start = (pinned_model(run, "starting_model") or {}).get("hash", "unpinned")
    lora = (run / "iter_001" / "adapter").exists() or not (run / "iter_001" / "model").exists()
    own = getattr(task, "train_prompt", None)
    rows = []
    for t in iterations:
        weights = _weights(run, t - 1, "adapter" if lora else "model")
        for e in (Example.from_dict(r) for r in read_jsonl(run / f"iter_{t:03d}" / "train.jsonl")):
            problem = problems.get(e.problem_id)
            if problem is None:
                raise ValueError(f"{run}/iter_{t:03d}/train.jsonl: problem {e.problem_id!r} is not in the task's "
                                 "training split (the task's config or code changed since the run)")
            shown = own(problem) if own else task.prompt(problem)
            turns = list(shown) if not isinstance(shown, str) else [{"role": "user", "content": shown}]
            rows.append({"prompt": e.prompt, "completion": e.completion,
                         "messages": [*turns, {"role": "assistant", "content": e.completion}],
                         "problem_id": e.problem_id, "group": " ".join(group_names(task, problem)),
                         "verdict": "correct", "hinted": e.hinted, "iteration": t,
                         "model": f"{start}+{weights}"})
    return rows


def _weights(run: Path, t: int, name: str) -> str:
    """The weights that generated iteration t + 1's samples: iteration t's (an iteration that
    accepted nothing kept the one before), or the starting model's own."""
    while t > 0:
        if not (run / f"iter_{t:03d}" / name / "EMPTY").exists():
            return f"iter_{t:03d}/{name}"
        t -= 1
    return "starting_model"


def write(out: Path, rows: list[dict[str, Any]], run: Path, iterations: list[int]) -> None:
    from datasets import Dataset

    manifest = json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").exists() else {}
    meta = {"run": str(run.resolve()), "config_hash": manifest.get("config_hash"), "iterations": iterations,
            "rows": len(rows), "starting_model": manifest.get("models", {}).get("starting_model"),
            "columns": {"prompt": "the training prompt (hint-free, as star trained on it)",
                        "completion": "the accepted rationale", "messages": "chat form of the same",
                        "model": "<starting model hash>+<weights that generated the row>"}}
    flat = [{k: v for k, v in r.items() if k != "messages"} for r in rows]
    with atomic_dir(out) as tmp:
        Dataset.from_list(flat).save_to_disk(str(tmp / "dataset"))
        Dataset.from_list([{k: v for k, v in r.items() if k not in ("prompt", "completion")} for r in rows]
                          ).save_to_disk(str(tmp / "messages"))
        atomic_write_jsonl(tmp / "examples.jsonl", rows)
        atomic_write_json(tmp / "metadata.json", meta)
