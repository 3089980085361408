"""Metrics: held-out accuracy, overall and per difficulty group, with 95% intervals; what
the training side of an iteration did; and the one summary line per iteration.

Three measures, each a per-problem value in [0, 1] averaged over the problems:

- greedy accuracy (the default, the paper's): the greedy sample's verdict is CORRECT;
- pass@k: the chance that at least one of k samples is correct, estimated without bias
  from n >= k samples of which c are correct (Chen et al. 2021, "Evaluating Large
  Language Models Trained on Code"): 1 - C(n - c, k) / C(n, k);
- maj@k (self-consistency): the most frequent answer among k samples is correct. Answers
  vote together when the task's checker calls them equivalent (`1/2` and `0.5`), not when
  their strings match; a tie goes to the answer seen first; a sample with no answer does
  not vote. With n samples, maj@k averages the n // k disjoint blocks of k samples, so
  maj@1 equals the mean sample accuracy (pass@1).

With a verifier's score for every sampled attempt (star.verifiers), two more, block-averaged
as maj@k is:

- bon@k (best-of-k): the top-scored of k samples is correct (a tie goes to the sample
  seen first);
- wmaj@k (verifier-weighted majority): the answer whose samples carry the most weight wins,
  answers grouped by the checker's equivalence as maj@k groups them, a sample's weight
  exp(score - the block's top score). Both verifier objectives are Bradley-Terry models
  (a pair's preference is sigmoid(score_a - score_b)), so exp(score) is a sample's
  strength and an answer's weight its share of the block's strength: a flat verifier
  gives maj@k, a sharp one bon@k.

Held-out problems: an eval problem whose `meta["held_out"]` (`HELD_OUT`) is False has a
question the task also trains on (too small a group to keep apart, e.g. 1-digit sums);
when there are such problems, the greedy accuracy over the held-out ones alone is reported
too, `eval/accuracy_held_out` with its interval and `eval/n_held_out` (per-group keys stay
over every problem of the group). A problem without the key counts as held out.

Every value comes with a 95% Wilson score interval over the problems. For greedy accuracy
that is the usual binomial interval; for pass@k and block-averaged maj@k the per-problem
values are fractions, whose variance is at most p(1 - p), so the interval is conservative.

Metric keys follow one grammar, built by `key`: `<section>/<measure>[/<kind>=<value>]`,
e.g. `eval/accuracy`, `eval/accuracy/digits=3`, `eval/maj@8_lo/digits=3`, `eval/pass@4_hi`,
`eval/n/digits=3`, `train/solve_rate/digits=3`, `train/rationalization_rate/digits=3`.

In a run directory, `eval.jsonl` holds the greedy sample of every problem at index 0 and,
with `eval.samples=n`, n samples at `eval.temperature` at indices 1..n (`join`/`split`).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from star.types import TEACHER, Example, Problem, Sample, Task, Verdict

Z95 = 1.959964  # the normal quantile of a two-sided 95% interval
KEY = re.compile(r"^eval/(?P<measure>[^/]+)(?:/(?P<group>.+))?$")
HELD_OUT = "held_out"  # Problem.meta key (bool): False when the task also trains on the problem's question


# -- keys ----------------------------------------------------------------------------------------
def key(measure: str, group: str = "", section: str = "eval") -> str:
    """`eval/accuracy`, `eval/accuracy/digits=3`, `train/yield/digits=3`: every metric key."""
    return f"{section}/{measure}" + (f"/{group}" if group else "")


def group_names(task: Task, problem: Problem) -> list[str]:
    """A problem's groups as key suffixes: ["digits=3"]."""
    return [f"{kind}={value}" for kind, value in task.groups(problem).items()]


def by_group(task: Task, problems: Sequence[Problem]) -> dict[str, list[Problem]]:
    """The problems of each group ("" for all of them), groups in natural order."""
    out: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        out[""].append(p)
        for g in group_names(task, p):
            out[g].append(p)
    return {g: out[g] for g in sorted(out, key=natural)}


# -- estimators --------------------------------------------------------------------------------
def wilson(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion p observed over n trials; (0, 1) when n = 0."""
    if n <= 0:
        return 0.0, 1.0
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


# Student's t, 97.5th percentile, by degrees of freedom (a larger df uses the next smaller entry).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        15: 2.131, 20: 2.086, 30: 2.042}


def t975(df: int) -> float:
    return T975.get(df) or T975[max(k for k in T975 if k <= df)] if df >= 1 else math.nan


def mean_ci(xs: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval of per-seed values (nan bounds for fewer than 2)."""
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, math.nan, math.nan
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return m, m - half, m + half


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k), computed as a
    product so that large n does not overflow (Chen et al. 2021, Figure 3)."""
    if not 0 < k <= n:
        raise ValueError(f"pass@k needs 0 < k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


GOLD = 0  # the voting label of every correct answer


def majority_correct(labels: Sequence[int | None]) -> bool:
    """Does the gold answer win the vote? None does not vote; a tie goes to the label seen
    first (as Counter.most_common orders it)."""
    votes = Counter(label for label in labels if label is not None)
    return bool(votes) and votes.most_common(1)[0][0] == GOLD


# -- votes grouped by equivalence ----------------------------------------------------------------
def vote_labels(samples: Sequence[Sample], checker, pool) -> list[int | None]:
    """One voting label per sample: GOLD for a correct answer, None for no answer, and for
    the others the label of their equivalence class under `checker` (1, 2, ... within a
    problem), found by checking the distinct wrong answers of each problem pairwise,
    through `pool` (sympy never runs in this process), and joining accepted pairs."""
    wrong = [s for s in samples if s.verdict is not Verdict.CORRECT]
    classes = iter(answer_classes([(s.problem_id, s.pred) for s in wrong], checker, pool))
    return [GOLD if s.verdict is Verdict.CORRECT else _shift(next(classes)) for s in samples]


def _shift(label: int | None) -> int | None:
    return None if label is None else label + 1  # 1, 2, ...: GOLD is 0


def answer_classes(answers: Sequence[tuple[str, str | None]], checker, pool,
                   valid_only: bool = False) -> list[int | None]:
    """For (problem id, answer) pairs: the answer's equivalence class under `checker` among
    the answers of the same problem (0, 1, ... in order of first appearance), found by
    checking the distinct answers of each problem pairwise through `pool` and joining the
    accepted pairs; None for no answer. With `valid_only`, an answer the checker cannot
    accept even against itself (unparsable, pathological: not CORRECT) is None too."""
    distinct: dict[str, list[str]] = defaultdict(list)
    for pid, a in answers:
        if a is not None and a not in distinct[pid]:
            distinct[pid].append(a)
    invalid: set[tuple[str, str]] = set()
    if valid_only:
        flat = [(pid, a) for pid, ans in distinct.items() for a in ans]
        for (pid, a), v in zip(flat, pool.check(checker, [(a, a) for _, a in flat]) if flat else [], strict=True):
            if v is not Verdict.CORRECT:
                invalid.add((pid, a))
        distinct = defaultdict(list, {pid: [a for a in ans if (pid, a) not in invalid] for pid, ans in distinct.items()})
    pairs = [(pid, i, j) for pid, preds in distinct.items() for i in range(len(preds)) for j in range(i + 1, len(preds))]
    verdicts = pool.check(checker, [(distinct[pid][i], distinct[pid][j]) for pid, i, j in pairs]) if pairs else []
    parent = {pid: list(range(len(preds))) for pid, preds in distinct.items()}  # union-find
    for (pid, i, j), verdict in zip(pairs, verdicts, strict=True):
        if verdict is Verdict.CORRECT:
            parent[pid][_root(parent[pid], j)] = _root(parent[pid], i)
    return [None if a is None or (pid, a) in invalid else _root(parent[pid], distinct[pid].index(a))
            for pid, a in answers]


def _root(parent: list[int], label: int) -> int:
    while parent[label] != label:
        label = parent[label]
    return label


# -- per-problem values --------------------------------------------------------------------------
def greedy_values(problems: Sequence[Problem], samples: Sequence[Sample]) -> dict[str, float]:
    """1.0 where a problem's first sample is correct; a problem without a sample scores 0."""
    first: dict[str, Sample] = {}
    for s in samples:
        first.setdefault(s.problem_id, s)
    return {p.id: float(p.id in first and first[p.id].verdict is Verdict.CORRECT) for p in problems}


def pass_values(problems: Sequence[Problem], samples: Sequence[Sample], k: int) -> dict[str, float]:
    n, c = Counter(s.problem_id for s in samples), Counter(s.problem_id for s in samples if s.verdict is Verdict.CORRECT)
    return {p.id: pass_at_k(n[p.id], c[p.id], k) for p in problems}


def majority_values(problems: Sequence[Problem], labels_by_problem: Mapping[str, Sequence[int | None]],
                    k: int) -> dict[str, float]:
    """maj@k per problem: the share of the n // k disjoint blocks of k votes that the gold wins."""
    out = {}
    for p in problems:
        votes = labels_by_problem[p.id]
        blocks = [votes[i:i + k] for i in range(0, len(votes) - k + 1, k)]
        out[p.id] = sum(map(majority_correct, blocks)) / len(blocks)
    return out


def best_of_values(problems: Sequence[Problem], samples: Sequence[Sample], scores: Sequence[float],
                   k: int) -> dict[str, float]:
    """bon@k per problem: the share of the n // k disjoint blocks of k samples (in sample order)
    whose top-scored sample is correct; `scores` are aligned with `samples`."""
    by_problem: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for s, score in zip(samples, scores, strict=True):
        by_problem[s.problem_id].append((score, s.verdict is Verdict.CORRECT))
    out = {}
    for p in problems:
        ranked = by_problem[p.id]
        blocks = [ranked[i:i + k] for i in range(0, len(ranked) - k + 1, k)]
        # max() keeps the first of equal scores: a tie goes to the sample seen first
        out[p.id] = sum(max(block, key=lambda x: x[0])[1] for block in blocks) / len(blocks)
    return out


def weighted_majority_correct(labels: Sequence[int | None], scores: Sequence[float]) -> bool:
    """Does the gold answer carry the most weight? A sample weighs exp(score - the top score);
    None does not vote; a tie goes to the label seen first."""
    voting = [(label, score) for label, score in zip(labels, scores, strict=True) if label is not None]
    if not voting:
        return False
    top = max(score for _, score in voting)
    weight: dict[int, float] = {}
    for label, score in voting:  # dicts keep first-seen order; max() keeps the first of equals
        weight[label] = weight.get(label, 0.0) + math.exp(score - top)
    return max(weight, key=weight.__getitem__) == GOLD


def weighted_majority_values(problems: Sequence[Problem], labels_by_problem: Mapping[str, Sequence[int | None]],
                             scores_by_problem: Mapping[str, Sequence[float]], k: int) -> dict[str, float]:
    """wmaj@k per problem: the share of the n // k disjoint blocks of k weighted votes that the gold wins."""
    out = {}
    for p in problems:
        votes, scores = labels_by_problem[p.id], scores_by_problem[p.id]
        blocks = [(votes[i:i + k], scores[i:i + k]) for i in range(0, len(votes) - k + 1, k)]
        out[p.id] = sum(weighted_majority_correct(v, w) for v, w in blocks) / len(blocks)
    return out


def _check_k(problems: Sequence[Problem], samples: Sequence[Sample], ks: Sequence[int]) -> None:
    counts = Counter(s.problem_id for s in samples)
    n = min((counts[p.id] for p in problems), default=0)
    if ks and max(ks) > n:
        raise ValueError(f"maj@k and pass@k need k <= the samples per problem: k={max(ks)}, n={n}")


# -- summaries -----------------------------------------------------------------------------------
def summarize(measure: str, problems: Sequence[Problem], values: Mapping[str, float], task: Task) -> dict[str, float]:
    """Mean, and its 95% interval, of per-problem values, overall and per group:
    `eval/<measure>`, `eval/<measure>_lo`, `eval/<measure>_hi` (+ `/<kind>=<value>`)."""
    out: dict[str, float] = {}
    for g, members in by_group(task, problems).items():
        mean = sum(values[p.id] for p in members) / len(members)
        lo, hi = wilson(mean, len(members))
        out |= {key(measure, g): round(mean, 6), key(f"{measure}_lo", g): round(lo, 6),
                key(f"{measure}_hi", g): round(hi, 6)}
    return out


def held_out(problem: Problem) -> bool:
    """Is the problem held out of training (its task says so in meta["held_out"]; default yes)?"""
    return bool(problem.meta.get(HELD_OUT, True))


def held_out_accuracy(problems: Sequence[Problem], values: Mapping[str, float]) -> dict[str, float]:
    """`eval/n_held_out` and `eval/accuracy_held_out` (with `_lo`, `_hi`) over the held-out
    problems alone; nothing when every problem is held out (then it is `eval/accuracy`)."""
    kept = [p for p in problems if held_out(p)]
    if len(kept) == len(problems):
        return {}
    out: dict[str, float] = {key("n_held_out"): len(kept)}
    if kept:
        mean = sum(values[p.id] for p in kept) / len(kept)
        lo, hi = wilson(mean, len(kept))
        out |= {key("accuracy_held_out"): round(mean, 6), key("accuracy_held_out_lo"): round(lo, 6),
                key("accuracy_held_out_hi"): round(hi, 6)}
    return out


def counts(problems: Sequence[Problem], task: Task) -> dict[str, int]:
    """`eval/n` overall and per group."""
    return {key("n", g): len(members) for g, members in by_group(task, problems).items()}


def sampled_metrics(problems: Sequence[Problem], samples: Sequence[Sample], task, pool,
                    ks: Sequence[int], scores: Sequence[float] | None = None) -> dict[str, float]:
    """maj@k and pass@k for every k in `ks`, overall and per group, from n >= max(ks) samples
    per problem (all at one temperature, in sample order); with a verifier's `scores` (aligned
    with `samples`), bon@k and wmaj@k too."""
    _check_k(problems, samples, ks)
    votes: dict[str, list[int | None]] = defaultdict(list)
    weights: dict[str, list[float]] = defaultdict(list)
    for s, label in zip(samples, vote_labels(samples, task.checker, pool), strict=True):
        votes[s.problem_id].append(label)
    for s, score in zip(samples, scores if scores is not None else [0.0] * len(samples), strict=True):
        weights[s.problem_id].append(score)
    out: dict[str, float] = {}
    for k in sorted(set(ks)):
        out |= summarize(f"maj@{k}", problems, majority_values(problems, votes, k), task)
        out |= summarize(f"pass@{k}", problems, pass_values(problems, samples, k), task)
        if scores is not None:
            out |= summarize(f"bon@{k}", problems, best_of_values(problems, samples, scores, k), task)
            out |= summarize(f"wmaj@{k}", problems, weighted_majority_values(problems, votes, weights, k), task)
    return out


def accuracy(problems: Sequence[Problem], samples: Sequence[Sample], task, pool=None,
             ks: Sequence[int] = (), scores: Mapping[tuple[str, int], float] | None = None) -> dict[str, float]:
    """The evaluation part of a metrics row, from an iteration's eval.jsonl: greedy accuracy,
    maj@k and pass@k for `ks` when it holds sampled attempts, generated tokens, and the
    accuracy over the held-out problems where some are not (`held_out_accuracy`). `pool`
    (a CheckPool) is needed only to group the votes of sampled attempts. With a verifier's
    `scores` of the sampled attempts, keyed by (problem id, index in eval.jsonl), bon@k and
    wmaj@k too."""
    greedy, sampled = split(samples)
    out: dict[str, float] = counts(problems, task)
    values = greedy_values(problems, greedy)
    out |= summarize("accuracy", problems, values, task)
    out |= held_out_accuracy(problems, values)
    if sampled:  # without `ks`, k is all the samples: maj@n and pass@n
        aligned = None if scores is None else [scores[(s.problem_id, s.index + 1)] for s in sampled]
        out |= sampled_metrics(problems, sampled, task, pool, ks or [max(s.index for s in sampled) + 1], aligned)
    out["eval/tokens"] = sum(s.tokens for s in samples)
    return out


# -- the training side of an iteration -------------------------------------------------------------
def train_metrics(task: Task, problems: Sequence[Problem], samples: Sequence[Sample], hinted: Sequence[Sample],
                  examples: Sequence[Example], steps: int, train_log: Mapping[str, Any]) -> dict[str, Any]:
    """What the iteration's training side did: solve rate without hint, rationalization rate
    (of the unsolved problems), both per group too; accepted examples and their share of
    problems per group (yield); hinted samples rejected for repeating the hint;
    unverifiable verdicts, generated tokens (a teacher's, `loop.teacher`, apart in
    train/teacher_tokens: train/tokens is what the trained model generated), mean accepted rationale length, steps, loss."""
    solved = {s.problem_id for s in samples if s.verdict is Verdict.CORRECT}
    rationalized = {s.problem_id for s in hinted if s.verdict is Verdict.CORRECT and not s.rejected}
    tokens = {(s.problem_id, s.completion): s.tokens for s in [*samples, *hinted]}
    teacher = sum(s.tokens for s in [*samples, *hinted] if s.voter == TEACHER)
    accepted = {e.problem_id for e in examples}
    row: dict[str, Any] = {
        "train/problems": len(problems),
        "train/solved": len(solved),
        "train/rationalized": len(rationalized),
        "train/accepted": len(examples),
        "train/hint_leaks": sum(s.rejected == "hint-leak" for s in hinted),
        "train/unverifiable": sum(s.verdict is Verdict.UNVERIFIABLE for s in [*samples, *hinted]),
        "train/tokens": sum(s.tokens for s in [*samples, *hinted]) - teacher,
        "train/rationale_tokens": (sum(tokens.get((e.problem_id, e.completion), 0) for e in examples)
                                   / max(len(examples), 1)),
        "train/steps": train_log.get("steps", steps),
        "train/loss": train_log.get("loss_last"),
    }
    if teacher:
        row["train/teacher_tokens"] = teacher
    for g, members in by_group(task, problems).items():
        ids = [p.id for p in members]
        failed = [i for i in ids if i not in solved]
        row[key("solve_rate", g, "train")] = round((len(ids) - len(failed)) / len(ids), 6)
        row[key("rationalization_rate", g, "train")] = round(
            sum(i in rationalized for i in failed) / max(len(failed), 1), 6)
        if g:
            row[key("yield", g, "train")] = round(sum(i in accepted for i in ids) / len(ids), 6)
    return row


def summary(row: Mapping[str, Any]) -> str:
    """One line per iteration: accuracy with its 95% interval, per group, maj@k/pass@k, train side, seconds."""
    groups = " ".join(f"{k.removeprefix('eval/accuracy/')}:{v:.2f}" for k, v in row.items()
                      if k.startswith("eval/accuracy/"))
    parts = [f"iter {row['iteration']}", f"eval acc {row['eval/accuracy']:.3f} "
             f"[{row.get('eval/accuracy_lo', 0):.3f},{row.get('eval/accuracy_hi', 1):.3f}]"
             + (f" ({groups})" if groups else "")]
    sampled = " ".join(f"{k[5:]} {v:.3f}" for k, v in row.items()
                       if k.startswith(("eval/maj@", "eval/pass@")) and (parse_key(k) or ("", "x"))[1] == ""
                       and not k.endswith(("_lo", "_hi")))
    parts += [sampled] if sampled else []
    if "train/solved" in row:
        parts.append(f"solved {row['train/solved']}/{row['train/problems']} "
                     f"rationalized {row['train/rationalized']} accepted {row['train/accepted']}")
    parts.append(" ".join(f"{k[5:-2]} {v:.0f}s" for k, v in row.items() if k.startswith("time/")))
    return " | ".join(parts)


# -- eval.jsonl: greedy at index 0, samples at 1..n -----------------------------------------------
def join(greedy: Sequence[Sample], sampled: Sequence[Sample]) -> list[Sample]:
    """The records of an eval stage: the greedy samples, then the sampled ones shifted to 1..n."""
    return [*greedy, *(replace(s, index=s.index + 1) for s in sampled)]


def split(samples: Sequence[Sample]) -> tuple[list[Sample], list[Sample]]:
    """The inverse of `join`: (greedy samples, sampled ones with indices 0..n-1)."""
    return ([s for s in samples if s.index == 0],
            [replace(s, index=s.index - 1) for s in samples if s.index > 0])


# -- keys ----------------------------------------------------------------------------------------
def parse_key(key: str) -> tuple[str, str] | None:
    """`eval/maj@8_lo/digits=3` -> ("maj@8_lo", "digits=3"); overall is group ""."""
    m = KEY.match(key)
    return (m["measure"], m["group"] or "") if m else None


def natural(key: str) -> tuple:
    """Sort keys so that digits=10 comes after digits=9."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", key))
