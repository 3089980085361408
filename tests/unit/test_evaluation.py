"""Evaluation: pass@k against known values, maj@k votes grouped by the checker's equivalence,
Wilson intervals, per-group summaries and the eval.jsonl greedy/sampled convention."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from star import evaluation as ev
from star.checkers import get_checker
from star.types import Problem, Sample, Verdict


class InProcessPool:
    """CheckPool's interface, checking in this process (tests may run sympy here)."""

    def __init__(self):
        self.calls: list[list[tuple[str, str | None]]] = []

    def check(self, checker, pairs, problems=None):
        self.calls.append(list(pairs))
        return [checker.check(gold, pred) for gold, pred in pairs]


@dataclass
class Task:
    checker: object

    def groups(self, p: Problem) -> dict[str, str]:
        return {"digits": str(p.meta["digits"])}


def problem(pid: str, answer: str = "1/2", digits: int = 1) -> Problem:
    return Problem(id=pid, question=pid, answer=answer, meta={"digits": digits})


def sample(pid: str, pred: str | None, gold: str = "1/2", index: int = 0, checker=None) -> Sample:
    checker = checker or get_checker("math")
    verdict = Verdict.INCORRECT if pred is None else checker.check(gold, pred)
    return Sample(problem_id=pid, index=index, prompt=pid, train_prompt=pid, completion=str(pred),
                  pred=pred, verdict=verdict, tokens=3)


def samples(pid: str, preds: list[str | None], gold: str = "1/2") -> list[Sample]:
    return [sample(pid, p, gold, index=i) for i, p in enumerate(preds)]


# -- pass@k ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,c,k,expected", [
    (10, 0, 1, 0.0),
    (10, 10, 5, 1.0),
    (10, 1, 1, 0.1),
    (10, 1, 5, 0.5),  # 1 - C(9,5)/C(10,5) = 1 - 126/252
    (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    (4, 1, 4, 1.0),  # n - c < k: every draw of 4 holds the correct one
    (20, 3, 4, 1 - math.comb(17, 4) / math.comb(20, 4)),
    (200, 7, 100, 1 - math.comb(193, 100) / math.comb(200, 100)),
])
def test_pass_at_k_known_values(n, c, k, expected):
    assert ev.pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_1_is_the_sample_accuracy_and_grows_with_k():
    assert ev.pass_at_k(16, 5, 1) == pytest.approx(5 / 16)
    values = [ev.pass_at_k(16, 5, k) for k in (1, 2, 4, 8, 16)]
    assert values == sorted(values) and values[-1] == 1.0


@pytest.mark.parametrize("k", [0, 11])
def test_pass_at_k_needs_k_within_n(k):
    with pytest.raises(ValueError, match="0 < k <= n"):
        ev.pass_at_k(10, 3, k)


# -- Wilson -------------------------------------------------------------------------------------
@pytest.mark.parametrize("p,n,lo,hi", [
    (0.5, 10, 0.236593, 0.763407),
    (0.0, 10, 0.0, 0.277533),
    (1.0, 10, 0.722467, 1.0),
    (0.8, 100, 0.711, 0.866),
])
def test_wilson_known_values(p, n, lo, hi):
    assert ev.wilson(p, n) == pytest.approx((lo, hi), abs=1e-3)


def test_mean_ci_is_the_t_interval_over_seeds():
    m, lo, hi = ev.mean_ci([1.0, 2.0, 3.0])  # sd 1, n 3: half width 4.303 / sqrt(3)
    assert (m, lo, hi) == pytest.approx((2.0, 2.0 - 2.4843, 2.0 + 2.4843), abs=1e-3)
    assert ev.t975(4) == 2.776 and ev.t975(12) == 2.228  # between table entries: the smaller df's value
    m, lo, hi = ev.mean_ci([0.5])
    assert m == 0.5 and math.isnan(lo) and math.isnan(hi)


def test_wilson_narrows_with_n_and_stays_in_unit_interval():
    widths = [hi - lo for lo, hi in (ev.wilson(0.3, n) for n in (10, 100, 1000))]
    assert widths == sorted(widths, reverse=True)
    assert ev.wilson(0.0, 0) == (0.0, 1.0)


# -- maj@k ---------------------------------------------------------------------------------------
def test_equivalent_answers_vote_together():
    # gold 1/3; the wrong answers 1/2, 0.5 and 2/4 are one class of three votes
    s = samples("p", ["1/2", "1/3", "0.5", "0.3", "2/4", "1/3"], gold="1/3")
    labels = ev.vote_labels(s, get_checker("math"), InProcessPool())
    assert labels[0] == labels[2] == labels[4] != ev.GOLD
    assert labels[1] == labels[5] == ev.GOLD
    assert labels[3] not in (labels[0], ev.GOLD)
    assert not ev.majority_correct(labels)  # the 1/2 class: 3 votes; gold: 2; 0.3: 1
    assert ev.majority_correct(labels[1:4])  # gold, 1/2 class, 0.3: a tie of ones -> the first seen


def test_ties_go_to_the_answer_seen_first():
    assert ev.majority_correct([ev.GOLD, 1, 1, ev.GOLD])
    assert not ev.majority_correct([1, ev.GOLD, ev.GOLD, 1])


def test_string_voting_would_get_it_wrong():
    # gold 1/2 written two ways (3 votes) vs a wrong answer repeated (2 votes): by strings the
    # wrong answer "3" would be the most common single string; by equivalence gold wins.
    s = samples("p", ["3", "0.5", "3", "1/2", "2/4"])
    assert [x.verdict for x in s].count(Verdict.CORRECT) == 3
    task = Task(get_checker("math"))
    out = ev.sampled_metrics([problem("p")], s, task, InProcessPool(), [5])
    assert out["eval/maj@5"] == 1.0


def test_wrong_answers_equivalent_to_each_other_outvote_gold():
    s = samples("p", ["1/2", "0.5", "1/3"], gold="1/3")
    out = ev.sampled_metrics([problem("p", "1/3")], s, Task(get_checker("math")), InProcessPool(), [3])
    assert out["eval/maj@3"] == 0.0 and out["eval/pass@3"] == 1.0


def test_no_answer_does_not_vote():
    assert ev.majority_correct([None, None, ev.GOLD])
    assert not ev.majority_correct([None, None])


def test_maj_at_k_averages_disjoint_blocks_and_maj_at_1_is_pass_at_1():
    preds = ["1/2", "7", "7", "0.5", "1/2", "1/2", "8", "9"]  # blocks of 2: (ok,7) (7,ok) (ok,ok) (8,9)
    s = samples("p", preds)
    out = ev.sampled_metrics([problem("p")], s, Task(get_checker("math")), InProcessPool(), [1, 2, 4, 8])
    assert out["eval/maj@1"] == pytest.approx(out["eval/pass@1"]) == pytest.approx(4 / 8)
    assert out["eval/maj@2"] == pytest.approx(2 / 4)  # ties go to the first seen: (ok,7) yes, (7,ok) no
    assert out["eval/maj@4"] == 1.0  # (ok,7,7,ok): a tie, ok seen first; (ok,ok,8,9)
    assert out["eval/maj@8"] == 1.0  # 4 correct against 7 x2, 8, 9


def test_pairs_are_checked_once_per_distinct_wrong_answer_through_the_pool():
    pool = InProcessPool()
    s = samples("p", ["3", "3", "4", "1/2", "4.0"])
    ev.vote_labels(s, get_checker("math"), pool)
    assert pool.calls == [[("3", "4"), ("3", "4.0"), ("4", "4.0")]]


def test_k_larger_than_the_samples_is_refused():
    with pytest.raises(ValueError, match="k <= the samples"):
        ev.sampled_metrics([problem("p")], samples("p", ["1/2", "2"]), Task(get_checker("math")),
                           InProcessPool(), [4])


# -- summaries and the eval.jsonl convention -----------------------------------------------------
def test_accuracy_overall_and_per_group_with_intervals():
    checker = get_checker("numeric")
    ps = [problem(f"p{i}", "5", digits=1 + i % 2) for i in range(10)]
    greedy = [sample(p.id, "5" if i < 6 else "4", "5", checker=checker) for i, p in enumerate(ps)]
    out = ev.accuracy(ps, greedy, Task(checker))
    assert out["eval/n"] == 10 and out["eval/n/digits=1"] == out["eval/n/digits=2"] == 5
    assert out["eval/accuracy"] == pytest.approx(0.6)
    assert (out["eval/accuracy_lo"], out["eval/accuracy_hi"]) == pytest.approx(ev.wilson(0.6, 10))
    assert out["eval/accuracy/digits=1"] == pytest.approx(3 / 5)  # p0 p2 p4 right, p6 p8 wrong
    assert out["eval/accuracy_lo/digits=2"] < out["eval/accuracy/digits=2"] < out["eval/accuracy_hi/digits=2"]
    assert not any("maj@" in k for k in out) and out["eval/tokens"] == 30


def test_accuracy_reads_greedy_and_sampled_attempts_from_one_file():
    checker = get_checker("numeric")
    ps = [problem("a", "5"), problem("b", "5")]
    greedy = [sample("a", "5", "5", checker=checker), sample("b", "4", "5", checker=checker)]
    sampled = [sample(pid, pred, "5", index=i, checker=checker)
               for pid, preds in (("a", ["4", "4", "5"]), ("b", ["5", "5", "6"])) for i, pred in enumerate(preds)]
    records = ev.join(greedy, sampled)
    assert sorted({s.index for s in records}) == [0, 1, 2, 3]
    assert ev.split(records) == (greedy, sampled)
    out = ev.accuracy(ps, records, Task(checker), InProcessPool(), [1, 3])
    assert out["eval/accuracy"] == 0.5
    assert out["eval/pass@1"] == pytest.approx(0.5) and out["eval/pass@3"] == 1.0
    assert out["eval/maj@3"] == 0.5  # a: 4 wins; b: 5 wins
    assert ev.accuracy(ps, records, Task(checker), InProcessPool())["eval/maj@3"] == 0.5  # k defaults to n


def test_a_problem_without_a_sample_counts_as_wrong():
    out = ev.accuracy([problem("a", "5"), problem("b", "5")], [sample("a", "5", "5", checker=get_checker("numeric"))],
                      Task(get_checker("numeric")))
    assert out["eval/accuracy"] == 0.5


def test_keys_parse_and_sort_naturally():
    assert ev.parse_key("eval/maj@8_lo/digits=3") == ("maj@8_lo", "digits=3")
    assert ev.parse_key("eval/accuracy") == ("accuracy", "")
    assert ev.parse_key("train/solved") is None
    keys = ["digits=10", "digits=9", "digits=1"]
    assert sorted(keys, key=ev.natural) == ["digits=1", "digits=9", "digits=10"]
