"""The one line the loop logs per iteration."""

from star.evaluation import summary


def test_summary_line_with_groups_train_side_and_seconds():
    row = {"iteration": 1, "eval/accuracy": 0.5, "eval/accuracy_lo": 0.4, "eval/accuracy_hi": 0.6,
           "eval/accuracy/digits=2": 0.75, "train/solved": 3, "train/problems": 8, "train/rationalized": 1,
           "train/accepted": 4, "time/train_s": 12.4}
    assert summary(row) == ("iter 1 | eval acc 0.500 [0.400,0.600] (digits=2:0.75) | "
                            "solved 3/8 rationalized 1 accepted 4 | train 12s")


def test_summary_line_of_a_task_without_groups_has_no_empty_brackets():
    row = {"iteration": 0, "eval/accuracy": 0.0, "eval/accuracy_lo": 0.0, "eval/accuracy_hi": 0.1, "time/eval_s": 2}
    assert summary(row) == "iter 0 | eval acc 0.000 [0.000,0.100] | eval 2s"
