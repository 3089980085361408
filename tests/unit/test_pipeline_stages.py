"""algorithm=pipeline without a model: each stage's typed config (the run's, its algorithm
group, its own keys; a later stage on the previous stage's model), the config's refusals
naming the key, the run's one metrics.jsonl (each row once, naming its stage), and the report
over stages: one axis on which a later stage's iteration 0 adds no work, a stage column,
seeds merged per (stage, iteration), and stage folders not reported as runs of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from star import report
from star.config import ConfigError, validate
from star.pipeline import StageRows, stage_config, stage_name
from star.rundir import RunDir, read_jsonl


def typed(*overrides: str):
    from star.task_cli import compose

    return OmegaConf.to_object(compose(list(overrides)))


STAGES = ("algorithm.stages=[{algorithm: grpo, overrides: {algorithm: {steps_per_round: 3}}},"
          " {algorithm: rft, name: sft, overrides: {loop: {iterations: 1}, trainer: {steps: 7}}}]")


def test_a_stage_is_the_run_then_its_algorithm_group_then_its_own_keys():
    cfg = typed("algorithm=pipeline", STAGES, "trainer.lr=0.002", "loop.iterations=3")
    validate(cfg)
    grpo, sft = stage_config(cfg, 0), stage_config(cfg, 1)
    assert [stage_name(cfg, 0), stage_name(cfg, 1)] == ["grpo", "sft"]
    assert (grpo.algorithm.name, grpo.algorithm.steps_per_round, grpo.algorithm.stages) == ("grpo", 3, [])
    assert grpo.loop.iterations == 5  # conf/algorithm/grpo.yaml's rounds: the stage did not set its own
    assert (sft.algorithm.name, sft.loop.rationalize, sft.loop.iterations) == ("star", False, 1)  # rft.yaml, then its keys
    assert sft.trainer.steps == 7 and grpo.trainer.steps == 40
    assert grpo.trainer.lr == sft.trainer.lr == 0.002  # the run's keys reach every stage
    assert grpo.model == cfg.model and grpo.model.cold_start.enabled  # the first stage cold-starts as the run does


def test_a_later_stage_starts_from_the_previous_stages_model(tmp_path):
    model = tmp_path / "start"
    model.mkdir()
    (model / "config.json").write_text("{}")
    cfg = typed("experiment=r1_recipe", "model=smollm2")
    star = stage_config(cfg, 1, model)
    assert star.model.name_or_path == str(model.resolve())
    assert star.model.gguf_file is None and not star.model.cold_start.enabled
    assert (star.algorithm.name, star.loop.iterations) == ("star", 2)


def test_r1_recipe_chains_grpo_then_star():
    cfg = typed("experiment=r1_recipe")
    validate(cfg)
    assert cfg.algorithm.name == "pipeline"
    grpo, star = stage_config(cfg, 0), stage_config(cfg, 1)
    assert (grpo.algorithm.name, grpo.algorithm.steps_per_round, grpo.loop.iterations) == ("grpo", 20, 2)
    assert (star.algorithm.name, star.loop.rationalize, star.loop.iterations) == ("star", True, 2)
    assert star.model == grpo.model == typed().model  # the demo's model and cold start


@pytest.mark.parametrize("overrides,message", [
    (["algorithm=pipeline", "algorithm.stages=[]"], "needs algorithm.stages"),
    (["algorithm.stages=[{algorithm: grpo}]"], "stages run under algorithm=pipeline"),
    (["algorithm=pipeline", "algorithm.stages=[{algorithm: dpo}]"], r"algorithm.stages\[0\].algorithm='dpo'"),
    (["algorithm=pipeline", "algorithm.stages=[{algorithm: star}, {algorithm: pipeline}]"], r"stages\[1\].algorithm"),
    (["algorithm=pipeline", "algorithm.stages=[{algorithm: star, name: 'a/b'}]"], "name='a/b'"),
    (["algorithm=pipeline", "algorithm.stages=[{algorithm: star, overrides: {task: {train_size: 5}}}]"],
     r"stages\[0\].overrides.task"),
    (["algorithm=pipeline", "algorithm.stages=[{algorithm: star, overrides: {loop: {iteratons: 2}}}]"],
     r"stages\[0\].overrides.*iteratons"),
    (["algorithm=pipeline", "algorithm.stages=[{algorithm: star, overrides: {loop: {iterations: many}}}]"],
     r"stages\[0\].overrides.*iterations"),
    (["algorithm=pipeline", "algorithm.stages=[{algorithm: star, overrides: {algorithm: {name: pipeline}}}]"],
     r"stages\[0\].overrides.algorithm.name"),
])
def test_pipeline_config_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(typed(*overrides))


def test_a_stage_refused_by_its_algorithm_is_refused_before_any_model_work():
    cfg = typed("algorithm=pipeline", "algorithm.stages=[{algorithm: grpo, overrides: {trainer: {method: full}}}]")
    validate(cfg)  # the stage's own keys type-check ...
    with pytest.raises(ConfigError, match="use trainer=lora"):  # ... and its algorithm's rules apply when it is built
        stage_config(cfg, 0)


# -- the run's one metrics.jsonl ---------------------------------------------------------------------
class Log:
    def __init__(self):
        self.calls = []

    def log(self, metrics, step):
        self.calls.append((dict(metrics), step))


def test_stage_rows_name_their_stage_and_are_appended_once(tmp_path):
    run = RunDir(tmp_path / "run")
    try:
        inner = Log()
        first = StageRows(run, 1, "grpo", [inner], offset=0)
        second = StageRows(run, 2, "star", [inner], offset=2)
        for t in range(3):
            first.log({"iteration": t, "eval/accuracy": t / 10}, t)
        second.log({"iteration": 0, "eval/accuracy": 0.2}, 0)
        second.log({"iteration": 0, "eval/accuracy": 0.2}, 0)  # a resumed iteration logs its row again
        second.log({"iteration": 1, "eval/accuracy": 0.5}, 1)
        rows = read_jsonl(run.metrics_path)
        assert [(r["stage"], r["stage_index"], r["iteration"]) for r in rows] == [
            ("grpo", 1, 0), ("grpo", 1, 1), ("grpo", 1, 2), ("star", 2, 0), ("star", 2, 1)]
        assert [step for _, step in inner.calls] == [0, 1, 2, 2, 2, 3]  # the run-wide step: stages end to end
        assert inner.calls[-1][0]["stage"] == "star"
    finally:
        run.close()


# -- the report over stages --------------------------------------------------------------------------
def chained_rows() -> list[dict]:
    rows = []
    for stage, name, n in ((1, "grpo", 2), (2, "star", 2)):
        for t in range(n + 1):
            acc = 0.3 + 0.1 * len(rows) - (0.1 if t == 0 and stage == 2 else 0)
            r = {"stage": name, "stage_index": stage, "iteration": t, "eval/accuracy": round(acc, 3),
                 "eval/accuracy_lo": 0.0, "eval/accuracy_hi": 1.0, "eval/tokens": 100, "time/eval_s": 1.0}
            if t:
                r |= {"train/tokens": 1000 * stage, "time/train_s": 10.0}
                r |= {"train/reward": 0.5} if name == "grpo" else {"train/solved": 5, "train/rationalized": 1,
                                                                   "train/accepted": 6}
            rows.append(r)
    return rows


def test_the_stages_lie_end_to_end_on_every_axis():
    rows = chained_rows()
    assert report.work(rows) == [0, 1, 2, 2, 3, 4]
    # iteration 0 of stage 2 is stage 1's last model again: neither its eval tokens nor its seconds count twice
    assert report.work(rows, "tokens") == [100, 1200, 2300, 2300, 4400, 6500]
    assert report.work(rows, "seconds") == [1, 12, 23, 23, 34, 45]


def write_run(path: Path, rows: list[dict], config: dict) -> Path:
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "manifest.json").write_text(json.dumps({"results_config": config}))
    return path


def test_a_chained_run_reports_its_stages(tmp_path):
    stages = [{"algorithm": "grpo", "name": None, "overrides": {"loop": {"iterations": 2}}},
              {"algorithm": "star", "name": None, "overrides": {}}]
    chained = write_run(tmp_path / "runs" / "chain", chained_rows(),
                        {"algorithm.name": "pipeline", "algorithm.stages": stages})
    write_run(chained / "stage_1_grpo", chained_rows()[:3], {"algorithm.name": "grpo"})  # its stage folder
    write_run(tmp_path / "runs" / "alone", [{k: v for k, v in r.items() if not k.startswith("stage")}
                                            for r in chained_rows()[3:]], {"algorithm.name": "star"})
    runs = report.load([tmp_path / "runs"])
    assert [r.path.name for r in runs] == ["alone", "chain"]  # the stage folder is part of its run
    assert runs[1].label == "algorithm.name=pipeline algorithm.stages=grpo{loop.iterations=2}+star"
    text = report.render(runs, x="tokens")
    assert "stage: a chained run's stage" in text
    header = next(line.split() for line in text.splitlines() if line.lstrip().startswith("stage"))
    assert header[:4] == ["stage", "iter", "tokens", "overall"] and {"reward", "accepted"} <= set(header)
    lines = [line.split() for line in text.splitlines() if line.lstrip().startswith(("1 grpo", "2 star"))]
    assert [line[:4] for line in lines[2:4]] == [["1", "grpo", "2", "2,300"], ["2", "star", "0", "2,300"]]
    assert report.plot(runs, x="tokens").startswith(b"\x89PNG")


def test_seeds_of_a_chained_run_merge_per_stage_and_iteration(tmp_path):
    stages = [{"algorithm": "grpo"}, {"algorithm": "star"}]
    for seed in (0, 1):
        rows = chained_rows()
        for r in rows:
            r["eval/accuracy"] += seed / 10
        write_run(tmp_path / f"s{seed}", rows, {"algorithm.name": "pipeline", "algorithm.stages": stages, "seed": seed})
    (merged,) = report.load([tmp_path], mean_over=["seed"])
    assert merged.runs == 2 and len(merged.rows) == 6
    assert [(r["stage"], r["stage_index"], r["iteration"]) for r in merged.rows] == [
        ("grpo", 1, 0), ("grpo", 1, 1), ("grpo", 1, 2), ("star", 2, 0), ("star", 2, 1), ("star", 2, 2)]
    first = chained_rows()[4]["eval/accuracy"]
    assert merged.rows[4]["eval/accuracy"] == pytest.approx(first + 0.05)
    assert (merged.rows[4]["eval/accuracy_lo"], merged.rows[4]["eval/accuracy_hi"]) == pytest.approx((first, first + 0.1))
    assert report.work(merged.rows, "tokens") == [100, 1200, 2300, 2300, 4400, 6500]
