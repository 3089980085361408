"""Data loading for data-backed tasks: formats, numbers kept as text, field mapping, bad
rows reported by file and line (error, or skip and count), splits from separate files or
one file divided by a seed, hub datasets through datasets.load_dataset."""

from __future__ import annotations

import json

import pytest

from star.tasks.data import BadRow, DataError, Record, divide, map_fields, read_file, subsample
from star.tasks.gsm8k import GSM8K


def rows(path) -> list:
    return list(read_file(path))


def jsonl(*objs) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


# -- formats ------------------------------------------------------------------------------
def test_jsonl_keeps_numbers_as_their_text(write):
    path = write("a.jsonl", '{"q": "x", "a": 0.50}\n\n{"q": "y", "a": 7}\n')
    assert rows(path) == [Record(f"{path}:1", {"q": "x", "a": "0.50"}), Record(f"{path}:3", {"q": "y", "a": "7"})]


def test_csv_keeps_leading_zeros_and_reports_ragged_rows(write):
    path = write("a.csv", 'question,answer\n"what, with a comma",007\nshort\nx,1,extra\n')
    got = rows(path)
    assert got[0] == Record(f"{path}:2", {"question": "what, with a comma", "answer": "007"})
    assert isinstance(got[1], BadRow) and got[1].where == f"{path}:3"
    assert isinstance(got[2], BadRow) and got[2].where == f"{path}:4" and "3 cells" in got[2].reason


def test_tsv(write):
    path = write("a.tsv", "question\tanswer\nq1\t12\n")
    assert rows(path) == [Record(f"{path}:2", {"question": "q1", "answer": "12"})]


def test_json_array_rows_carry_their_line(write):
    path = write("a.json", '[\n  {"q": "x", "a": 1},\n  {"q": "y",\n   "a": 2.0}\n]\n')
    assert rows(path) == [Record(f"{path}:2", {"q": "x", "a": "1"}), Record(f"{path}:3", {"q": "y", "a": "2.0"})]


def test_json_array_with_a_syntax_error(write):
    path = write("a.json", '[\n {"q": "x"},\n {"q": oops}\n]')
    got = rows(path)
    assert got[0].data == {"q": "x"} and isinstance(got[1], BadRow) and got[1].where == f"{path}:3"


def test_json_lines_in_a_json_file(write):
    path = write("a.json", '{"q": "x"}\n{"q": "y"}\n')
    assert [r.data["q"] for r in rows(path)] == ["x", "y"]


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"question": ["q1", "q2"], "answer": ["#### 3", "#### 1,000"]}), path)
    task = GSM8K(data_files=str(path), eval_size=1)
    assert sorted(p.answer for p in task.load("train") + task.load("eval")) == ["1000", "3"]
    assert task.load("train")[0].id.startswith("a.parquet row ")


def test_unknown_format_and_missing_file_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="task.data_files: no such file"):
        GSM8K(data_files=str(tmp_path / "nope.jsonl"))
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="unknown data file format"):
        GSM8K(data_files=str(tmp_path / "a.txt"))


def test_no_data_configured_names_the_key():
    with pytest.raises(ValueError, match="task.data_files=PATH"):
        GSM8K()


# -- bad rows ------------------------------------------------------------------------------
BAD = ('{"question": "q1", "answer": "#### 4"}\n'
       '{"question": "q2", "answer": "#### 5"\n'  # malformed JSON (line 2)
       '{"question": "q3", "answer": ["#### 5"]}\n'  # an answer that is not text (line 3)
       '{"question": "q4", "answer": "no hashes here"}\n'  # not a number (line 4)
       '{"question": "q5", "answer": "#### 6"}\n')


def test_bad_rows_are_an_error_listing_file_and_line(write):
    path = write("bad.jsonl", BAD)
    task = GSM8K(data_files=str(path))
    with pytest.raises(DataError) as e:
        task.load("train")
    msg = str(e.value)
    assert "3 bad row(s) of 5" in msg and "task.on_bad_row=skip" in msg
    assert f"{path}:2: malformed JSON" in msg
    assert f"{path}:3: field 'answer' should be text" in msg
    assert f"{path}:4: the answer should end in '#### <number>'" in msg


def test_skip_mode_skips_and_counts(write):
    path = write("bad.jsonl", BAD)
    task = GSM8K(data_files=str(path), on_bad_row="skip", eval_size=0)
    assert [p.question for p in task.load("train")] == ["q1", "q5"]
    assert [b.where for b in task.bad_rows()] == [f"{path}:2", f"{path}:3", f"{path}:4"]


def test_duplicate_ids_are_bad_rows(write):
    path = write("dup.jsonl", jsonl({"id": "a", "question": "q", "answer": "1"},
                                    {"id": "a", "question": "r", "answer": "2"}))
    with pytest.raises(DataError, match=r"dup.jsonl:2: duplicate id 'a' \(first at .*dup.jsonl:1\)"):
        GSM8K(data_files=str(path)).load("train")


def test_bad_on_bad_row_value():
    with pytest.raises(ValueError, match="task.on_bad_row"):
        GSM8K(data_files="x.jsonl", on_bad_row="ignore")


# -- field mapping -------------------------------------------------------------------------
def test_map_fields_dotted_paths_and_fallbacks():
    row = {"q": {"stem": "s"}, "ans": 3, "other": None}
    got = map_fields(row, {"question": "q.stem", "answer": ["answer", "ans"], "x": "other"}, ["question", "answer"])
    assert got == {"question": "s", "answer": 3}


def test_custom_field_mapping(write):
    path = write("mine.jsonl", jsonl({"prompt": {"text": "How many?"}, "target": "#### 12", "uid": "u1"}))
    task = GSM8K(data_files=str(path), fields={"question": "prompt.text", "answer": "target", "id": "uid"},
                 eval_size=0)
    assert task.load("train")[0].question == "How many?" and task.load("train")[0].id == "u1"


# -- splits --------------------------------------------------------------------------------
def test_divide_by_seed_is_deterministic_and_disjoint():
    items = list(range(100))
    train, evals = divide(items, 0.2, seed=1)
    assert len(evals) == 20 and sorted(train + evals) == items and train == sorted(train)
    assert divide(items, 0.2, seed=1) == (train, evals)
    assert divide(items, 0.2, seed=2)[1] != evals
    assert len(divide(items, 30, seed=1)[1]) == 30
    with pytest.raises(DataError, match="eval_size"):
        divide(items, 101, seed=1)


def test_one_file_is_divided_by_the_task_seed(write):
    path = write("all.jsonl", jsonl(*({"question": f"q{i}", "answer": str(i)} for i in range(50))))
    a = GSM8K(data_files=str(path), eval_size=10, seed=3)
    b = GSM8K(data_files=str(path), eval_size=10, seed=4)
    assert len(a.load("eval")) == 10 and len(a.load("train")) == 40
    assert not {p.id for p in a.load("eval")} & {p.id for p in a.load("train")}
    assert {p.id for p in a.load("eval")} != {p.id for p in b.load("eval")}


def test_train_and_eval_from_different_files(write):
    tr = write("train.jsonl", jsonl(*({"question": f"t{i}", "answer": str(i)} for i in range(6))))
    ev = write("test.jsonl", jsonl({"question": "e", "answer": "9"}))
    for files in ({"train": str(tr), "eval": str(ev)}, {"train": str(tr), "test": str(ev)}):
        task = GSM8K(data_files=files)  # "test" is found through task.split's eval: test
        assert len(task.load("train")) == 6 and [p.question for p in task.load("eval")] == ["e"]
    with pytest.raises(DataError, match="no entry for the 'eval' split"):
        GSM8K(data_files={"train": str(tr)}).load("eval")
    divided = GSM8K(data_files={"train": str(tr)}, split="train", eval_size=2)
    assert len(divided.load("eval")) == 2 and len(divided.load("train")) == 4


def test_train_size_caps_the_pool_with_the_seed(write):
    path = write("all.jsonl", jsonl(*({"question": f"q{i}", "answer": str(i)} for i in range(40))))
    task = GSM8K(data_files=str(path), eval_size=0, train_size=5)
    assert len(task.load("train")) == 5 and task.load("train") == task.load("train")
    assert subsample([1, 2, 3], None, 0, "x") == [1, 2, 3]


def test_a_list_of_files_is_one_source(write):
    a = write("a.jsonl", jsonl({"question": "qa", "answer": "1"}))
    b = write("b.csv", "question,answer\nqb,2\n")
    task = GSM8K(data_files=[str(a), str(b)], eval_size=0)
    assert [p.id for p in task.load("train")] == ["a.jsonl:1", "b.csv:2"]


# -- hub datasets (datasets.load_dataset, stubbed: nothing is downloaded in tests) -------------
def test_hub_dataset_through_load_dataset(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, subset=None, split=None, data_files=None):
        calls.append((name, subset, split))
        n = {"train": 4, "test": 2}[split]
        return datasets.Dataset.from_list([{"question": f"{split}{i}", "answer": f"#### {i}"} for i in range(n)])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    task = GSM8K(dataset="openai/gsm8k", subset="main")
    assert len(task.load("train")) == 4 and len(task.load("eval")) == 2
    assert calls == [("openai/gsm8k", "main", "train"), ("openai/gsm8k", "main", "test")]
    assert task.load("eval")[0].id == "gsm8k[test] row 1"
    one = GSM8K(dataset="openai/gsm8k", subset="main", split="train", eval_size=1)
    assert len(one.load("train")) == 3 and len(one.load("eval")) == 1


def test_hub_errors_name_the_dataset(monkeypatch):
    import datasets

    def boom(*a, **k):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", boom)
    with pytest.raises(DataError, match="task.dataset='openai/gsm8k'.*no network"):
        GSM8K(dataset="openai/gsm8k").load("train")


def test_rows_without_an_answer_are_unlabeled_training_problems(write):
    """A training row without its answer field is a problem without gold (loop.labels=majority
    trains on it; loop.labels=gold refuses it, naming this row); the eval split needs gold."""
    path = write("half.jsonl", '{"question": "q1", "answer": "#### 4"}\n{"question": "q2"}\n')
    task = GSM8K(data_files={"train": str(path), "eval": str(path)}, split={"train": "train", "eval": "eval"})
    one, two = task.load("train")
    assert one.answer == "4" and two.answer == "" and two.question == "q2"
    assert two.meta["unlabeled"].startswith(f"{path}:2: no ") and "task.fields.answer" in two.meta["unlabeled"]
    with pytest.raises(DataError, match=rf"'eval' split needs a gold answer.*{path}:2: no "):
        task.load("eval")
