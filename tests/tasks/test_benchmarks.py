"""What each built-in benchmark reads from its published format, and how it hints."""

from __future__ import annotations

import json

import pytest
from task_helpers import FIXTURES

from star.tasks.commonsenseqa import CommonsenseQA
from star.tasks.data import DataError
from star.tasks.gsm8k import GSM8K
from star.tasks.math import MATH


def all_problems(task):
    return task.load("train") + task.load("eval")


# -- GSM8K ---------------------------------------------------------------------------------
def test_gsm8k_gold_is_the_number_after_hashes_without_commas():
    task = GSM8K(data_files=str(FIXTURES / "gsm8k.jsonl"), eval_size=0)
    by_q = {p.question[:12]: p for p in task.load("train")}
    assert by_q["A school ord"].answer == "1500"  # "#### 1,500"
    assert by_q["Tom had $40 "].answer == "-15"
    assert by_q["Ravi has 3 b"].meta["steps"] == 2 and task.groups(by_q["Ravi has 3 b"]) == {"steps": "2"}


def test_gsm8k_hint_is_the_final_number_only():
    task = GSM8K(data_files=str(FIXTURES / "gsm8k.jsonl"), eval_size=0, num_fewshot=0)
    p = task.load("train")[0]
    hinted = task.prompt(p, hint=p.answer)
    assert hinted == f"Question: {p.question}\nHint: the final answer is 26.\nAnswer:"
    assert "<<" not in hinted and "36 - 10" not in hinted  # nothing of the worked solution


def test_gsm8k_extracts_the_answer_line():
    task = GSM8K(data_files=str(FIXTURES / "gsm8k.jsonl"))
    assert task.extract_answer(" 3 * 4 = 12\n#### 12") == "12"
    assert task.extract_answer(" so the answer is 1,500.") == "1500"
    assert task.extract_answer(" 3 * 4 = 12 and that is all") is None  # no answer stated


def test_gsm8k_seed_rationales_from_solutions():
    task = GSM8K(data_files=str(FIXTURES / "gsm8k.jsonl"), eval_size=0, seed_size=2)
    seeds = task.seed_rationales()
    assert len(seeds) == len(task.EXEMPLARS) + 2
    p, completion = seeds[-2]
    assert completion == " Ravi has 3 * 12 = 36 pencils.\nAfter giving some away he has 36 - 10 = 26 pencils.\n#### 26"


def test_gsm8k_plain_number_answers(write):
    path = write("mine.jsonl", json.dumps({"question": "1+1?", "answer": "2"}) + "\n")
    p = GSM8K(data_files=str(path), eval_size=0).load("train")[0]
    assert p.answer == "2" and "solution" not in p.meta


# -- MATH ----------------------------------------------------------------------------------
def test_math_groups_are_level_and_subject():
    task = MATH(data_files=str(FIXTURES / "math.jsonl"), eval_size=0)
    p = task.load("train")[0]
    assert task.groups(p) == {"level": "1", "subject": "Prealgebra"} and p.id == "test/prealgebra/1.json"


def test_math_original_format_takes_the_last_box():
    task = MATH(data_files=str(FIXTURES / "math_original.json"), eval_size=0)
    got = [(p.answer, task.groups(p)) for p in task.load("train")]
    assert got == [("56", {"level": "1", "subject": "Prealgebra"}),
                   ("x^2 + 2x + 1", {"level": "2", "subject": "Algebra"}),
                   ("6", {"level": "2", "subject": "Counting & Probability"})]


def test_math_row_without_any_answer_is_bad(write):
    path = write("m.jsonl", json.dumps({"problem": "p", "solution": "no box"}) + "\n")
    with pytest.raises(DataError, match=r"m.jsonl:1: no `answer` field and no \\boxed"):
        MATH(data_files=str(path)).load("train")


def test_math_extracts_the_last_box_only():
    task = MATH(data_files=str(FIXTURES / "math.jsonl"))
    assert task.extract_answer("so $x = \\boxed{4}$. Check: our answer is correct.") == "4"
    assert task.extract_answer("the answer is 4") is None


# -- CommonsenseQA ---------------------------------------------------------------------------
def test_commonsenseqa_hint_marks_the_correct_choice():
    task = CommonsenseQA(data_files=str(FIXTURES / "commonsenseqa.jsonl"), eval_size=0, num_fewshot=0)
    p = next(p for p in task.load("train") if p.id == "fx001")
    plain, hinted = task.prompt(p), task.prompt(p, hint=p.answer)
    assert "(C) rainy street\n" in plain and "(C) rainy street (CORRECT)\n" in hinted
    assert hinted.replace(" (CORRECT)", "") == plain
    assert task.extract_answer(" Umbrellas keep rain off. The answer is (C).") == "C"
    assert task.extract_answer(" It is (A) or (C).") is None


def test_commonsenseqa_hub_format(write):
    row = {"id": "h1", "question": "Where do fish live?", "question_concept": "fish",
           "choices": {"label": ["A", "B", "C", "D", "E"], "text": ["sea", "sky", "oven", "desk", "car"]},
           "answerKey": "A"}
    p = CommonsenseQA(data_files=str(write("hf.jsonl", json.dumps(row) + "\n")), eval_size=0).load("train")[0]
    assert p.question == "Where do fish live?" and p.meta["choices"][0] == ["A", "sea"] and p.answer == "A"


def test_commonsenseqa_answer_key_must_be_a_choice(write):
    row = {"id": "x", "answerKey": "F", "question": {"stem": "s", "choices": [
        {"label": "A", "text": "a"}, {"label": "B", "text": "b"}]}}
    with pytest.raises(DataError, match="answer 'F' is not one of the choice labels"):
        CommonsenseQA(data_files=str(write("c.jsonl", json.dumps(row) + "\n"))).load("train")


def test_too_many_fewshot_names_the_key():
    with pytest.raises(ValueError, match="task.num_fewshot=9"):
        CommonsenseQA(data_files=str(FIXTURES / "commonsenseqa.jsonl"), num_fewshot=9)
