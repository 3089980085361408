"""Where the training side's labels come from: gold answers (STaR), or majority votes.

`loop.labels` picks an entry of LABELS:

- gold: the training problems' gold answers judge the samples (STaR, RFT). Every training
  problem needs one; a data row without an answer is an error that names its file, line
  and field.
- majority: no gold answer reaches training (Huang et al. 2022, "Large Language Models Can
  Self-Improve"; TTRL). The model samples k >= 4 completions per problem with the gold
  hidden (the problems it sees carry an empty answer, and nothing is checked against
  gold); the answers vote, grouped by the task checker's equivalence (`1/2` and `0.5`
  vote together; an answer the checker cannot accept even against itself, and a sample
  with no answer, do not vote). The majority answer becomes the problem's pseudo-label
  when its votes are at least `loop.min_agreement` of the k samples and no other answer
  ties with it; the samples that reach it are judged CORRECT (and go through the usual
  filter: deduplicated, capped per problem); problems without a label are skipped.
  With `loop.voters=m > 1` the votes come from m models (Lee et al. 2025, "Self-Improving
  Transformers", filter self-labels by majority across independently trained models): the
  run's model and m - 1 peers cold-started from seeds `seed + 1000 i` (star.committee),
  each sampling k completions (a sample's `voter` says whose). Each model's plurality answer is its ballot (a model split evenly between
  answers abstains), the label needs `loop.min_agreement` of the m ballots, and every
  model trains on the same accepted samples. One model's errors recur across its own
  samples; independently trained models' errors mostly differ, so their agreement is the
  stronger evidence.
  Rationalization is off under majority labels: its hint would be the pseudo-label, and
  every problem that has one already has samples that reach it, while a problem without
  one has no hint to give. Where the data do have gold answers, the pseudo-labels'
  agreement with them is measured (`train/pseudo_label_accuracy`, per group too) and
  never used. The problems the training side sees carry neither the answer nor the meta
  keys the task declares gold-derived (an optional `gold_meta` attribute: a worked
  solution, GSM8K's count of solution lines), so nothing downstream (the curriculum, the
  prompts, per-group pools) can order or admit problems by a quantity derived from gold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from star.config import LoopConfig
from star.evaluation import answer_classes, by_group, key
from star.types import Problem, Sample, Task, Verdict


class MissingGold(ValueError):
    """Training problems without a gold answer under loop.labels=gold."""


class GoldLabels:
    """The gold answers judge the samples (attempts check against them)."""

    checks_gold = True
    rationalizes = True

    def __init__(self, loop: LoopConfig, task: Task):
        pass

    def visible(self, problems: Sequence[Problem]) -> list[Problem]:
        missing = [p for p in problems if not p.answer]
        if missing:
            where = [str(p.meta.get("unlabeled", p.id)) for p in missing[:5]]
            raise MissingGold(
                f"loop.labels=gold needs a gold answer for every training problem; {len(missing)} have none: "
                + "; ".join(where) + (" ..." if len(missing) > 5 else "")
                + " (loop.labels=majority trains without gold answers)")
        return list(problems)

    def judge(self, task: Task, problems: Sequence[Problem], samples: list[Sample], pool: Any) -> list[Sample]:
        return samples

    def metrics(self, task: Task, problems: Sequence[Problem], samples: Sequence[Sample], pool: Any) -> dict:
        return {}


class MajorityLabels:
    """Pseudo-labels from the majority of k samples' answers; gold is never seen."""

    checks_gold = False
    rationalizes = False

    def __init__(self, loop: LoopConfig, task: Task):
        self.min_agreement, self.voters = loop.min_agreement, loop.voters
        self.hidden = set(getattr(task, "gold_meta", ()) or ())

    def visible(self, problems: Sequence[Problem]) -> list[Problem]:
        """What the training side sees: the problems without their answers, and without the
        meta keys the task declares derived from them (`task.gold_meta`)."""
        return [replace(p, answer="", meta={k: v for k, v in p.meta.items() if k not in self.hidden})
                for p in problems]

    def judge(self, task: Task, problems: Sequence[Problem], samples: list[Sample], pool: Any) -> list[Sample]:
        """Each sample judged against its problem's pseudo-label: CORRECT when its answer is in
        the winning class, UNVERIFIABLE when it cannot vote, INCORRECT otherwise."""
        classes = answer_classes([(s.problem_id, s.pred) for s in samples], task.checker, pool, valid_only=True)
        winner = self.winners(samples, classes)
        return [replace(s, verdict=Verdict.UNVERIFIABLE if c is None and s.pred is not None else
                        Verdict.CORRECT if c is not None and winner.get(s.problem_id) == c else Verdict.INCORRECT)
                for s, c in zip(samples, classes, strict=True)]

    def winners(self, samples: Sequence[Sample], classes: Sequence[int | None]) -> dict[str, int]:
        """problem id -> its winning class, for the problems that get a pseudo-label. With one
        voter the ballots are the k samples' classes; with m voters, each voter's (`Sample.voter`)
        plurality class."""
        k: Counter[str] = Counter(s.problem_id for s in samples)
        judged = [(s, c) for s, c in zip(samples, classes, strict=True) if c is not None]
        if self.voters == 1:
            ballots, total = [(s.problem_id, c) for s, c in judged], dict(k)
        else:
            own: dict[tuple[str, int], Counter[int]] = {}
            for s, c in judged:
                own.setdefault((s.problem_id, s.voter), Counter())[c] += 1
            ballots = [(pid, choice) for (pid, _), counter in own.items() if (choice := _plurality(counter)) is not None]
            total = dict.fromkeys(k, self.voters)
        votes: dict[str, Counter[int]] = {}
        for pid, c in ballots:
            votes.setdefault(pid, Counter())[c] += 1
        return {pid: top for pid, counter in votes.items()
                if (top := _plurality(counter)) is not None and counter[top] / total[pid] >= self.min_agreement}

    def metrics(self, task: Task, problems: Sequence[Problem], samples: Sequence[Sample], pool: Any) -> dict:
        """Pseudo-labeled problems, and the pseudo-labels' agreement with the gold answers where
        the data have them (measured here, after training data were chosen; never used)."""
        label = pseudo_labels(samples)
        row: dict[str, Any] = {"train/pseudo_labeled": len(label)}
        graded = [p for p in problems if p.id in label and p.answer]
        pairs = [(p.answer, label[p.id]) for p in graded]
        verdicts = dict(zip([p.id for p in graded], pool.check(task.checker, pairs, graded) if graded else [],
                            strict=True))
        for g, members in by_group(task, problems).items():
            row[key("pseudo_label_rate", g, "train")] = round(sum(p.id in label for p in members) / len(members), 6)
            judged = [verdicts[p.id] for p in members if p.id in verdicts]
            if judged:
                row[key("pseudo_label_accuracy", g, "train")] = round(
                    sum(v is Verdict.CORRECT for v in judged) / len(judged), 6)
        return row


def _plurality(counter: Counter[int]) -> int | None:
    """The class with the most votes; None on a tie for the most."""
    (top, n), *rest = counter.most_common(2)
    return top if not rest or rest[0][1] < n else None


def pseudo_labels(samples: Sequence[Sample]) -> dict[str, str]:
    """problem id -> its pseudo-label: the answer of its first sample in the winning class."""
    out: dict[str, str] = {}
    for s in samples:
        if s.verdict is Verdict.CORRECT and s.pred is not None:
            out.setdefault(s.problem_id, s.pred)
    return out


Labels = GoldLabels | MajorityLabels
LABELS: dict[str, type[GoldLabels] | type[MajorityLabels]] = {"gold": GoldLabels, "majority": MajorityLabels}
