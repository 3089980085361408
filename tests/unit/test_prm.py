"""The process reward model's data and search (star.prm), without a model: steps split and join
back; Math-Shepherd labels from rollouts on a tiny case whose answers are known (a fake
generator reaches the gold answer from a prefix iff the prefix is right), soft and hard;
their agreement with a task's check_steps; step-level beam search with a fake step generator
and a fake scorer keeps the top beams, expands only those, stops at an answer and counts
every generated token."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from checkers import get_checker
from star import prm, verifiers
from star.generation import Completion
from star.types import Problem


class InProcessPool:
    """CheckPool's interface, checking in this process."""

    def check(self, checker, pairs, problems=None):
        return [checker.check(gold, pred) for gold, pred in pairs]


@dataclass
class Sums:
    """A two-number sum in steps: 'a=X' and 'b=Y' lines, then 'A: X+Y'."""

    checker: object = None
    stop: tuple = ()

    def __post_init__(self):
        self.checker = get_checker("exact")

    def extract_answer(self, completion: str):
        last = completion.strip().splitlines()[-1] if completion.strip() else ""
        return last[2:].strip() if last.startswith("A:") else None

    def max_new_tokens(self, problem):
        return 50

    def check_steps(self, problem, completion):
        a, b = problem.question.split("+")
        lines = completion.strip().splitlines()
        want = [f"a={a}", f"b={b}", f"A: {int(a) + int(b)}"]
        return [i < len(lines) and lines[i].strip() == w for i, w in enumerate(want)] + [False] * (len(lines) - 3)


PROBLEM = Problem(id="p", question="2+3", answer="5")


class RightPrefixReachesGold:
    """From a prompt + prefix, `good` of each n rollouts reach the gold answer when every line
    of the prefix is right (a=2, b=3), none when one is wrong."""

    def __init__(self, good: int):
        self.good, self.calls = good, []

    def generate(self, prompts, n=1, temperature=0.0, max_new_tokens=256, stop=(), seed=0, desc=""):
        self.calls.append(list(prompts))
        out = []
        for p in prompts:
            prefix = p.removeprefix("Q: 2+3\n")
            right = all(line in ("a=2", "b=3") for line in prefix.splitlines())
            rest = "b=3\n" if prefix.count("\n") == 1 else ""
            out.append([Completion(rest + ("A: 5" if right and j < self.good else "A: 6"), 3) for j in range(n)])
        return out


def items():
    return [prm.Solution("p", "Q: 2+3\n", "2+3\n", "a=2\nb=3\nA: 5", True),
            prm.Solution("p", "Q: 2+3\n", "2+3\n", "a=2\nb=4\nA: 6", False),
            prm.Solution("p", "Q: 2+3\n", "2+3\n", "a=7\nb=3\nA: 5", True)]  # right answer, wrong step


def test_steps_split_after_the_delimiter_and_join_back():
    text = "a=2\nb=3\n\nA: 5"
    assert verifiers.split_steps(text) == ["a=2\n", "b=3\n\n", "A: 5"]
    assert "".join(verifiers.split_steps(text)) == text
    assert verifiers.split_steps("x; y; z", "; ") == ["x; ", "y; ", "z"]
    assert verifiers.split_steps("a\nb\n") == ["a\n", "b\n"]

    class Task:
        step_delimiter = "; "

    assert verifiers.step_delimiter(Task()) == "; " and verifiers.step_delimiter(object()) == "\n"


def test_rollout_labels_are_the_share_of_rollouts_reaching_gold():
    gen = RightPrefixReachesGold(good=3)
    made = prm.rollout_labels(gen, Sums(), InProcessPool(), {"p": PROBLEM}, items(), n=4, temperature=1.0, seed=0)
    # every prefix but the last step's, in one generate call, continuing the generation prompt
    assert gen.calls == [["Q: 2+3\na=2\n", "Q: 2+3\na=2\nb=3\n", "Q: 2+3\na=2\n", "Q: 2+3\na=2\nb=4\n",
                          "Q: 2+3\na=7\n", "Q: 2+3\na=7\nb=3\n"]]
    assert [e.labels for e in made] == [(0.75, 0.75, 1.0), (0.75, 0.0, 0.0), (0.0, 0.0, 1.0)]
    assert made[0].steps == ("a=2\n", "b=3\n", "A: 5") and made[0].prompt == "2+3\n"  # the training prompt
    assert prm.StepExample.from_dict(made[1].to_dict()) == made[1]


def test_hard_labels_say_whether_any_rollout_reaches_gold():
    made = prm.rollout_labels(RightPrefixReachesGold(good=1), Sums(), InProcessPool(), {"p": PROBLEM}, items(), n=4,
                              temperature=1.0, seed=0, hard=True)
    assert [e.labels for e in made] == [(1.0, 1.0, 1.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)]


def test_rollout_labels_agree_with_the_tasks_step_check():
    made = prm.rollout_labels(RightPrefixReachesGold(good=4), Sums(), InProcessPool(), {"p": PROBLEM}, items(), n=2,
                              temperature=1.0, seed=0)
    a = prm.label_agreement(Sums(), {"p": PROBLEM}, made)
    # the right-answer-wrong-step solution's answer line is labeled right by its own verdict; the
    # task calls it right too (its answer line states a+b), so only b=3 after a=7 disagrees
    assert (a.steps, a.completions, a.unaligned) == (9, 3, 0)
    assert a.agree == 8 and a.true_steps == 6 and a.accuracy == pytest.approx(8 / 9)
    assert a.true_agree == 5 and a.balanced == pytest.approx((5 / 6 + 3 / 3) / 2)
    assert prm.label_agreement(object(), {"p": PROBLEM}, made) is None


def test_solutions_alternate_incorrect_and_correct_and_cap_per_problem():
    cands = {"p": (["c1", "c2", "c3"], ["w1"])}
    out = prm.solutions(cands, {"p": "Q"}, {"p": "T"}, per_problem=3, seed=0)
    assert len(out) == 3 and out[0].completion == "w1" and not out[0].correct
    assert all(s.correct for s in out[1:]) and {s.prompt for s in out} == {"Q"} and {s.train_prompt for s in out} == {"T"}
    assert out == prm.solutions(cands, {"p": "Q"}, {"p": "T"}, per_problem=3, seed=0)


def test_a_solution_score_is_its_weakest_or_last_step():
    assert verifiers.aggregate([0.9, 0.2, 0.7]) == 0.2
    assert verifiers.aggregate([0.9, 0.2, 0.7], "last") == 0.7
    assert verifiers.aggregate([]) == 0.0


# -- beam search -----------------------------------------------------------------------------------------
class StepTree:
    """Next steps of a prefix: after k steps, candidates 's{k}{x}' for x in `letters`; the third
    step is the answer line 'A: <letters so far>'. Each candidate costs 2 tokens."""

    def __init__(self, letters="abc"):
        self.letters, self.calls = letters, []

    def generate(self, prompts, n=1, temperature=0.0, max_new_tokens=256, stop=(), seed=0, desc=""):
        self.calls.append(list(prompts))
        out = []
        for p in prompts:
            prefix = p.removeprefix("Q\n")
            k = prefix.count("\n")
            picked = [ln[-1] for ln in prefix.splitlines()]
            out.append([Completion(f"A: {''.join(picked)}" if k == 2 else f"s{k}{x}", 2)
                        for x in self.letters[:n]])
        return out


class Answer:
    checker = None
    stop = ()

    def extract_answer(self, completion):
        last = completion.strip().splitlines()[-1] if completion.strip() else ""
        return last[2:].strip() if last.startswith("A:") else None

    def max_new_tokens(self, problem):
        return 100


def letter_score(prompts, completions):
    """c beats b beats a at the first step, a beats b beats c at the second."""
    out = []
    for c in completions:
        lines = [ln for ln in c.splitlines() if ln.startswith("s")]
        first = {"a": 0, "b": 1, "c": 2}[lines[0][-1]] if lines else 0
        second = {"a": 2, "b": 1, "c": 0}[lines[1][-1]] if len(lines) > 1 else 0
        out.append(10 * first + second)
    return out


def test_beam_search_keeps_the_top_beams_and_expands_only_them():
    gen = StepTree()
    [r] = prm.beam_search(gen, letter_score, Answer(), [Problem("p", "q", "ca")], ["Q\n"], ["T\n"], width=2,
                          expansions=3, temperature=1.0, seed=0)
    # step 1: s0a, s0b, s0c scored 0, 10, 20: c and b stay; step 2 expands only those two
    assert gen.calls[0] == ["Q\n"]
    assert sorted(gen.calls[1]) == ["Q\ns0b\n", "Q\ns0c\n"]
    # step 2's top two by score: c then a (22), c then b (21); step 3 writes their answers
    assert sorted(gen.calls[2]) == ["Q\ns0c\ns1a\n", "Q\ns0c\ns1b\n"]
    assert r.completion == "s0c\ns1a\nA: ca" and r.pred == "ca" and r.finished and r.steps == 3
    # every generated candidate's tokens: 3 + 2 beams x 3 + 2 beams x 3 (their answers, deduplicated after)
    assert r.tokens == 2 * (3 + 6 + 6)
    assert len(gen.calls) == 3  # all beams finished: no fourth round


def test_beam_search_stops_at_the_step_limit_and_budget():
    gen = StepTree()
    [r] = prm.beam_search(gen, letter_score, Answer(), [Problem("p", "q", "ca")], ["Q\n"], ["T\n"], width=1,
                          expansions=2, temperature=1.0, seed=0, max_steps=1)
    assert len(gen.calls) == 1 and r.finished and r.pred is None and r.completion == "s0b"

    class Tight(Answer):
        def max_new_tokens(self, problem):
            return 4  # two steps of 2 tokens

    gen = StepTree()
    [r] = prm.beam_search(gen, letter_score, Tight(), [Problem("p", "q", "ca")], ["Q\n"], ["T\n"], width=1,
                          expansions=3, temperature=1.0, seed=0)
    assert len(gen.calls) == 2 and r.completion == "s0c\ns1a" and r.tokens == 12


def test_the_beam_table_puts_beam_search_on_the_tokens_axis_of_k_samples():
    from star.eval_cli import Search, beam_rows, beam_table

    rows = [{"iteration": 0, "eval/sample_tokens": 10.0, "eval/maj@1": 0.2, "eval/maj@4": 0.3, "eval/bon@4": 0.35,
             "eval/pass@1": 0.2, "eval/pass@4": 0.5, "eval/beam_accuracy": 0.4, "eval/beam_tokens": 33.0},
            {"iteration": 1, "eval/sample_tokens": 10.0, "eval/maj@1": 0.2}]  # no beam search: no rows
    table = beam_rows(rows, [1, 4])
    assert {(x["strategy"], x["tokens"]) for x in table} == {("beam", 33.0), ("maj@1", 10.0), ("pass@1", 10.0),
                                                             ("maj@4", 40.0), ("bon@4", 40.0), ("pass@4", 40.0)}
    text = beam_table(table, "text", Search(Path("prm-abc"), 4, 2, 32)).splitlines()
    order = [ln.split()[1] for ln in text if ln[:1].isdigit()]
    assert order.index("beam") == 2 and order[-1] in ("maj@4", "bon@4", "pass@4")  # 10 < 33 < 40 tokens
    assert "| 0 | beam | 33 | 40.0 |" in beam_table(table, "markdown", Search(Path("prm-abc"), 4, 2, 32))


def test_the_prms_step_agreement_counts_its_scoring_cost():
    class Scorer:
        delimiter = "\n"

        def __init__(self):
            self.tokens = 0

        def step_scores(self, prompts, completions, desc=""):
            self.tokens += 7
            return [[0.9 if "4" not in line else 0.1 for line in c.splitlines()] for c in completions]

        def cost(self):
            return {"tokens": self.tokens, "seconds": 0.0, "candidates": 0}

    a = prm.step_agreement(Sums(), {"p": PROBLEM}, ["2+3\n"] * 3, ["a=2\nb=3\nA: 5", "a=2\nb=4\nA: 6", "a=2\nA: 5"],
                           ["p", "p", "p"], Scorer())
    # the third has two steps where the task judges three: left out, not misaligned
    assert (a.steps, a.agree, a.unaligned, a.completions, a.tokens) == (6, 5, 1, 3, 7)  # A: 6 is scored right
    assert prm.step_agreement(object(), {}, [], [], [], Scorer()) is None


def test_the_beam_figure_draws(tmp_path: Path):
    from star.eval_cli import beam_figure

    table = [{"iteration": 0, "strategy": s, "tokens": t, "accuracy": a}
             for s, t, a in (("maj@1", 10.0, 0.2), ("maj@4", 40.0, 0.3), ("bon@4", 40.0, 0.35), ("beam", 33.0, 0.4))]
    assert beam_figure(table, "demo")[:8] == b"\x89PNG\r\n\x1a\n"
