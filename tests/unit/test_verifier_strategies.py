"""Test-time strategies with a verifier's scores (star.evaluation): best-of-k picks the
top-scored candidate, weighted votes are grouped by the checker's equivalence, both
block-averaged like maj@k; and the scaling table and figures that show them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from star import evaluation as ev
from star import report
from star.checkers import get_checker
from star.types import Problem, Sample, Verdict


class InProcessPool:
    """CheckPool's interface, checking in this process."""

    def check(self, checker, pairs, problems=None):
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


MATH = Task(get_checker("math"))


def test_best_of_k_picks_the_top_scored_candidate():
    s = samples("p", ["7", "1/2", "8", "9"])  # only the second is right
    assert ev.best_of_values([problem("p")], s, [0.1, 2.0, -1.0, 0.5], 4) == {"p": 1.0}
    assert ev.best_of_values([problem("p")], s, [0.1, -2.0, -1.0, 0.5], 4) == {"p": 0.0}  # 9 is top


def test_best_of_k_ties_go_to_the_sample_seen_first():
    s = samples("p", ["1/2", "7"])
    assert ev.best_of_values([problem("p")], s, [1.0, 1.0], 2) == {"p": 1.0}
    assert ev.best_of_values([problem("p")], samples("p", ["7", "1/2"]), [1.0, 1.0], 2) == {"p": 0.0}


def test_best_of_k_averages_disjoint_blocks_and_bon_at_1_is_pass_at_1():
    preds = ["1/2", "7", "7", "0.5", "8", "9", "1/2", "3"]
    scores = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 5.0, 0.0]  # blocks of 2: 7 top, 0.5 top, 8 (tie), 1/2 top
    s = samples("p", preds)
    out = ev.sampled_metrics([problem("p")], s, MATH, InProcessPool(), [1, 2, 8], scores)
    assert out["eval/bon@1"] == pytest.approx(out["eval/pass@1"]) == pytest.approx(3 / 8)
    assert out["eval/bon@2"] == pytest.approx(2 / 4)
    assert out["eval/bon@8"] == 1.0  # 1/2 at 5.0 is the top of all eight


def test_weighted_votes_are_grouped_by_the_checkers_equivalence():
    # gold 1/3; the wrong 1/2, 0.5 and 2/4 are one answer. Each wrong sample weighs less than
    # the gold one, but together they outweigh it: exp(-0.5) * 3 = 1.82 > 1.
    s = samples("p", ["1/2", "0.5", "2/4", "1/3"], gold="1/3")
    labels = ev.vote_labels(s, get_checker("math"), InProcessPool())
    assert not ev.weighted_majority_correct(labels, [1.0, 1.0, 1.0, 1.5])
    # ... where strings would each weigh 0.61 and lose to the gold's 1.0
    assert ev.weighted_majority_correct([1, 2, 3, ev.GOLD], [1.0, 1.0, 1.0, 1.5])
    # a sharper verifier makes the gold win: 3 * exp(-2) = 0.41 < 1
    assert ev.weighted_majority_correct(labels, [0.0, 0.0, 0.0, 2.0])
    out = ev.sampled_metrics([problem("p", "1/3")], s, MATH, InProcessPool(), [4], [1.0, 1.0, 1.0, 1.5])
    assert out["eval/wmaj@4"] == 0.0 and out["eval/bon@4"] == 1.0 and out["eval/maj@4"] == 0.0


def test_weights_are_exp_scores_a_flat_verifier_is_maj_and_a_sharp_one_bon():
    s = samples("p", ["7", "1/2", "7", "1/2", "7", "8"])  # 7 x3 beats gold x2 by votes
    labels = ev.vote_labels(s, get_checker("math"), InProcessPool())
    assert not ev.majority_correct(labels) and not ev.weighted_majority_correct(labels, [0.0] * 6)
    assert ev.weighted_majority_correct(labels, [0.0, 0.0, 0.0, 50.0, 0.0, 0.0])  # one top sample decides
    # exactly at the balance: 3 * e^0 = 2 * e^x for x = log(1.5); a little more tips it
    assert not ev.weighted_majority_correct(labels, [0, math.log(1.5) - 1e-6, 0, math.log(1.5) - 1e-6, 0, -50])
    assert ev.weighted_majority_correct(labels, [0, math.log(1.5) + 1e-6, 0, math.log(1.5) + 1e-6, 0, -50])


def test_weighted_votes_ignore_samples_without_an_answer_and_ties_go_to_the_first_seen():
    assert ev.weighted_majority_correct([None, ev.GOLD, 1], [99.0, 0.0, 0.0])  # a tie: gold seen first
    assert not ev.weighted_majority_correct([None, 1, ev.GOLD], [99.0, 0.0, 0.0])
    assert not ev.weighted_majority_correct([None, None], [1.0, 2.0])


def test_accuracy_takes_scores_keyed_by_the_eval_records_index():
    checker = get_checker("numeric")
    ps = [problem("a", "5", digits=1), problem("b", "5", digits=2)]
    greedy = [sample("a", "4", "5", checker=checker), sample("b", "4", "5", checker=checker)]
    sampled = [sample(pid, pred, "5", index=i, checker=checker)
               for pid, preds in (("a", ["4", "4", "5"]), ("b", ["6", "5", "6"])) for i, pred in enumerate(preds)]
    records = ev.join(greedy, sampled)
    scores = {("a", 1): 0.0, ("a", 2): 0.0, ("a", 3): 3.0, ("b", 1): 0.0, ("b", 2): 1.0, ("b", 3): 0.0}
    out = ev.accuracy(ps, records, Task(checker), InProcessPool(), [3], scores)
    assert out["eval/maj@3"] == 0.0 and out["eval/pass@3"] == 1.0
    assert out["eval/bon@3"] == 1.0 and out["eval/bon@3/digits=1"] == out["eval/bon@3/digits=2"] == 1.0
    # a: gold e^0 = 1 against 4: 2 e^-3; b: gold 1 against 6: 2 e^-1 = 0.74
    assert out["eval/wmaj@3"] == 1.0
    assert (out["eval/bon@3_lo"], out["eval/bon@3_hi"]) == pytest.approx(ev.wilson(1.0, 2))
    assert "eval/bon@3" not in ev.accuracy(ps, records, Task(checker), InProcessPool(), [3])
    with pytest.raises(KeyError):  # a score missing for a sampled record is an error, not a zero
        ev.accuracy(ps, records, Task(checker), InProcessPool(), [3], {("a", 1): 0.0})


def test_scaling_table_and_figures_show_the_verifier_strategies():
    r: dict = {"iteration": 0, "eval/accuracy": 0.5, "eval/accuracy_lo": 0.4, "eval/accuracy_hi": 0.6,
               "eval/accuracy/digits=2": 0.6, "eval/n": 10, "eval/tokens": 1000, "eval/sample_tokens": 12.5,
               "eval/seconds": 3.25, "eval/score_candidates": 160, "eval/score_tokens": 20000,
               "eval/score_seconds": 1.5}
    for k, values in ((1, (0.4, 0.4, 0.4, 0.4)), (4, (0.5, 0.7, 0.6, 0.8))):
        for m, v in zip(("maj", "bon", "wmaj", "pass"), values, strict=True):
            r |= {f"eval/{m}@{k}": v, f"eval/{m}@{k}_lo": v - 0.1, f"eval/{m}@{k}_hi": v + 0.1,
                  f"eval/{m}@{k}/digits=2": v + 0.05}
    text = report.scaling_table([r], [1, 4])
    assert "bon@k (the verifier's top-scored of k samples)" in text
    header = next(line.split() for line in text.splitlines() if line.strip().startswith("iter "))
    assert header == ["iter", "k", "maj@k", "bon@k", "wmaj@k", "pass@k", "digits=2"]
    row4 = next(line.split() for line in text.splitlines() if line.strip().startswith("0  4") or
                line.split()[:2] == ["0", "4"])
    assert row4[2] == "50.0" and row4[5] == "70.0" and row4[8] == "60.0" and row4[11] == "80.0"
    assert row4[-7:] == ["55.0", "/", "75.0", "/", "65.0", "/", "85.0"]
    assert ("iter 0: generation 1000 tokens in 3.2 s; scoring 160 candidates, 20000 forward-pass tokens in 1.5 s"
            in text)
    assert report.tokens_per_problem(r, 4) == 50.0
    png = b"\x89PNG"
    assert report.plot_scaling([r], [1, 4]).startswith(png)
    assert report.plot_scaling([r], [1, 4], x="tokens").startswith(png)
