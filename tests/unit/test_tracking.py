"""Trackers: jsonl-derived files always; TensorBoard, MLflow and W&B only when selected,
offline, and a clear error naming the extra when one is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest

from star.config import ConfigError, TrackerConfig
from star.plots import Line, plot_panels
from star.rundir import append_jsonl
from star.tracking import make_trackers, mlflow_key

CONFIG = {"seed": 0, "task": {"name": "arithmetic"}, "tracker": {"backends": [], "project": "star-test"}}
ROWS = [{"iteration": 0, "eval/accuracy": 0.25, "eval/accuracy_lo": 0.1, "eval/accuracy_hi": 0.4,
         "eval/accuracy/digits=1": 0.5, "eval/maj@4": 0.3, "train/loss": None},
        {"iteration": 1, "eval/accuracy": 0.5, "eval/accuracy_lo": 0.3, "eval/accuracy_hi": 0.7,
         "eval/accuracy/digits=1": 0.75, "eval/maj@4": 0.6, "train/loss": 0.4, "train/solved": 3}]


def log_rows(tmp_path: Path, backends: list[str]) -> None:
    trackers = make_trackers(TrackerConfig(project="star-test", backends=backends), tmp_path, CONFIG)
    for row in ROWS:
        append_jsonl(tmp_path / "metrics.jsonl", row)
        for tr in trackers:
            tr.log(row, row["iteration"])
    for tr in trackers:
        tr.close()


def test_run_files_are_rebuilt_from_metrics_jsonl(tmp_path):
    log_rows(tmp_path, [])
    csv = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(csv) == 3 and "eval/accuracy" in csv[0] and "train/solved" in csv[0]
    assert (tmp_path / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_panels_draws_a_grid_with_bands():
    png = plot_panels({f"digits={d}": [Line("run", [0, 1], [0.1, None], [0.0, None], [0.2, None])]
                       for d in range(1, 6)}, title="t")
    assert png[:4] == b"\x89PNG"


def test_optional_trackers_are_not_imported_unless_selected(tmp_path):
    code = ("import sys; from pathlib import Path; from star.tracking import make_trackers; "
            f"from star.config import TrackerConfig; make_trackers(TrackerConfig(), Path({str(tmp_path)!r}), {{}}); "
            "print([m for m in ('torch.utils.tensorboard', 'tensorboard', 'mlflow', 'wandb') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_backend_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown.*tensorboard, mlflow, wandb"):
        make_trackers(TrackerConfig(project="star-test", backends=["neptune"]), tmp_path, CONFIG)


@pytest.mark.parametrize("backend,module", [("tensorboard", "torch.utils.tensorboard"), ("mlflow", "mlflow.tracking"),
                                            ("wandb", "wandb")])
def test_missing_extra_names_the_install_command(tmp_path, monkeypatch, backend, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ConfigError, match=rf"tracker={backend} needs the {backend} extra.*pip install 'star\[{backend}\]'"):
        make_trackers(TrackerConfig(project="star-test", backends=[backend]), tmp_path, CONFIG)


def test_mlflow_keys_are_valid_names():
    assert mlflow_key("eval/maj@8_lo/digits=3") == "eval/maj_at_8_lo/digits_3"


# -- the real libraries, where installed ----------------------------------------------------------
@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                    reason="the tensorboard extra is not installed (pip install 'star[tensorboard]')")
def test_tensorboard_writes_event_files_in_the_run_dir(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log_rows(tmp_path, ["tensorboard"])
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("eval/accuracy")] == [(0, 0.25), (1, 0.5)]
    assert [e.step for e in acc.Scalars("eval/maj@4")] == [0, 1]
    assert [e.step for e in acc.Scalars("train/loss")] == [1]  # None is not a scalar


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None,
                    reason="the mlflow extra is not installed (pip install 'star[mlflow]')")
def test_mlflow_logs_to_a_local_sqlite_store_and_resumes_the_same_run(tmp_path):
    from mlflow.tracking import MlflowClient

    log_rows(tmp_path, ["mlflow"])
    run_id = (tmp_path / "mlflow_run_id").read_text().strip()
    make_trackers(TrackerConfig(project="star-test", backends=["mlflow"]), tmp_path, CONFIG)[1].close()  # a resume reopens the same run
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    history = client.get_metric_history(run_id, "eval/accuracy")
    assert [(m.step, m.value) for m in history] == [(0, 0.25), (1, 0.5)]
    assert client.get_run(run_id).data.params["seed"] == "0"
    assert len(client.search_runs([client.get_experiment_by_name("star-test").experiment_id])) == 1


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None,
                    reason="the wandb extra is not installed (pip install 'star[wandb]')")
def test_wandb_offline_writes_under_the_run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    log_rows(tmp_path, ["wandb"])
    assert list((tmp_path / "wandb").glob("offline-run-*"))


# -- the integration code, with stand-ins for libraries that are not installed -------------------
def test_mlflow_tracker_against_a_stand_in(tmp_path, monkeypatch):
    calls: list[tuple] = []

    class Client:
        def __init__(self, tracking_uri):
            calls.append(("uri", tracking_uri))

        def get_experiment_by_name(self, name):
            return None

        def create_experiment(self, name, artifact_location):
            calls.append(("experiment", name, artifact_location))
            return "1"

        def create_run(self, exp_id, run_name):
            calls.append(("run", exp_id, run_name))
            return types.SimpleNamespace(info=types.SimpleNamespace(run_id="r1"))

        def update_run(self, run_id, status):
            calls.append(("resume", run_id, status))

        def log_param(self, run_id, key, value):
            calls.append(("param", key, value))

        def log_batch(self, run_id, metrics):
            calls.append(("metrics", run_id, {m.key: (m.value, m.step) for m in metrics}))

        def set_terminated(self, run_id):
            calls.append(("end", run_id))

    metric = lambda key, value, timestamp, step: types.SimpleNamespace(key=key, value=value, step=step)  # noqa: E731
    monkeypatch.setitem(sys.modules, "mlflow", types.ModuleType("mlflow"))
    monkeypatch.setitem(sys.modules, "mlflow.tracking", types.SimpleNamespace(MlflowClient=Client))
    monkeypatch.setitem(sys.modules, "mlflow.entities", types.SimpleNamespace(Metric=metric))
    log_rows(tmp_path, ["mlflow"])
    assert calls[0] == ("uri", f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}")
    assert ("experiment", "star-test", (tmp_path.resolve() / "mlflow-artifacts").as_uri()) in calls
    assert ("param", "seed", "0") in calls and ("param", "task.name", "arithmetic") in calls
    logged = [c for c in calls if c[0] == "metrics"]
    assert logged[1][2]["eval/maj_at_4"] == (0.6, 1) and logged[1][2]["eval/accuracy/digits_1"] == (0.75, 1)
    assert "train/loss" not in logged[0][2] and calls[-1] == ("end", "r1")
    calls.clear()
    make_trackers(TrackerConfig(project="star-test", backends=["mlflow"]), tmp_path, CONFIG)  # a resume: the same run, no new params
    assert ("resume", "r1", "RUNNING") in calls and not any(c[0] in ("run", "param") for c in calls)


def test_wandb_tracker_against_a_stand_in(tmp_path, monkeypatch):
    inits, logs = [], []

    def init(**kw):
        inits.append(kw)
        return types.SimpleNamespace(log=lambda m, step: logs.append((step, m)), finish=lambda: logs.append("end"))

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    log_rows(tmp_path, ["wandb"])
    [kw] = inits
    assert kw["mode"] == "offline" and kw["dir"] == str(tmp_path) and kw["resume"] == "allow"
    assert kw["project"] == "star-test" and len(kw["id"]) == 16 and kw["config"]["seed"] == 0
    assert logs[1][0] == 1 and logs[1][1]["eval/maj@4"] == 0.6 and logs[-1] == "end"
