"""Splits: held-out marking of eval and validation problems, the validation split, and the
cold-start seed rows carved out of a benchmark's training split.

By content (the question), an eval problem marked held out is never in the STaR pool or the
cold-start seeds, and a validation problem marked held out in none of those nor in eval;
groups with room are all held out. Adding the validation split left every existing
problem as it was (pinned hashes of the demo's and paper_arithmetic's splits), and the
evaluation reports the accuracy over the held-out problems where some are not.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest
from task_helpers import ROOT, TASK_CONFIGS, build_task

from star.evaluation import HELD_OUT, accuracy, held_out
from star.tasks import splits
from star.tasks.data import DataError
from star.tasks.gsm8k import GSM8K
from star.types import Problem, Sample, Verdict

LETTER_COUNT = str(ROOT / "examples" / "letter_count" / "conf")
# Every generated task, at its defaults and at the settings the figures were made with.
GENERATED = {
    "demo": ["task=arithmetic"],
    "paper_arithmetic": ["task=arithmetic", "experiment=paper_arithmetic"],
    "smoke": ["task=arithmetic_small", "experiment=smoke"],  # what experiment=smoke alone composes
    "mental_arithmetic": ["task=mental_arithmetic"],
    "list_max": ["task=list_max"],
    "letter_count": ["task=letter_count", "task.validation_size=40"],
}


def build(name: str):
    import sys

    sys.path.insert(0, str(ROOT / "examples" / "letter_count"))
    task, *overrides = GENERATED[name]
    return build_task(task.split("=")[1], *overrides, config_dirs=(LETTER_COUNT,))


def questions(problems) -> set[str]:
    return {p.question for p in problems}


def group(task, p: Problem) -> str:
    return next(iter(task.groups(p).values()))


def test_the_tasks_write_the_key_the_evaluation_reads():
    assert splits.HELD_OUT == HELD_OUT == "held_out"


@pytest.mark.parametrize("name", GENERATED)
def test_eval_problems_marked_held_out_are_in_neither_pool_nor_seeds(name: str):
    task = build(name)
    evals = task.load("eval")
    used = questions(task.load("train")) | questions(p for p, _ in task.seed_rationales())
    assert all(isinstance(p.meta.get(HELD_OUT), bool) for p in evals), "every eval problem says whether it is held out"
    for p in evals:
        assert p.meta[HELD_OUT] == (p.question not in used), p


@pytest.mark.parametrize("name", GENERATED)
def test_validation_problems_marked_held_out_are_in_no_other_split(name: str):
    task = build(name)
    validation = task.load("validation")
    assert validation and len({p.id for p in validation}) == len(validation)
    used = (questions(task.load("train")) | questions(task.load("eval"))
            | questions(p for p, _ in task.seed_rationales()))
    for p in validation:
        assert p.meta[HELD_OUT] == (p.question not in used), p
    assert task.load("validation") == validation, "loading must be deterministic"


@pytest.mark.parametrize("name", GENERATED)
def test_groups_with_room_are_unique_and_all_held_out(name: str):
    """Everything but the 1-digit sums of paper_arithmetic and the smoke preset (whose
    1-digit seeds, 100 of them, cannot avoid the eval questions)."""
    task = build(name)
    small = {"paper_arithmetic": {"1"}, "smoke": {"1"}}.get(name, set())
    for split in ("eval", "validation"):
        problems = [p for p in task.load(split) if not task.groups(p) or group(task, p) not in small]
        assert problems and all(held_out(p) for p in problems), split
        assert len(questions(problems)) == len(problems), f"{split}: questions repeat"


def test_paper_arithmetic_one_digit_eval_is_marked_not_held_out():
    task = build("paper_arithmetic")
    by_digits = Counter((p.meta["digits"], p.meta[HELD_OUT]) for p in task.load("eval"))
    assert by_digits == {(1, False): 98, (1, True): 2, (2, True): 100, (3, True): 100, (4, True): 100}


# -- the existing problems did not move -------------------------------------------------------
def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _rows(problems):
    return [[p.id, p.question, p.answer, {k: v for k, v in p.meta.items() if k != HELD_OUT}] for p in problems]


# Hashes of load("train"), load("eval") (meta without the new held_out key) and
# seed_rationales() taken before the validation split and held-out marking existed.
PINNED = {
    "demo": ("5096310afa3e8cc4", "d480e5d68fe7bf20", "4b8fd46bc073b778"),
    "paper_arithmetic": ("1af7fd08179cccb8", "8764463a5c5d427b", "d09a3289d773b570"),
    "smoke": ("0a2d34c1cd01f6dc", "db7453e8b4fb17c6", "e20f00a340a87474"),
    "mental_arithmetic": ("70e5f120c350d79a", "7df38c7e5a4809be", "65ae17ea4d73b4ae"),
    "list_max": ("83f68130ed526261", "8bf099a8a1e3188b", "5fe5083acb402f2e"),
}


@pytest.mark.parametrize("name", PINNED)
def test_train_eval_and_seeds_are_as_before_the_validation_split(name: str):
    task = build(name)
    got = (_digest(_rows(task.load("train"))), _digest(_rows(task.load("eval"))),
           _digest([[r, c] for r, (_, c) in zip(_rows([p for p, _ in task.seed_rationales()]),
                                                 task.seed_rationales(), strict=True)]))
    assert got == PINNED[name]


def test_letter_count_validation_is_a_stream_of_its_own():
    """The redesigned example: its validation split's size moves no other split, and by
    default it is as large as eval (validation_size=0 is refused, naming the key)."""
    import sys

    sys.path.insert(0, str(ROOT / "examples" / "letter_count"))
    default = build_task("letter_count", config_dirs=(LETTER_COUNT,))
    small = build("letter_count")  # task.validation_size=40
    for split in ("train", "eval"):
        assert default.load(split) == small.load(split)
    assert default.seed_rationales() == small.seed_rationales()
    assert len(default.load("validation")) == len(default.load("eval")) and len(small.load("validation")) == 40
    with pytest.raises(ValueError, match="validation_size"):
        build_task("letter_count", "task.validation_size=0", config_dirs=(LETTER_COUNT,)).load("validation")


@pytest.mark.parametrize("task_name", ["arithmetic", "mental_arithmetic", "list_max"])
def test_validation_has_a_stream_of_its_own(task_name: str):
    """Its size changes nothing else; by default it is as large as eval, over eval's groups."""
    default, small = build_task(task_name), build_task(task_name, "task.validation_size=30")
    for split in ("train", "eval"):
        assert default.load(split) == small.load(split)
    assert default.seed_rationales() == small.seed_rationales()
    validation = default.load("validation")
    assert len(validation) == len(default.load("eval")) and len(small.load("validation")) == 30
    assert Counter(group(default, p) for p in validation) == Counter(group(default, p) for p in default.load("eval"))
    assert all(p.id.startswith("validation-") for p in validation)
    with pytest.raises(ValueError, match="validation_size"):
        build_task(task_name, "task.validation_size=0").load("validation")


# -- benchmarks: validation carved out of train, seed rows out of the pool --------------------------
def gsm8k_rows(n: int, start: int = 0) -> str:
    rows = [{"id": f"r{i}", "question": f"Ann has {i} apples and buys {i + 3} more. How many apples now?",
             "answer": f"She has {i} + {i + 3} = <<{i}+{i + 3}={2 * i + 3}>>{2 * i + 3}.\n#### {2 * i + 3}"}
            for i in range(start, start + n)]
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_benchmark_validation_is_carved_out_of_the_pool(write):
    train, evals = write("train.jsonl", gsm8k_rows(40)), write("eval.jsonl", gsm8k_rows(5, 100))
    files = {"train": str(train), "eval": str(evals)}
    plain, carved = GSM8K(data_files=files), GSM8K(data_files=files, validation_size=10)
    fraction = GSM8K(data_files=files, validation_size=0.25)
    validation = carved.load("validation")
    assert len(validation) == 10 == len(fraction.load("validation"))
    assert {p.id for p in validation}.isdisjoint(p.id for p in carved.load("train"))
    assert {p.id for p in carved.load("train")} | {p.id for p in validation} == {p.id for p in plain.load("train")}
    assert carved.load("eval") == plain.load("eval") and carved.load("validation") == validation
    assert all(p.meta[HELD_OUT] for p in validation + carved.load("eval"))
    assert GSM8K(data_files=files, validation_size=10, seed=7).load("validation") != validation
    with pytest.raises(DataError, match="task.validation_size"):
        plain.load("validation")
    with pytest.raises(DataError, match="task.validation_size=50"):
        GSM8K(data_files=files, validation_size=50).load("train")


def test_benchmark_validation_from_a_source_of_its_own(write):
    files = {"train": str(write("train.jsonl", gsm8k_rows(8))), "eval": str(write("eval.jsonl", gsm8k_rows(3, 100))),
             "validation": str(write("validation.jsonl", gsm8k_rows(3, 200) + gsm8k_rows(1, 0)))}
    task = GSM8K(data_files=files)
    validation = task.load("validation")
    assert [p.id for p in validation] == ["r200", "r201", "r202", "r0"]
    assert [p.meta[HELD_OUT] for p in validation] == [True, True, True, False]  # r0's question is in the pool
    same = GSM8K(data_files={"train": files["train"], "validation": files["validation"]},
                 split={"train": "train", "eval": "validation"})
    with pytest.raises(DataError, match="eval split's own rows"):
        same.load("validation")
    one = GSM8K(data_files=files["train"], eval_size=2)
    with pytest.raises(DataError, match="task.validation_size"):
        one.load("validation")


def test_benchmark_seed_rows_leave_the_pool(write):
    """seed_size > 0: the rows whose worked solutions seed the cold start are not in the
    STaR pool (for any labels), and they are the same rows as before."""
    files = {"train": str(write("train.jsonl", gsm8k_rows(30))), "eval": str(write("eval.jsonl", gsm8k_rows(4, 100)))}
    seeded, plain = GSM8K(data_files=files, seed_size=6, num_fewshot=0), GSM8K(data_files=files, num_fewshot=0)
    seed_ids = [p.id for p, _ in seeded.seed_rationales()][len(GSM8K.EXEMPLARS):]
    assert seed_ids == [f"r{i}" for i in range(6)]
    pool = seeded.load("train")
    assert not {p.id for p in pool} & set(seed_ids)
    assert [p.id for p in pool] == [p.id for p in plain.load("train")][6:]
    carved = GSM8K(data_files=files, seed_size=6, validation_size=5, train_size=10)
    pool, validation = carved.load("train"), carved.load("validation")
    assert len(pool) == 10 and len(validation) == 5
    assert not ({p.id for p in pool} | {p.id for p in validation}) & set(seed_ids)
    assert all(p.meta[HELD_OUT] for p in carved.load("eval"))


# -- gold-derived meta ------------------------------------------------------------------------
def test_gold_meta_declarations():
    from star.tasks.benchmark import Benchmark
    from star.tasks.commonsenseqa import CommonsenseQA
    from star.tasks.math import MATH

    assert GSM8K.gold_meta == ("solution", "steps")
    assert Benchmark.gold_meta == MATH.gold_meta == CommonsenseQA.gold_meta == ("solution",)


@pytest.mark.parametrize("name", TASK_CONFIGS)
def test_groups_without_the_gold_meta(name: str):
    """With its gold meta stripped (as loop.labels=majority hides it), a problem still has
    groups, only none of the kinds derived from gold."""
    from dataclasses import replace

    task = build_task(name)
    hidden = tuple(getattr(task, "gold_meta", ()))
    for p in task.load("train")[:5]:
        stripped = replace(p, answer="", meta={k: v for k, v in p.meta.items() if k not in hidden})
        groups = task.groups(stripped)
        assert all(isinstance(v, str) for v in groups.values())
        assert not set(groups) & set(hidden)


def test_gsm8k_steps_group_is_gone_without_its_gold_meta(write):
    task = GSM8K(data_files=str(write("train.jsonl", gsm8k_rows(3))), eval_size=0)
    p = task.load("train")[0]
    assert task.groups(p) == {"steps": "1"}
    assert task.groups(Problem(p.id, p.question, "", {})) == {}


# -- the held-out accuracy ----------------------------------------------------------------------
class Digits:
    def groups(self, p: Problem) -> dict[str, str]:
        return {"digits": str(p.meta["digits"])}


def _sample(p: Problem, ok: bool) -> Sample:
    return Sample(p.id, 0, "", "", "", "1", Verdict.CORRECT if ok else Verdict.INCORRECT)


def test_accuracy_over_the_held_out_problems():
    # 1-digit problems, 3 of 4 also trained on, all right; 2-digit, all held out, half right
    problems = [Problem(f"a{i}", f"{i}+1", "x", {"digits": 1, HELD_OUT: i == 0}) for i in range(4)]
    problems += [Problem(f"b{i}", f"1{i}+10", "x", {"digits": 2, HELD_OUT: True}) for i in range(4)]
    right = {"a0", "a1", "a2", "a3", "b0", "b1"}
    row = accuracy(problems, [_sample(p, p.id in right) for p in problems], Digits())
    assert row["eval/accuracy"] == 0.75 and row["eval/accuracy/digits=1"] == 1.0  # per group as before
    assert row["eval/n_held_out"] == 5 and row["eval/accuracy_held_out"] == 0.6
    assert row["eval/accuracy_held_out_lo"] < 0.6 < row["eval/accuracy_held_out_hi"]
    assert "eval/accuracy_held_out/digits=1" not in row
    everything = [Problem(p.id, p.question, p.answer, {"digits": p.meta["digits"]}) for p in problems]
    row = accuracy(everything, [_sample(p, p.id in right) for p in everything], Digits())
    assert not any("held_out" in k for k in row)  # all held out: eval/accuracy says it


# -- eval.split=validation through the commands ---------------------------------------------------
def _star(tmp_path, *args: str, env: dict[str, str] | None = None):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "star.cli", *args], capture_output=True, text=True, cwd=tmp_path,
                          timeout=600, env={**os.environ, **(env or {})})


def test_task_check_on_the_validation_split(tmp_path):
    proc = _star(tmp_path, "task-check", "task=arithmetic", "eval.split=validation")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validation: 400 problems" in proc.stdout


@pytest.mark.slow  # a smoke run: a cold start and one iteration, about 15 s
def test_star_run_evaluates_on_the_validation_split(tmp_path):
    proc = _star(tmp_path, "run", "experiment=smoke", "eval.split=validation", "task.validation_size=12",
                 "loop.iterations=1", f"out_dir={tmp_path}", "run_name=v", env={"STAR_CACHE_DIR": str(tmp_path / "c")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "arithmetic" / "v" / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1] and all(r["eval/n"] == 12 for r in rows)
    ids = {json.loads(line)["problem_id"] for line in (tmp_path / "arithmetic" / "v" / "iter_001" / "eval.jsonl")
           .read_text().splitlines()}
    assert ids == {f"validation-{i:05d}" for i in range(12)}
