"""Labels for the training side: majority votes into pseudo-labels, gold that must be there,
and the easy-to-hard curriculum."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from star.checkers import get_checker
from star.config import LoopConfig
from star.curriculum import NoLevels, level, levels, pool
from star.labels import GoldLabels, MajorityLabels, MissingGold, pseudo_labels
from star.tasks.arithmetic import Arithmetic
from star.types import Problem, Sample, Verdict


class InProcessPool:
    def check(self, checker, pairs, problems=None):
        return [checker.check(gold, pred) for gold, pred in pairs]


class MathTask:
    name, checker = "t", get_checker("math")

    def groups(self, problem):
        return dict(problem.meta)


class GoldMetaTask(MathTask):
    gold_meta = ("solution",)


def votes(pid: str, *preds: str | None) -> list[Sample]:
    return [Sample(problem_id=pid, index=i, prompt="q", train_prompt="q", completion=f"... {p}", pred=p,
                   verdict=Verdict.UNVERIFIABLE) for i, p in enumerate(preds)]


def majority(min_agreement=0.5, voters=1, task=None) -> MajorityLabels:
    return MajorityLabels(LoopConfig(labels="majority", min_agreement=min_agreement, voters=voters), task or MathTask())


def judged(samples, min_agreement=0.5, voters=1):
    """`samples` judged by `voters` models; with several, the committee's layout: each problem's
    samples are the voters' k = n / voters samples in turn, each voter's numbered 0..k-1."""
    if voters > 1:
        k = {pid: n // voters for pid, n in Counter(s.problem_id for s in samples).items()}
        samples = [replace(s, voter=s.index // k[s.problem_id], index=s.index % k[s.problem_id]) for s in samples]
    labels = majority(min_agreement, voters)
    problems = [Problem(id=pid, question="q", answer="") for pid in dict.fromkeys(s.problem_id for s in samples)]
    return labels.judge(MathTask(), problems, samples, InProcessPool())


def test_the_majority_answer_becomes_the_label_and_its_samples_are_correct():
    out = judged(votes("p", "3", "3", "4", "3"))
    assert [s.verdict for s in out] == [Verdict.CORRECT, Verdict.CORRECT, Verdict.INCORRECT, Verdict.CORRECT]
    assert pseudo_labels(out) == {"p": "3"}


def test_equivalent_answers_in_different_forms_vote_together():
    out = judged(votes("p", "1/2", "0.5", "\\frac{1}{2}", "2/3", "2/3", "0.6"))  # 3 halves beat 2 thirds
    assert [s.verdict for s in out][:3] == [Verdict.CORRECT] * 3
    assert pseudo_labels(out) == {"p": "1/2"}


def test_a_tie_gives_no_label():
    out = judged(votes("p", "3", "4", "4", "3"))
    assert all(s.verdict is Verdict.INCORRECT for s in out) and pseudo_labels(out) == {}


def test_the_agreement_threshold_counts_all_k_samples():
    # 2 of 5 agree: the majority, but 40% of the samples (no answer counts against agreement)
    samples = votes("p", "7", "7", "8", None, None)
    assert pseudo_labels(judged(samples, min_agreement=0.4)) == {"p": "7"}
    assert pseudo_labels(judged(samples, min_agreement=0.5)) == {}


def test_unverifiable_and_missing_answers_never_vote():
    # "nan" and "1/0" cannot be judged equal even to themselves: their 3 votes do not count,
    # and "5" wins with 2 of 6
    out = judged(votes("p", "nan", "nan", "1/0", "5", "5", None), min_agreement=0.3)
    assert [s.verdict for s in out] == [Verdict.UNVERIFIABLE] * 3 + [Verdict.CORRECT] * 2 + [Verdict.INCORRECT]
    assert pseudo_labels(out) == {"p": "5"}


def test_problems_are_labeled_independently():
    out = judged(votes("a", "1", "1", "2", "1") + votes("b", "9", "8", "7", "6"))
    assert pseudo_labels(out) == {"a": "1"}


# -- several voters (loop.voters): each model's plurality answer is one ballot -----------------
def test_each_voter_casts_its_plurality_and_the_label_needs_the_share_of_voters():
    # 3 voters x 4 samples: voter 0 says 3 (3 of 4), voter 1 says 4, voter 2 says 3 (2 of 4)
    samples = votes("p", "3", "3", "3", "4", "4", "4", "4", "4", "3", "3", "4", "6")
    out = judged(samples, min_agreement=0.5, voters=3)
    assert pseudo_labels(out) == {"p": "3"}  # 2 of 3 voters, though "4" has more samples (6 to 5)
    assert [(s.voter, s.index) for s in out if s.verdict is Verdict.CORRECT] == [(0, 0), (0, 1), (0, 2), (2, 0), (2, 1)]  # voter 1's 4s stay wrong
    assert pseudo_labels(judged(samples, min_agreement=1.0, voters=3)) == {}  # not unanimous
    # pooled as one model's 12 samples, "4" would win
    assert pseudo_labels(judged(samples, min_agreement=0.5)) == {"p": "4"}


def test_a_voter_split_evenly_abstains_and_voters_tying_give_no_label():
    # voter 0 splits 2-2 and abstains, voter 1 says 7: one ballot for 7, half of the 2 voters
    samples = votes("p", "1", "1", "2", "2", "7", "7", "7", "8")
    assert pseudo_labels(judged(samples, min_agreement=0.5, voters=2)) == {"p": "7"}
    assert pseudo_labels(judged(samples, min_agreement=0.6, voters=2)) == {}
    # voter 0 says 1, voter 1 says 7: a tie between voters gives no label
    assert pseudo_labels(judged(votes("p", "1", "1", "1", "2", "7", "7", "7", "8"), voters=2)) == {}


def test_equivalent_forms_vote_together_across_voters():
    out = judged(votes("p", "1/2", "1/2", "0.5", "0.5", "2/3", "2/3"), min_agreement=0.6, voters=3)
    assert pseudo_labels(out) == {"p": "1/2"}
    assert [s.verdict for s in out] == [Verdict.CORRECT] * 4 + [Verdict.INCORRECT] * 2


def test_majority_labels_hide_the_gold_and_measure_it_afterwards():
    labels = majority(task=GoldMetaTask())
    problems = [Problem(id="a", question="q", answer="1", meta={"d": "1"}),
                Problem(id="b", question="q", answer="5", meta={"d": "2", "solution": "worked"})]
    hidden = labels.visible(problems)
    assert [p.answer for p in hidden] == ["", ""] and "solution" not in hidden[1].meta
    out = labels.judge(MathTask(), hidden, votes("a", "1", "1", "2", "1") + votes("b", "6", "6", "6", "5"),
                       InProcessPool())
    row = labels.metrics(MathTask(), problems, out, InProcessPool())
    assert row["train/pseudo_labeled"] == 2
    assert row["train/pseudo_label_accuracy"] == 0.5  # a right (1), b wrong (6, gold 5)
    assert row["train/pseudo_label_accuracy/d=1"] == 1.0 and row["train/pseudo_label_accuracy/d=2"] == 0.0


def test_gold_labels_need_a_gold_answer_for_every_training_problem():
    problems = [Problem(id="a", question="q", answer="1"),
                Problem(id="b", question="q", answer="", meta={"unlabeled": "train.jsonl:2: no 'answer' field"})]
    with pytest.raises(MissingGold, match=r"train.jsonl:2: no 'answer' field.*loop.labels=majority"):
        GoldLabels(LoopConfig(), MathTask()).visible(problems)
    assert GoldLabels(LoopConfig(), MathTask()).visible(problems[:1]) == problems[:1]


# -- curriculum ----------------------------------------------------------------------------------
def test_the_curriculum_widens_when_the_hardest_group_is_mastered():
    task = Arithmetic(train_size=30, eval_size=3, train_digits=(1, 2, 3), eval_digits=(1,), seed_examples=(3,))
    problems = task.load("train")
    assert levels(task, problems) == ["digits=1", "digits=2", "digits=3"]
    history = [{"iteration": 1, "train/solve_rate/digits=1": 0.9},
               {"iteration": 2, "train/solve_rate/digits=2": 0.4},
               {"iteration": 3, "train/solve_rate/digits=2": 0.85}]
    groups = levels(task, problems)
    assert [level(groups, history, 0.8, t) for t in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]
    assert {p.meta["digits"] for p in pool(task, problems, history, 0.8, 3)} == {1, 2}
    assert pool(task, problems, history, None, 3) == problems  # off: the whole pool


class LengthTask:
    """A plugin whose difficulty group is derived from its gold answer (the answer's length),
    kept under a key of its own that it declares gold-derived."""

    name, checker, gold_meta = "len", get_checker("exact"), ("answer_length",)

    def groups(self, problem):
        return {"length": str(problem.meta["answer_length"])} if "answer_length" in problem.meta else {}


def test_gold_derived_meta_is_hidden_and_the_curriculum_cannot_order_by_it():
    task = LengthTask()
    problems = [Problem(id=str(i), question="q", answer="x" * i, meta={"answer_length": i, "topic": "t"})
                for i in (1, 2, 3)]
    hidden = majority(task=task).visible(problems)
    assert all("answer_length" not in p.meta and p.meta["topic"] == "t" for p in hidden)  # other meta stays
    assert pool(task, problems, [], 0.5, 1) == problems[:1]  # with gold in view, the levels exist
    with pytest.raises(NoLevels, match=r"answer_length.*loop.labels=majority"):
        pool(task, hidden, [], 0.5, 1)
    assert pool(task, hidden, [], None, 1) == hidden  # no curriculum: nothing to order
    assert GoldLabels(LoopConfig(), task).visible(problems) == problems  # gold labels see everything
