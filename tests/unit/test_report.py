"""star report over small fake run directories and sweep folders (no model), and the parts of
star eval that need no model."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from star import report
from star.report_cli import report_main
from star.rundir import atomic_write_json

PNG = b"\x89PNG\r\n\x1a\n"


def row(t: int, acc: float, groups: dict[str, float], train: tuple[int, int, int] | None = None, **extra) -> dict:
    r = {"iteration": t, "eval/n": 40, "eval/accuracy": acc, "eval/accuracy_lo": acc - 0.1,
         "eval/accuracy_hi": acc + 0.1, **extra}
    for g, v in groups.items():
        r |= {f"eval/n/{g}": 20, f"eval/accuracy/{g}": v, f"eval/accuracy_lo/{g}": v - 0.2,
              f"eval/accuracy_hi/{g}": v + 0.2}
    if train:
        r |= {"train/problems": 50, "train/solved": train[0], "train/rationalized": train[1],
              "train/accepted": train[2]}
    return r


def make_run(path: Path, config: dict, accs: list[float], **extra) -> Path:
    path.mkdir(parents=True)
    rows = [row(t, a, {"digits=1": min(a + 0.1, 1), "digits=2": a / 2},
                None if t == 0 else (10 * t, 3, 10 * t + 3), **extra) for t, a in enumerate(accs)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    atomic_write_json(path / "manifest.json", {"results_config": {"task.seed": 1234, **config}})
    return path


def make_sweep(tmp: Path, jobs: list[tuple[dict, list[float]]]) -> Path:
    """A Hydra multirun folder: <sweep>/<job num>/run_dir.txt naming run dirs elsewhere."""
    sweep = tmp / "multirun" / "2026-11-26_10-00-00"
    for num, (config, accs) in enumerate(jobs):
        run = make_run(tmp / "runs" / "arithmetic" / f"paper-{num:08x}", config, accs)
        (sweep / str(num)).mkdir(parents=True)
        (sweep / str(num) / "run_dir.txt").write_text(str(run.resolve()) + "\n")
    return sweep


# -- one run -------------------------------------------------------------------------------------
def test_text_table_over_a_run_dir(tmp_path):
    run = make_run(tmp_path / "a", {"seed": 0}, [0.2, 0.45, 0.6])
    out = report.render(report.load([run]), "text")
    lines = out.splitlines()
    assert "95% Wilson interval" in lines[0] and "40 eval problems (digits=1: 20, digits=2: 20)" in lines[0]
    header = next(line for line in lines if line.lstrip().startswith("iter"))
    assert header.split() == ["iter", "overall", "digits=1", "digits=2", "solved", "rationalized", "accepted"]
    body = [line.split() for line in lines if line.strip()[:1].isdigit()]
    assert body[0][:3] == ["0", "20.0", "[10.0,"] and body[0][-3:] == ["-", "-", "-"]
    assert body[2][:3] == ["2", "60.0", "[50.0,"] and body[2][-3:] == ["20", "3", "23"]
    assert "digits=1" in header and "70.0 [50.0, 90.0]" in out  # per-group accuracy with its interval


def test_markdown_csv_and_json_formats(tmp_path):
    runs = report.load([make_run(tmp_path / "a", {"seed": 0}, [0.2, 0.4])])
    md = report.render(runs, "markdown")
    assert "| iter | overall | digits=1 | digits=2 | solved | rationalized | accepted |" in md
    assert "| 1 | 40.0 [30.0, 50.0] |" in md
    rows = list(csv.DictReader(io.StringIO(report.render(runs, "csv"))))
    assert [r["iteration"] for r in rows] == ["0", "1"] and rows[1]["eval/accuracy/digits=2"] == "0.2"
    [run] = json.loads(report.render(runs, "json"))
    assert run["label"] == "a" and run["rows"][1]["train/accepted"] == 13


def test_sampled_measures_are_columns_and_can_be_the_main_measure(tmp_path):
    extra = {"eval/maj@4": 0.5, "eval/maj@4_lo": 0.4, "eval/maj@4_hi": 0.6, "eval/maj@4/digits=1": 0.7,
             "eval/pass@4": 0.8, "eval/pass@4_lo": 0.7, "eval/pass@4_hi": 0.9, "eval/pass@1": 0.3}
    runs = report.load([make_run(tmp_path / "a", {}, [0.2, 0.4], **extra)])
    assert report.measures(runs) == ["accuracy", "pass@1", "maj@4", "pass@4"]
    header = next(line for line in report.render(runs).splitlines() if line.lstrip().startswith("iter"))
    assert header.split()[-5:] == ["maj@4", "pass@4", "solved", "rationalized", "accepted"]
    header = next(line for line in report.render(runs, measure="maj@4").splitlines() if line.lstrip().startswith("iter"))
    assert header.split()[:3] == ["iter", "maj@4", "digits=1"] and "accuracy" in header


# -- several runs, sweeps ------------------------------------------------------------------------
def test_report_over_a_multirun_dir_finds_its_runs_in_job_order(tmp_path):
    jobs = [({"seed": s, "loop.rationalize": r}, [0.2, 0.3 + 0.1 * r + 0.01 * s]) for r in (True, False) for s in range(6)]
    sweep = make_sweep(tmp_path, jobs)
    runs = report.load([sweep])
    assert [r.path.name for r in runs] == [f"paper-{n:08x}" for n in range(12)]  # 10 and 11 after 9
    assert runs[0].label == "loop.rationalize=true seed=0" and runs[11].label == "loop.rationalize=false seed=5"
    text = report.render(runs)
    assert text.count("loop.rationalize=") == 12
    # the parent of several sweeps, and a folder of run directories, work too
    assert len(report.load([tmp_path / "multirun"])) == 12 and len(report.load([tmp_path / "runs"])) == 12


def test_a_job_without_metrics_yet_is_skipped(tmp_path, caplog):
    sweep = make_sweep(tmp_path, [({"seed": 0}, [0.1]), ({"seed": 1}, [0.2])])
    (Path((sweep / "1" / "run_dir.txt").read_text().strip()) / "metrics.jsonl").unlink()
    assert len(report.load([sweep])) == 1 and "no metrics.jsonl yet" in caplog.text


def test_mean_over_seeds_merges_runs_with_min_max_brackets(tmp_path):
    jobs = [({"seed": s, "loop.rationalize": r}, [0.2, 0.4 + 0.1 * s] if r else [0.2, 0.3]) for r in (True, False)
            for s in range(3)]
    runs = report.load([make_sweep(tmp_path, jobs)], mean_over=["seed"])
    assert [(r.label, r.runs) for r in runs] == [("loop.rationalize=true (mean of 3)", 3),
                                                ("loop.rationalize=false (mean of 3)", 3)]
    it1 = runs[0].rows[1]
    assert it1["eval/accuracy"] == pytest.approx(0.5) and it1["runs"] == 3
    assert (it1["eval/accuracy_lo"], it1["eval/accuracy_hi"]) == pytest.approx((0.4, 0.6))
    assert it1["train/solved"] == 10
    legend = report.render(runs).splitlines()[0]
    assert "[min, max] over the merged runs" in legend
    assert "40 eval problems (digits=1: 20, digits=2: 20)" in legend  # counts, not means (20.0)


def test_identical_labels_get_the_directory_name(tmp_path):
    a = make_run(tmp_path / "x" / "a", {"seed": 0}, [0.1])
    b = make_run(tmp_path / "y" / "b", {"seed": 0}, [0.2])
    assert [r.label for r in report.load([a, b])] == ["a", "b"]
    c = make_run(tmp_path / "z" / "a", {"seed": 0}, [0.3])
    assert [r.label for r in report.load([a, c])] == ["a [a]", "a [a]"]  # two runs, however named


def test_not_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a run directory"):
        report.find_runs([tmp_path])


# -- figures -------------------------------------------------------------------------------------
def test_plots_compare_runs_and_groups(tmp_path):
    runs = report.load([make_sweep(tmp_path, [({"seed": 0, "loop.rationalize": r}, [0.2, 0.5]) for r in (True, False)])])
    assert report.plot(runs).startswith(PNG)
    assert report.plot(runs, panels="runs").startswith(PNG)


# -- the CLI -------------------------------------------------------------------------------------
def test_report_cli_writes_table_and_png(tmp_path, capsys):
    sweep = make_sweep(tmp_path, [({"seed": 0, "loop.rationalize": r}, [0.2, 0.5]) for r in (True, False)])
    assert report_main([str(sweep), "--format", "markdown", "-o", str(tmp_path / "r.md")]) == 0
    assert "loop.rationalize=false" in (tmp_path / "r.md").read_text()
    assert (tmp_path / "r.png").read_bytes().startswith(PNG)
    assert report_main([str(sweep), "--no-plot"]) == 0 and "loop.rationalize=true" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [(["nowhere"], "neither a run directory"),
                                          (["RUN", "--measure", "maj@8"], "no run measured 'maj@8'")])
def test_report_cli_errors(tmp_path, capsys, args, message):
    run = make_run(tmp_path / "a", {}, [0.1])
    args = [str(run) if a == "RUN" else str(tmp_path / a) if a == "nowhere" else a for a in args]
    assert report_main(args) == 2 and message in capsys.readouterr().err


# -- star eval, up to the model --------------------------------------------------------------------
def test_scaling_table_and_plot():
    r = row(3, 0.5, {"digits=1": 0.9})
    for k, maj, pas in ((1, 0.4, 0.4), (4, 0.55, 0.8)):
        r |= {f"eval/maj@{k}": maj, f"eval/maj@{k}_lo": maj - 0.1, f"eval/maj@{k}_hi": maj + 0.1,
              f"eval/pass@{k}": pas, f"eval/pass@{k}_lo": pas - 0.1, f"eval/pass@{k}_hi": pas + 0.1,
              f"eval/maj@{k}/digits=1": 0.9, f"eval/pass@{k}/digits=1": 0.95}
    text = report.scaling_table([r], [1, 4])
    lines = [line.split() for line in text.splitlines() if line.strip().startswith("3")]
    assert lines[0] == ["3", "greedy", "50.0", "[40.0,", "60.0]", "90.0", "[70.0,", "110.0]"]  # the fake interval is v +- 0.2
    assert lines[2] == ["3", "4", "55.0", "[45.0,", "65.0]", "80.0", "[70.0,", "90.0]", "90.0", "/", "95.0"]
    assert report.plot_scaling([r], [1, 4]).startswith(PNG)


# -- the presets this feature ships ----------------------------------------------------------------
@pytest.mark.parametrize("override", ["eval=greedy", "eval=sampled", "tracker=tensorboard", "tracker=mlflow",
                                      "tracker=wandb", "experiment=paper_arithmetic"])
def test_presets_compose_and_validate(override):
    from omegaconf import OmegaConf

    from star.config import validate
    from star.task_cli import compose

    cfg = OmegaConf.to_object(compose([override]))
    validate(cfg)
    if override == "eval=sampled":
        assert cfg.eval.samples == 8 and cfg.eval.k == [1, 4, 8]
    if override.startswith("tracker="):
        assert cfg.tracker.backends == [override.split("=")[1]]
    if override == "experiment=paper_arithmetic":
        assert cfg.experiment == "paper_arithmetic" and cfg.loop.iterations == 8 and cfg.generator.temperature == 0


def test_reports_name_runs_without_absolute_paths(tmp_path, monkeypatch):
    """A report written into the docs must not carry the paths of the machine that made it."""
    from star.report import shown

    run = tmp_path / "runs" / "arithmetic" / "demo"
    monkeypatch.chdir(tmp_path)
    assert shown(run) == "runs/arithmetic/demo" and shown(run.resolve()) == "runs/arithmetic/demo"
    monkeypatch.chdir(run.parent.parent.parent.parent)  # the run lies below, deeper
    assert not shown(run).startswith("/")
    elsewhere = Path("/somewhere/else/arithmetic/demo")
    assert shown(elsewhere) == "arithmetic/demo"


def test_training_side_measures_per_group(tmp_path):
    """--measure train/pseudo_label_accuracy: the training side's per-group rates as the table."""
    from star.report import load, measures, render

    run = tmp_path / "run"
    run.mkdir()
    rows = [{"iteration": 0, "eval/accuracy": 0.5, "eval/n": 4},
            {"iteration": 1, "eval/accuracy": 0.7, "eval/n": 4, "train/problems": 10, "train/solved": 6,
             "train/rationalized": 0, "train/accepted": 6, "train/pseudo_labeled": 6,
             "train/pseudo_label_accuracy": 0.75, "train/pseudo_label_accuracy/digits=2": 0.9,
             "train/pseudo_label_accuracy/digits=3": 0.5}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs = load([run])
    assert "train/pseudo_label_accuracy" in measures(runs)
    text = render(runs, "markdown", "train/pseudo_label_accuracy")
    assert "| 1 | 75.0 | 90.0 | 50.0 |" in text and "pseudo-labeled" in text and "0.750" in text
