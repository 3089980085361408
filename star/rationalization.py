"""Rationalization: a second chance, with the answer as a hint, for what the model got wrong.

STaR's key step (Zelikman et al. 2022, sec. 3.2): a problem the model failed is shown
again with its gold answer as a hint; a hinted rationale that reaches the gold answer is
kept as if the model had found it alone (the training prompt carries no hint). This lets
the model learn from problems just beyond its reach, which plain rejection sampling
never trains on. The loop makes the hinted attempts through star.attempts with
`hint=True`; the training prompt of every sample is the un-hinted one.

A hinted completion that repeats the hint ("the hint says 42", "(CORRECT)") would teach
the model to cite a hint it will never see, so such samples are rejected (`rejected =
"hint-leak"`, counted as `train/hint_leaks`). What betrays a hint is the task's to say
(an optional `hint_markers(problem, hint) -> list[str]` method); by default it is the
text the hint adds to the prompt, and the word "hint" where that text uses it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import replace

from star.types import Problem, Sample, Task, Verdict

HINT_WORD = re.compile(r"\bhints?\b", re.IGNORECASE)


def unsolved(problems: Sequence[Problem], samples: Sequence[Sample]) -> list[Problem]:
    solved = {s.problem_id for s in samples if s.verdict is Verdict.CORRECT}
    return [p for p in problems if p.id not in solved]


def hint_markers(task: Task, problem: Problem, hint: str) -> list[str]:
    """Strings whose presence in a hinted completion means it repeats the hint."""
    own = getattr(task, "hint_markers", None)
    if callable(own):
        return [m for m in own(problem, hint) if m]
    plain, hinted = _text(task.prompt(problem)), _text(task.prompt(problem, hint=hint))
    matcher = difflib.SequenceMatcher(None, plain, hinted, autojunk=False)
    added = [hinted[j1:j2] for op, _, _, j1, j2 in matcher.get_opcodes() if op in ("insert", "replace")]
    answer = _norm(problem.answer)
    markers = [m for m in (_norm(a) for a in added)
               if len(m.replace(" ", "")) >= 3 and m not in answer and not re.fullmatch(r"[\d\s.,\-+/]*", m)]
    if any(HINT_WORD.search(a) for a in added):
        markers.append("hint")
    return markers


def leaks(completion: str, markers: Sequence[str]) -> bool:
    text = _norm(completion)
    return any(HINT_WORD.search(text) if m == "hint" else _norm(m) in text for m in markers)


def reject_leaks(task: Task, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[Sample]:
    """The hinted samples, with those that repeat their hint marked `rejected="hint-leak"`."""
    by_id = {p.id: p for p in problems}
    markers = {p.id: hint_markers(task, p, p.answer) for p in problems}
    return [replace(s, rejected="hint-leak") if s.hinted and s.problem_id in by_id
            and leaks(s.completion, markers[s.problem_id]) else s for s in samples]


def _text(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(m.get("content", "") for m in prompt)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())
