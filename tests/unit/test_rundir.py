import json
import os
import subprocess
import sys

import pytest

from star.rundir import (
    RunDir,
    RunDirError,
    append_jsonl,
    atomic_dir,
    atomic_write_jsonl,
    atomic_write_text,
    check_resume,
    config_hash,
    read_jsonl,
)


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    f = tmp_path / "a.txt"
    atomic_write_text(f, "one")
    atomic_write_text(f, "two")
    assert f.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_killed_writer_leaves_old_content(tmp_path):
    f = tmp_path / "rows.jsonl"
    atomic_write_jsonl(f, [{"a": 1}])
    code = (f"import os; from pathlib import Path; import star.rundir as r\n"
            f"orig = os.replace\n"
            f"os.replace = lambda *a: os._exit(9)\n"  # die between write and rename
            f"r.atomic_write_jsonl(Path({str(f)!r}), [{{'a': 2}}])")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert read_jsonl(f) == [{"a": 1}]
    RunDir(tmp_path).close()  # opening the directory sweeps the dead writer's temp file
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".lock")) == ["rows.jsonl"]


def test_append_jsonl_appends_rows(tmp_path):
    f = tmp_path / "m.jsonl"
    append_jsonl(f, {"iteration": 0})
    append_jsonl(f, {"iteration": 1})
    assert [r["iteration"] for r in read_jsonl(f)] == [0, 1]


def test_read_jsonl_names_file_and_line(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"a": 1}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        read_jsonl(f)


def test_atomic_dir_discards_on_error(tmp_path):
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "adapter") as tmp:
        (tmp / "w.bin").write_bytes(b"x")
        raise RuntimeError("crash mid-save")
    assert list(tmp_path.iterdir()) == []


def test_stage_runs_once_then_reads_back(tmp_path):
    from star.types import Example

    rd = RunDir(tmp_path / "run")
    calls = []

    def make(x):
        calls.append(x)
        return [Example(prompt="p", completion=str(x))]

    it = rd.iteration(1)
    first = it.records("train", Example, make, 1)
    again = rd.iteration(1).records("train", Example, make, 2)
    assert first == again == [Example(prompt="p", completion="1")] and calls == [1]
    assert set(it.seconds()) == {"train"}
    assert not it.done
    it.mark_done()
    assert rd.iteration(1).done
    rd.close()


def test_folder_is_built_once_and_atomically(tmp_path):
    rd = RunDir(tmp_path / "run")
    it = rd.iteration(1)
    with pytest.raises(RuntimeError):
        it.folder("adapter", lambda out: (out / "w").write_text("x") and (_ for _ in ()).throw(RuntimeError()))
    assert not (it.path / "adapter").exists()
    it.folder("adapter", lambda out: (out / "w").write_text("1"))
    it.folder("adapter", lambda out: (out / "w").write_text("2"))
    assert (it.path / "adapter" / "w").read_text() == "1"
    rd.close()


def test_run_dir_is_locked(tmp_path):
    rd = RunDir(tmp_path)
    with pytest.raises(RunDirError, match="in use"):
        RunDir(tmp_path)
    rd.close()
    RunDir(tmp_path).close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_run_dir_is_a_clear_error(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(RunDirError, match="cannot write the run directory"):
            RunDir(tmp_path / "run")
    finally:
        tmp_path.chmod(0o700)


def test_unwritable_run_dir_under_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(RunDirError, match="cannot write the run directory"):
        RunDir(tmp_path / "file" / "run")


def test_config_hash_ignores_neutral_keys():
    a = {"seed": 0, "loop": {"iterations": 4, "rationalize": True}, "run_name": "x", "tracker": {"b": []}}
    b = {"seed": 0, "loop": {"iterations": 8, "rationalize": True}, "run_name": "y", "tracker": {"b": ["tb"]}}
    c = {"seed": 0, "loop": {"iterations": 4, "rationalize": False}, "run_name": "x", "tracker": {"b": []}}
    assert config_hash(a) == config_hash(b) != config_hash(c)


def test_resume_with_results_changing_difference_is_refused(tmp_path):
    old = {"seed": 0, "trainer": {"lr": 0.001}}
    check_resume(tmp_path, old, {"config_hash": config_hash(old), "results_config": {"seed": 0, "trainer.lr": 0.001}})
    check_resume(tmp_path, old, {"config_hash": config_hash(old)})  # same config: fine
    new = {"seed": 0, "trainer": {"lr": 0.002}}
    with pytest.raises(RunDirError, match=r"trainer.lr: 0.001 -> 0.002"):
        check_resume(tmp_path, new, {"config_hash": config_hash(new)})
    assert json.loads((tmp_path / "manifest.json").read_text())["config_hash"] == config_hash(old)


def test_a_key_added_later_at_its_old_behavior_keeps_old_runs_resuming_and_merging(tmp_path):
    from star.report import load_run

    before = {"seed": 0, "loop": {"rationalize": True}}  # a run made before loop.voters existed
    now = {"seed": 0, "loop": {"rationalize": True, "voters": 1}}
    assert config_hash(now) == config_hash(before)
    assert config_hash({"seed": 0, "loop": {"rationalize": True, "voters": 3}}) != config_hash(before)
    check_resume(tmp_path, before, {"config_hash": config_hash(before), "results_config": {"seed": 0,
                                                                                       "loop.rationalize": True}})
    check_resume(tmp_path, now, {"config_hash": config_hash(now)})  # resumes
    # a manifest written while the key was hashed (value 1) also resumes, and reports without it
    made = tmp_path / "made"
    made.mkdir()
    check_resume(made, now, {"config_hash": "hashed-with-voters",
                              "results_config": {"seed": 0, "loop.rationalize": True, "loop.voters": 1}})
    check_resume(made, now, {"config_hash": config_hash(now)})
    (made / "metrics.jsonl").write_text("")
    assert load_run(made).config == {"seed": 0, "loop.rationalize": True}
    with pytest.raises(RunDirError, match=r"loop.voters: '<unset>' -> 3"):
        check_resume(tmp_path, {"seed": 0, "loop": {"rationalize": True, "voters": 3}},
                     {"config_hash": config_hash({"seed": 0, "loop": {"voters": 3}})})


def test_atomic_dir_for_caches_keeps_the_first_complete_copy(tmp_path):
    final = tmp_path / "cache" / "model"
    with pytest.raises(RuntimeError):
        with atomic_dir(final, replace=False) as tmp:
            (tmp / "config.json").write_text("half")
            raise RuntimeError("killed mid-write")
    assert not final.exists() and not list(final.parent.iterdir())  # nothing half-written to reuse
    with atomic_dir(final, replace=False) as tmp:
        (tmp / "config.json").write_text("first")
    with atomic_dir(final, replace=False) as tmp:  # a concurrent builder finishing second
        (tmp / "config.json").write_text("second")
    assert (final / "config.json").read_text() == "first" and len(list(final.parent.iterdir())) == 1


@pytest.mark.parametrize("overrides,digest", [([], "6077629d"), (["experiment=paper_arithmetic"], "0d950b58")])
def test_the_demos_config_hash_survives_new_keys(overrides, digest):
    """The demo's and paper_arithmetic's config hashes as they were before this round's keys
    (loop.process_filter, loop.teacher, algorithm.stages, task.validation_size, task.eval_seed,
    the Ray generator keys ...), as commit dce7404 computes them: a new results-changing key needs its behave-as-before value in
    rundir.LATER_KEYS, or every existing run stops resuming and gets a new default name."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from star import config as _schema  # noqa: F401

    with initialize_config_module("star.conf", version_base="1.3"):
        resolved = OmegaConf.to_container(compose("config", overrides=overrides), resolve=True)
    assert config_hash(resolved)[:8] == digest
