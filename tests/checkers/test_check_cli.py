"""`star check`: JSONL in, JSONL out, summary on stderr; pred read as the tasks read a
completion; 1,000 hostile rows in a row; memory flat across batches."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from checker_cases import STAR_CHECK, star_check_rows
from hostile_inputs import HOSTILE

from star.check_cli import Row, check_rows, main, pred_answer
from star.checkers import CheckPool, get_checker

ROWS = [
    {"id": "a", "gold": "1/2", "pred": "The answer is $0.5$."},
    {"id": "b", "gold": r"\frac{1}{2^{99}}", "pred": r"\frac{1}{2^{98}}"},
    {"gold": "x^2-1", "pred": "(x-1)(x+1)"},
    {"id": 7, "gold": "3", "pred": None},
    {"id": "e", "gold": 42, "pred": 42.0},
]


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_files_in_files_out(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.jsonl"
    assert main([str(_write(tmp_path / "in.jsonl", ROWS)), "-o", str(out), "--workers", "1"]) == 0
    rows = _read(out)
    assert [r["id"] for r in rows] == ["a", "b", 2, 7, "e"]
    assert [r["verdict"] for r in rows] == ["correct", "incorrect", "correct", "incorrect", "correct"]
    assert all(isinstance(r["seconds"], float) and r["seconds"] >= 0 for r in rows)
    err = capsys.readouterr().err
    assert "5 rows: 3 correct, 2 incorrect, 0 unverifiable" in err and "checks/s" in err


def test_stdin_stdout_and_other_checkers(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    rows = [{"gold": "B", "pred": "So the answer is (b)."}, {"gold": "D", "pred": "D"}]
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(json.dumps(r) + "\n" for r in rows)))
    assert main(["--checker", "choice", "--labels", "ABC"]) == 0
    verdicts = [json.loads(line)["verdict"] for line in capsys.readouterr().out.splitlines()]
    assert verdicts == ["correct", "unverifiable"]  # D is no label of ABC: gold unreadable


def test_malformed_rows_are_reported_and_answered(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _write(tmp_path / "in.jsonl", ['{"gold": "1", "pred": "1"}', "not json", '{"pred": "1"}', "", '{"gold": [1], "pred": "1"}'])
    out = tmp_path / "out.jsonl"
    assert main([str(src), "-o", str(out)]) == 1
    rows = _read(out)
    assert [r["verdict"] for r in rows] == ["correct", "unverifiable", "unverifiable", "unverifiable"]
    assert "line 2" in rows[1]["error"] and "line 3" in rows[2]["error"]
    assert "3 malformed" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert main(["--checker", "math", "--labels", "AB"]) == 2
    assert main(["--extract", "boxed,nope"]) == 2
    assert main(["--workers", "0"]) == 2
    assert main([str(tmp_path / "missing.jsonl")]) == 2
    with pytest.raises(SystemExit) as e:
        main(["--checker", "nope"])
    assert e.value.code == 2


def test_pred_is_read_as_the_tasks_read_a_completion(pool: CheckPool) -> None:
    """The table's rows (and STAR_CHECK's) as `star check` judges them: the anchored answer
    of a whole output, a bare answer as itself, nothing from code or prose."""
    extra = {(name, g, p) for name, g, p, _ in STAR_CHECK}
    rows = [r for r in star_check_rows() if pred_answer(r[3]) != r[3] or (r[0], r[2], r[3]) in extra]
    assert len(rows) > 100  # the other rows reach the checker unchanged: test_checker_table's
    groups: dict[tuple, list[int]] = {}
    for i, (name, options, *_rest) in enumerate(rows):
        groups.setdefault((name, tuple(sorted(options.items()))), []).append(i)
    wrong = []
    for (name, options), idx in groups.items():
        pairs = [(rows[i][2], pred_answer(rows[i][3])) for i in idx]
        for i, verdict in zip(idx, pool.check(get_checker(name, **dict(options)), pairs), strict=True):
            if verdict.value != rows[i][4]:
                wrong.append((rows[i], verdict.value))
    assert not wrong


def test_code_prose_and_nan_through_the_command(tmp_path: Path) -> None:
    rows = [  # float("nan") and float("inf") are written as JSON's NaN and Infinity
        {"id": "code", "gold": "0", "pred": "__import__('os').getpid() * 0"},
        {"id": "prose", "gold": "3", "pred": "There are 3 ways."},
        {"id": "anchored", "gold": "3", "pred": "There are 3 ways.\nThe answer is 3."},
        {"id": "bare", "gold": "3", "pred": "3"},
        {"id": "nan", "gold": "nan", "pred": "nan"},
        {"id": "json-nan", "gold": float("nan"), "pred": float("nan")},
        {"id": "json-inf", "gold": float("inf"), "pred": float("inf")},
        {"id": "nan-pred", "gold": "0", "pred": float("nan")},
        {"id": "interval", "gold": r"(-\infty, 3)", "pred": r"$(-\infty, 3)$"},
    ]
    src = _write(tmp_path / "in.jsonl", rows)
    expected = {"code": "incorrect", "prose": "incorrect", "anchored": "correct", "bare": "correct",
                "nan": "unverifiable", "json-nan": "unverifiable", "json-inf": "unverifiable",
                "nan-pred": "incorrect", "interval": "correct"}
    for checker in ("math", "numeric"):
        out = tmp_path / f"{checker}.jsonl"
        assert main([str(src), "-o", str(out), "--checker", checker, "--workers", "1"]) == 0
        got = {r["id"]: r["verdict"] for r in _read(out)}
        if checker == "numeric":  # a gold that mentions infinity states no number
            expected["interval"] = "unverifiable"
        assert got == expected, checker
    # fallbacks only when asked for: the last number of the code's final line, as before
    out = tmp_path / "fallback.jsonl"
    assert main([str(src), "-o", str(out), "--extract", "boxed,answer_is,final_line", "--workers", "1"]) == 0
    got = {r["id"]: r["verdict"] for r in _read(out)}
    assert got["code"] == "correct" and got["prose"] == "correct" and got["nan"] == "unverifiable"


def _hostile_rows(n: int) -> list[dict]:
    """Unique pairs (no dedup shortcut): HOSTILE[i] is the gold when i % 3 == 0, else the
    pred; the other side is the row's number."""
    rows = []
    for k in range(n):
        i = k % len(HOSTILE)
        h = HOSTILE[i]
        gold, pred = (h, str(k)) if i % 3 == 0 else (str(k), h)
        rows.append({"id": k, "gold": gold, "pred": pred})
    return rows


# What `star check --checker math` answers for the hostile rows: unverifiable (screened as
# pathological, or a gold that cannot be read or judged) except for these, incorrect (no
# answer: code, nothing, an unreadable pred; or a wrong one). Never correct.
HOSTILE_INCORRECT = {
    # preds
    r"\sqrt{{{", r"\begin{pmatrix}1 & 2", "", "   \n\t  ", "$" * 100_000, r"\def\a{\a}\a", "1/0",
    r"\infty - \infty", "\x00\x01\x02\x03", "inf", "None", "%" * 1_000, "1e999999", r"\sin(10^{100})",
    "((((((((((x+1)^2)^2)^2)^2)^2)^2)^2)^2)^2)^2",
    "__import__('os').system('echo pwned')", "eval('1+1')", "().__class__.__bases__[0].__subclasses__()",
    "import os; os.system('ls')",
    r"\boxed{5} or " * 5_000 + r"\boxed{6}",  # joined boxes: candidates, each wrong
    # golds (against a number)
    "(lambda: 7)()", "exec('import os')", "{{7*7}}", r"\boxed{" * 100 + "1" + "}" * 100,
    r"\lim_{x \to 0} \frac{\sin x}{x}", r"\sqrt[10^{10}]{2}",
}
# A gold sympy integrates: incorrect, or unverifiable where the check misses its deadline.
HOSTILE_SLOW = {r"\int_0^{\infty} e^{-x^2} dx"}


def test_1000_hostile_rows_through_star_check(tmp_path: Path) -> None:
    """Every row answered in order with its expected verdict, exit 0, no process left behind."""
    assert HOSTILE_INCORRECT | HOSTILE_SLOW <= set(HOSTILE)
    rows_in = _hostile_rows(1000)
    src, out = _write(tmp_path / "in.jsonl", rows_in), tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "star.check_cli", str(src), "-o", str(out), "--workers", "2", "--timeout", "2", "--batch-size", "100"]
    proc = psutil.Popen(cmd, stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    while proc.poll() is None:
        try:
            seen |= {p.pid for p in proc.children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    stderr = proc.stderr.read()
    assert proc.returncode == 0, stderr
    rows = _read(out)
    assert [r["id"] for r in rows] == list(range(1000))
    wrong = []
    for k, row in enumerate(rows):
        hostile = HOSTILE[k % len(HOSTILE)]
        allowed = {"incorrect", "unverifiable"} if hostile in HOSTILE_SLOW else (
            {"incorrect"} if hostile in HOSTILE_INCORRECT else {"unverifiable"})
        if row["verdict"] not in allowed:
            wrong.append((row["id"], hostile[:40], row["verdict"]))
    assert not wrong
    assert "1000 rows" in stderr
    assert seen, "no worker process was seen"  # the check below is not vacuous
    assert all(not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE for pid in seen)


def test_memory_stays_flat_across_batches(pool: CheckPool) -> None:
    """Six batches of 100 hostile rows: the parent's and the workers' memory, measured
    after each batch, grows by less than 20 MB after the first (a leak of a few MB per
    batch fails)."""
    rows = [Row(r["id"], r["gold"], r["pred"]) for r in _hostile_rows(600)]
    me = psutil.Process()
    totals = []
    for out in check_rows(pool, get_checker("math"), rows, batch_size=100):
        assert len(out) == 100
        workers = []
        for pid in pool.pids:
            try:
                workers.append(psutil.Process(pid).memory_info().rss)
            except psutil.NoSuchProcess:  # a worker that has just exited (its memory cap)
                pass
        assert workers  # every batch has pairs for the slow path: the workers are measured too
        totals.append(me.memory_info().rss + sum(workers))
    assert len(totals) == 6
    assert max(totals[1:]) - totals[0] < 20 * 1024 * 1024, [t >> 20 for t in totals]
