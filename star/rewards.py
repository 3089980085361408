"""Verifiable rewards for online RL (algorithm=grpo): a task's checker as a reward function.

`TaskReward` is a reward function in the shape TRL's GRPOTrainer calls
(`prompts`, `completions`, `completion_ids`, and the dataset's other columns as keyword
lists; one float per completion). Each completion is judged as the STaR loop judges an
attempt (star.attempts): cut at the task's stop strings, its answer extracted with
`task.extract_answer`, and checked against the gold answer through the run's CheckPool,
so sympy never runs in the trainer's process and a stuck check is killed at the pool's
timeout (its verdict UNVERIFIABLE). The reward is

    correct * [verdict is CORRECT] + format * [an answer was extracted and the verdict is not UNVERIFIABLE]

with the weights from `algorithm.reward.*`: an unverifiable completion gets no reward at
all, never a positive one (the format reward included), and a wrong one at most the
format reward. The object also keeps what the round generated: completion tokens and
verdict counts, which the round's metrics row reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean, pstdev
from typing import Any

from star.generation import truncate_at_stop
from star.types import Problem, Task, Verdict


@dataclass(frozen=True)
class Judged:
    """One completion as the reward saw it."""

    pred: str | None
    verdict: Verdict
    reward: float


class TaskReward:
    """A reward function over a task's problems; `problem_id` is the dataset column that
    names each completion's problem (its gold answer and stop strings come from there)."""

    __name__ = "task_reward"  # TRL names a callable's metrics after it (rewards/task_reward/mean)

    def __init__(self, task: Task, problems: Sequence[Problem], pool, correct: float = 1.0, format: float = 0.0,
                 eos: Sequence[int] = ()):
        if correct < 0 or format < 0:
            raise ValueError(f"reward weights must be >= 0, got correct={correct}, format={format}")
        self.task, self.pool, self.correct, self.format = task, pool, correct, format
        self.problems: Mapping[str, Problem] = {p.id: p for p in problems}
        self.eos = set(eos)  # a completion's closing EOS is not a generated token (as the loop counts)
        self.tokens = 0  # completion tokens judged so far
        self.verdicts: Counter[str] = Counter()
        self.completions = 0

    def judge(self, problem_ids: Sequence[str], completions: Sequence[str]) -> list[Judged]:
        """Extract and check each completion of its problem; never raises on model output."""
        stop = list(self.task.stop)
        preds = []
        for text in completions:
            try:
                preds.append(self.task.extract_answer(truncate_at_stop(_text(text), stop)))
            except Exception:  # extract_answer is total by contract; a plugin's may not be
                preds.append(None)
        owners = [self.problems[i] for i in problem_ids]
        pairs = [(p.answer, pred) for p, pred in zip(owners, preds, strict=True)]
        verdicts = self.pool.check(self.task.checker, pairs, owners) if pairs else []
        return [Judged(pred, v, self.value(pred, v)) for pred, v in zip(preds, verdicts, strict=True)]

    def value(self, pred: str | None, verdict: Verdict) -> float:
        if verdict is Verdict.UNVERIFIABLE:
            return 0.0
        return self.correct * (verdict is Verdict.CORRECT) + self.format * (pred is not None)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Sequence[Sequence[int]]
                 | None = None, *, problem_id: Sequence[str], **kwargs: Any) -> list[float]:
        judged = self.judge(problem_id, completions)
        self.completions += len(judged)
        self.tokens += sum(len(ids) - bool(ids and ids[-1] in self.eos) for ids in completion_ids or ())
        counts = Counter(j.verdict.value for j in judged)
        self.verdicts.update(counts)
        rewards = [j.reward for j in judged]
        log_metric = kwargs.get("log_metric")  # TRL averages these per logging step, beside its own
        if log_metric is not None and judged:
            log_metric("correct_rate", counts["correct"] / len(judged))
            log_metric("answered_rate", sum(j.pred is not None for j in judged) / len(judged))
            log_metric("reward_std_in_group", std_in_groups(problem_id, rewards))
        return rewards

    def counts(self) -> dict[str, int]:
        """What this reward has judged, as counts (which add up over processes)."""
        return {"completions": self.completions, "tokens": self.tokens, "correct": self.verdicts["correct"],
                "unverifiable": self.verdicts["unverifiable"]}

    def stats(self) -> dict[str, float]:
        """Completions judged, their tokens, the share correct, unverifiable verdicts."""
        return self.summary(self.counts())

    @staticmethod
    def summary(counts: Mapping[str, float]) -> dict[str, float]:
        n = int(counts["completions"])
        return {"completions": n, "tokens": int(counts["tokens"]),
                "correct_rate": round(counts["correct"] / max(n, 1), 6), "unverifiable": int(counts["unverifiable"])}


def std_in_groups(problem_ids: Sequence[str], rewards: Sequence[float]) -> float:
    """The standard deviation of the rewards of each problem's completions (its GRPO group),
    averaged over the problems: 0 when every group agrees, i.e. when GRPO has no signal."""
    groups: dict[str, list[float]] = {}
    for i, r in zip(problem_ids, rewards, strict=True):
        groups.setdefault(i, []).append(r)
    return fmean(pstdev(g) for g in groups.values()) if groups else 0.0


def _text(completion: Any) -> str:
    """A completion as text: TRL passes strings for text prompts, message lists for chat ones."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], Mapping):
        return str(completion[-1].get("content", ""))
    return str(completion)
