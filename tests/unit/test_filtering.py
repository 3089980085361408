import pytest

from star.filtering import select
from star.rationalization import unsolved
from star.types import Problem, Sample, Verdict


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


def test_hinted_samples_train_on_the_unhinted_prompt():
    [e] = select([s("p1", "rationale", hinted=True)], 1)
    assert e.prompt == "p1" and e.hinted and "hint" not in e.prompt


def test_cap_must_be_positive():
    with pytest.raises(ValueError, match="max_per_problem"):
        select([], 0)


def test_unsolved_lists_problems_without_a_correct_sample():
    ps = [Problem(id=i, question=i, answer="1") for i in "abc"]
    assert [p.id for p in unsolved(ps, [s("a", "x"), s("b", "y", Verdict.INCORRECT)])] == ["b", "c"]
