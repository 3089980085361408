from pathlib import Path

import pytest

from star.attempts import attempt
from star.checkers import CheckPool
from star.filtering import select
from star.generation import Completion
from star.rationalization import hint_markers, leaks, unsolved
from star.tasks.arithmetic import Arithmetic
from star.types import Problem, Sample, Verdict

FIXTURES = Path(__file__).resolve().parents[1] / "tasks" / "fixtures"


@pytest.fixture(scope="module")
def pool():
    with CheckPool(1, 5.0) as p:
        yield p


def s(pid, completion, verdict=Verdict.CORRECT, hinted=False, index=0):
    return Sample(problem_id=pid, index=index, prompt=f"(hint) {pid}" if hinted else pid, train_prompt=pid,
                  completion=completion, pred="1", verdict=verdict, hinted=hinted)


def test_keeps_only_correct():
    out = select([s("a", "x"), s("b", "y", Verdict.INCORRECT), s("c", "z", Verdict.UNVERIFIABLE)], 4)
    assert [e.problem_id for e in out] == ["a"]


def test_deduplicates_modulo_whitespace_and_caps_per_problem():
    samples = [s("a", "x  y", index=0), s("a", "x y", index=1), s("a", "z", index=2), s("a", "w", index=3)]
    assert [e.completion for e in select(samples, 2)] == ["x  y", "z"]
    assert len(select(samples, 10)) == 3


class Solver:
    """A generator that writes each prompt's worked rationale (hinted prompts too)."""

    def __init__(self, task, problems):
        self.by_prompt = {}
        for p in problems:
            for hint in (None, p.answer):
                self.by_prompt[task.prompt(p, hint=hint)] = task.solve(p)

    def generate(self, prompts, n=1, **kw):
        return [[Completion(self.by_prompt[q], 10)] * n for q in prompts]


@pytest.mark.parametrize("task_name", ["arithmetic", "gsm8k"])
def test_hinted_samples_train_on_the_unhinted_prompt(task_name, pool):
    """Through the loop's own code path (attempt with hint=True, then select): the training
    prompt is the task's plain prompt, and no part of the hint reaches it."""
    if task_name == "arithmetic":
        task = Arithmetic(train_size=6, eval_size=2, train_digits=(2,), eval_digits=(2,), seed_examples=(0, 4))
        problems = task.load("train")
    else:
        from star.tasks.gsm8k import GSM8K

        task = GSM8K(data_files=str(FIXTURES / "gsm8k.jsonl"), num_fewshot=2, eval_size=2)
        problems = task.load("train")[:4]
        task.solve = lambda p: f"Some reasoning. The answer is {p.answer}."
    hinted = attempt(Solver(task, problems), task, problems, pool, None, hint=True)
    examples = select(hinted, 1)
    assert len(examples) == len(problems)
    for p, e in zip(problems, examples, strict=True):
        assert e.hinted and e.prompt == getattr(task, "train_prompt", task.prompt)(p)  # gsm8k: no exemplars
        markers = hint_markers(task, p, p.answer)
        assert markers and not leaks(e.prompt, markers)


def test_cap_must_be_positive():
    with pytest.raises(ValueError, match="max_per_problem"):
        select([], 0)


def test_unsolved_lists_problems_without_a_correct_sample():
    ps = [Problem(id=i, question=i, answer="1") for i in "abc"]
    assert [p.id for p in unsolved(ps, [s("a", "x"), s("b", "y", Verdict.INCORRECT)])] == ["b", "c"]


# -- hinted completions that repeat the hint ------------------------------------------------------
def test_default_hint_markers_are_what_the_hint_adds_to_the_prompt():
    task = Arithmetic(train_size=2, eval_size=2, train_digits=(3,), eval_digits=(3,), seed_examples=(0, 0, 4))
    p = Problem(id="x", question="624+257", answer="881", meta={"digits": 3})
    assert hint_markers(task, p, "881") == ["(8r8q1p)"]
    assert leaks("as (8r8q1p) says\nA: 881", ["(8r8q1p)"]) and not leaks(task.solve(p), ["(8r8q1p)"])


def test_benchmark_hint_markers_catch_a_completion_that_cites_the_hint():
    from star.tasks.gsm8k import GSM8K

    task = GSM8K(data_files=str(FIXTURES / "gsm8k.jsonl"), eval_size=2)
    p = task.load("train")[0]
    markers = hint_markers(task, p, p.answer)
    assert "hint" in markers
    for leaked in (f"The hint says {p.answer}. The answer is {p.answer}.",
                   f"Hint: the answer is {p.answer}. So the answer is {p.answer}."):
        assert leaks(leaked, markers), leaked
    assert not leaks(f"3 * 12 = 36. The answer is {p.answer}.", markers)


def test_a_task_says_what_leaks_its_hint():
    from star.tasks.commonsenseqa import CommonsenseQA

    task = CommonsenseQA(data_files=str(FIXTURES / "commonsenseqa.jsonl"), eval_size=2)
    p = task.load("train")[0]
    markers = hint_markers(task, p, p.answer)
    assert leaks(f"The ({p.answer}) (CORRECT) one. So the answer is ({p.answer}).", markers)
    assert not leaks(f"People do that. So the answer is ({p.answer}).", markers)


def test_rejected_hinted_samples_never_train_and_are_counted():
    from star.evaluation import train_metrics
    from star.rationalization import reject_leaks

    task = Arithmetic(train_size=2, eval_size=2, train_digits=(3,), eval_digits=(3,), seed_examples=(0, 0, 4))
    p = Problem(id="x", question="624+257", answer="881", meta={"digits": 3})
    good, bad = task.solve(p), "(8r8q1p)\n" + task.solve(p)
    hinted = [Sample(problem_id="x", index=i, prompt=task.prompt(p, "881"), train_prompt=task.prompt(p),
                     completion=c, pred="881", verdict=Verdict.CORRECT, hinted=True) for i, c in enumerate((bad, good))]
    marked = reject_leaks(task, [p], hinted)
    assert [s.rejected for s in marked] == ["hint-leak", None]
    assert [e.completion for e in select(marked, 4)] == [good]
    row = train_metrics(task, [p], [], marked, select(marked, 4), 10, {})
    assert row["train/hint_leaks"] == 1 and row["train/rationalized"] == 1
    assert row["train/rationalization_rate/digits=3"] == 1.0
