"""Distillation (loop.teacher) without a model: the teacher's samples train the student on
prompts rendered with the STUDENT's tokenizer (a chat prompt through the student's chat
template), while the teacher generates from its own rendering; a teacher is read from a
finished run directory (its final weights, an iteration that accepted nothing keeps the
one before) or named as a model; and the config refuses what distillation cannot do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from star.attempts import attempt
from star.config import ConfigError, validate
from star.generation import Completion
from star.rundir import final_model, last_iteration, stage_dirs
from star.types import Problem, Verdict


class Template:
    """A tokenizer with a chat template of its own: `tag` marks whose rendering a prompt is."""

    def __init__(self, tag: str):
        self.tag = tag
        self.chat_template = tag

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "".join(f"<{self.tag}:{m['role']}>{m['content']}" for m in messages) + f"<{self.tag}:assistant>"


class ChatTask:
    name, description, stop = "chat", "a chat task", ()

    class checker:  # noqa: N801 - a stand-in for a checker instance
        @staticmethod
        def check(gold, pred):
            return Verdict.CORRECT if gold == pred else Verdict.INCORRECT

    def prompt(self, p, hint=None):
        return [{"role": "user", "content": p.question + (f" (hint: {hint})" if hint else "")}]

    def extract_answer(self, completion):
        return completion.split()[-1] if completion.split() else None

    def max_new_tokens(self, p):
        return None


class Echo:
    """Answers every prompt with the gold answer and remembers what it was shown."""

    def __init__(self, answers):
        self.answers, self.seen = answers, []

    def generate(self, prompts, n=1, **_):
        self.seen += prompts
        return [[Completion(f"so {a}", 2)] * n for a in self.answers]


class Pool:
    def check(self, checker, pairs, problems=None):
        return [checker.check(g, p) for g, p in pairs]


PROBLEMS = [Problem("p0", "1+1?", "2"), Problem("p1", "2+3?", "5")]


@pytest.mark.parametrize("hint", [False, True])
def test_training_prompts_are_rendered_with_the_students_tokenizer(hint):
    teacher, student = Template("teacher"), Template("student")
    gen = Echo([p.answer for p in PROBLEMS])
    samples = attempt(gen, ChatTask(), PROBLEMS, Pool(), teacher, hint=hint, train_tokenizer=student)
    assert all(s.verdict is Verdict.CORRECT for s in samples)
    for p, s, shown in zip(PROBLEMS, samples, gen.seen, strict=True):
        assert s.prompt == shown and s.prompt.startswith("<teacher:user>"), "the teacher generates from its own template"
        assert s.train_prompt == f"<student:user>{p.question}<student:assistant>", "the student trains on its own"
        assert ("hint" in s.prompt) is hint and "hint" not in s.train_prompt


def test_without_a_train_tokenizer_both_prompts_are_the_generating_models():
    teacher = Template("teacher")
    s = attempt(Echo(["2"]), ChatTask(), PROBLEMS[:1], Pool(), teacher)[0]
    assert s.prompt == s.train_prompt == "<teacher:user>1+1?<teacher:assistant>"


# -- a teacher's final model, from its run directory ------------------------------------------------
def run_dir(path: Path, iterations: int, empty: tuple[int, ...] = (), weights: str = "adapter") -> Path:
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({"models": {"starting_model": {"hash": "h", "path": "/m/start"}}}))
    for t in range(iterations + 1):
        it = path / f"iter_{t:03d}"
        it.mkdir()
        (it / "DONE").write_text("")
        if t:
            (it / weights).mkdir()
            if t in empty:
                (it / weights / "EMPTY").write_text("")
    return path


def test_final_model_is_the_last_finished_iterations_weights(tmp_path):
    run = run_dir(tmp_path / "r", 3)
    (run / "iter_004").mkdir()  # begun, not finished: not the final model
    (run / "iter_004" / "adapter").mkdir()
    assert last_iteration(run) == 3
    final = final_model(run, "adapter")
    assert (final.base, final.weights, final.iteration) == (Path("/m/start"), run / "iter_003" / "adapter", 3)


def test_an_iteration_that_accepted_nothing_keeps_the_weights_before_it(tmp_path):
    run = run_dir(tmp_path / "r", 3, empty=(2, 3), weights="model")
    assert final_model(run, "model").weights == run / "iter_001" / "model"
    none = run_dir(tmp_path / "n", 2, empty=(1, 2))
    assert final_model(none, "adapter").weights is None  # the starting model itself


def test_a_run_directory_with_no_finished_iteration_is_no_teacher(tmp_path):
    run = run_dir(tmp_path / "r", 0)
    (run / "iter_000" / "DONE").unlink()
    with pytest.raises(FileNotFoundError, match="no finished iteration"):
        final_model(run, "adapter")


def test_the_stages_of_a_pipeline_run_in_order(tmp_path):
    for name in ("stage_10_star", "stage_2_grpo", "stage_1_star", "iter_000", "stage_x"):
        (tmp_path / name).mkdir()
    assert [p.name for p in stage_dirs(tmp_path)] == ["stage_1_star", "stage_2_grpo", "stage_10_star"]


# -- config ------------------------------------------------------------------------------------------
def typed(*overrides: str):
    from star.task_cli import compose

    return OmegaConf.to_object(compose(list(overrides)))


def test_teacher_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="loop.teacher=.*no such"):
        validate(typed(f"loop.teacher={tmp_path / 'nowhere'}"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="loop.teacher=.*neither a run directory"):
        validate(typed(f"loop.teacher={tmp_path / 'empty'}"))
    run = run_dir(tmp_path / "run", 1)
    validate(typed(f"loop.teacher={run}"))


@pytest.mark.parametrize("overrides,message", [
    (["algorithm=grpo"], "algorithm=grpo"),
    (["experiment=label_free_voters"], "loop.voters=3"),
])
def test_teacher_refuses_what_it_cannot_do(tmp_path, overrides, message):
    run = run_dir(tmp_path / "run", 1)
    with pytest.raises(ConfigError, match=message):
        validate(typed(f"loop.teacher={run}", *overrides))


# -- whose tokens ------------------------------------------------------------------------------------
def test_the_teachers_tokens_are_counted_apart_from_the_students():
    from dataclasses import replace

    from star.committee import TEACHER
    from star.evaluation import train_metrics

    class Task:
        def groups(self, p):
            return {}

    samples = attempt(Echo([p.answer for p in PROBLEMS]), ChatTask(), PROBLEMS, Pool(), Template("t"))
    samples = [replace(s, voter=TEACHER, tokens=5) for s in samples]
    row = train_metrics(Task(), PROBLEMS, samples, [], [], 10, {})
    assert (row["train/tokens"], row["train/teacher_tokens"]) == (0, 10)
    own = [replace(s, voter=0, tokens=3) for s in samples]
    row = train_metrics(Task(), PROBLEMS, [*samples, *own], [], [], 10, {})
    assert (row["train/tokens"], row["train/teacher_tokens"]) == (3 * len(own), 10)
    assert "train/teacher_tokens" not in train_metrics(Task(), PROBLEMS, own, [], [], 10, {})
