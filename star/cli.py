"""Console entry point: `star <command> ...`.

`star run` composes the config with Hydra, turns it into the typed dataclasses of
star.config (`to_config`, as every entry point does), instantiates the task
(`make_task`), opens the run directory, and hands typed values to star.loop.run.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable

log = logging.getLogger("star")

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:function taking argv and returning an exit code, one-line help)
    "run": ("star.cli:run_main", "run the STaR loop (Hydra overrides: task=... model=... -m for sweeps)"),
    "check": ("star.check_cli:main", "check answers in a JSONL file against gold (math, numeric, choice, exact)"),
    "tasks": ("star.task_cli:tasks_main", "list the tasks (conf/task, plus --config-dir DIR) with a description"),
    "task-check": ("star.task_cli:check_main", "validate a task without a model: data, prompts, gold answers"),
    "report": ("star.report_cli:report_main", "per-iteration table and comparison plot over runs or sweeps"),
    "eval": ("star.eval_cli:main", "accuracy vs samples (maj@k, pass@k) for iterations of a run: eval.k=1,4,16"),
    "verifier": ("star.verifier_cli:main", "train a verifier (DPO or ORM) on a run's own samples: --iterations 1-4"),
    "export": ("star.export_cli:main", "a run's accepted examples as a Hugging Face dataset (SFTTrainer-ready) and JSONL"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from star import __version__

        print(f"star {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"star: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    target, _ = COMMANDS[name]
    module, func = target.split(":")
    fn: Callable[[list[str]], int | None] = getattr(importlib.import_module(module), func)
    return int(fn(rest) or 0)


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: star <command> [args]", "", "STaR-style self-improvement of language models.", "", "commands:"]
    lines += [f"  {n:<{width}}  {h}" for n, (_, h) in COMMANDS.items()]
    lines += ["", "Run `star <command> --help` for a command's options."]
    return "\n".join(lines)


# -- star run ------------------------------------------------------------------------------
def algorithms() -> dict[str, Callable]:
    """algorithm.name -> what runs it: (cfg, task, rundir, pool, trackers) -> metrics rows.
    A new algorithm is an entry here and a conf/algorithm/ file (star.grpo imports TRL only
    when it runs). `pipeline` chains the others: each of its stages runs one of them."""
    from star import grpo, loop, pipeline

    table: dict[str, Callable] = {"star": loop.run, "grpo": grpo.run}
    return table | {"pipeline": pipeline.chain(table)}


def run_main(argv: list[str]) -> int:
    import hydra

    from star import config as _schema  # noqa: F401  (registers the schema with Hydra)

    sys.argv = ["star-run", *argv]  # Hydra reads sys.argv; its job name comes from argv[0]

    from star.config import ConfigError
    from star.rundir import RunDirError

    @hydra.main(version_base="1.3", config_path="pkg://star.conf", config_name="config")
    def _main(cfg) -> None:
        try:
            _run(cfg)
        except (ConfigError, RunDirError) as e:  # Hydra would print a traceback; SystemExit it passes on
            raise SystemExit(f"star run: {e}" if isinstance(e, RunDirError) else str(e)) from None

    try:
        _main()
    except SystemExit as e:
        if isinstance(e.code, str):  # a config error's message: print it, not a traceback
            print(e.code, file=sys.stderr)
            return 1
        return int(e.code or 0)
    return 0


def _run(dcfg) -> None:
    """Compose -> typed config -> task -> run directory -> loop. Config errors surface here,
    before any model work."""
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from star.config import make_task, to_config
    from star.models import quiet_libraries
    from star.rundir import RunDir, RunDirError, atomic_write_text, check_resume, config_hash

    cfg = to_config(dcfg)
    quiet_libraries()
    task = make_task(dcfg.task)
    resolved = OmegaConf.to_container(dcfg, resolve=True)
    digest = config_hash(resolved)
    run_name = cfg.run_name or f"{cfg.experiment or Path(cfg.model.name_or_path).name}-{digest[:8]}"
    path = Path(cfg.out_dir) / task.name / run_name
    try:
        rundir = RunDir(path)
        check_resume(path, resolved, _manifest(resolved, digest, cfg))
    except RunDirError as e:
        raise SystemExit(f"star run: {e}") from None
    atomic_write_text(path / "config.yaml", OmegaConf.to_yaml(resolved))
    if HydraConfig.initialized() and HydraConfig.get().mode.name == "MULTIRUN":
        job_dir = Path(HydraConfig.get().sweep.dir) / str(HydraConfig.get().job.num)
        job_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(job_dir / "run_dir.txt", str(path.resolve()) + "\n")
    log.info("run directory: %s", path)

    from star.checkers import CheckPool
    from star.labels import MissingGold
    from star.tasks.data import DataError
    from star.tracking import make_trackers

    run = algorithms()[cfg.algorithm.name]
    trackers = make_trackers(cfg.tracker, path, resolved)
    try:
        with CheckPool(cfg.check.workers, cfg.check.timeout, cfg.check.max_memory_mb) as pool:
            rows = run(cfg, task, rundir, pool, trackers)
    except (DataError, MissingGold) as e:  # bad data: the message names the file, line and key
        raise SystemExit(f"star run: {e}") from None
    finally:
        for tr in trackers:
            tr.close()
        rundir.close()
    if rows:
        log.info("done: eval accuracy %s -> %.3f over %d iterations; metrics in %s",
                 f"{rows[0]['eval/accuracy']:.3f}", rows[-1]["eval/accuracy"], len(rows) - 1,
                 path / "metrics.jsonl")


def _manifest(resolved: dict, digest: str, cfg) -> dict:
    import platform

    import torch
    import transformers

    from star import __version__
    from star.rundir import results_config

    try:
        import peft

        peft_version = peft.__version__
    except ImportError:  # pragma: no cover
        peft_version = None
    return {
        "config_hash": digest, "star_version": __version__, "seed": cfg.seed,
        "python": platform.python_version(), "torch": torch.__version__,
        "transformers": transformers.__version__, "peft": peft_version,
        "command": " ".join(["star", "run", *sys.argv[1:]]),
        "results_config": results_config(resolved),
    }


if __name__ == "__main__":
    sys.exit(main())
