"""Answer extraction: the final answer's text from a whole model output or a bare answer.

Extraction is separate from comparison and configurable per task through an ordered tuple
of strategy names. Anchored strategies (`boxed`, `answer_is`, `hashes`) are all searched
and the one found LAST in the text wins, whatever its place in the tuple: self-corrections
("... \\boxed{5}. Wait, ... the answer is 6") are common and the last word is the answer.
Several boxed answers are never merged. Only when no anchor is found are the fallbacks
(`final_line`, `last_number`, `whole`, `bare`) tried, in the tuple's order. `bare` is the
only fallback that never picks a part of the text: it takes the whole text when that is
a bare answer, and nothing from code or prose (`star check`'s default, after the anchors).

Everything here is pure string work in linear time, safe on a 100 KB hostile output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from star.checkers.screen import is_code

ANCHORS = ("boxed", "answer_is", "hashes")
FALLBACKS = ("final_line", "last_number", "whole", "bare")
STRATEGIES = ANCHORS + FALLBACKS

_ANSWER_IS = re.compile(
    r"(?i)\banswers?\b(?:\*\*)?[ \t]*(?:is\b|would be|will be|should be|must be|=|:)[ \t]*:?(?:\*\*)?"
)
_NUMBER = re.compile(r"(?<![\w.])[-\u2212]?\$?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?%?")
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n")
_PROSE_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")
_MAX_LINES_UP = 50
_MAX_SHORT_WORDS = 6  # a bare answer in words: "New York", "(E) none of the above"


def matching_brace(text: str, i: int) -> int:
    """Index of the brace closing the one at text[i], or -1 when the text ends first."""
    depth = 0
    for j in range(i, len(text)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def last_boxed(text: str) -> tuple[int, str] | None:
    """(position, content) of the last \\boxed{...} or \\fbox{...}; a truncated box runs to
    the end of the text, \\boxed 5 (no braces) takes one token."""
    i = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if i < 0:
        return None
    j = i + (6 if text.startswith("\\boxed", i) else 5)
    while j < len(text) and text[j] in " \t":
        j += 1
    if j < len(text) and text[j] == "{":
        end = matching_brace(text, j)
        return i, (text[j + 1 :] if end < 0 else text[j + 1 : end]).strip()
    m = re.match(r"[^\s$]+", text[j : j + 200])
    return (i, m.group(0)) if m else None


def _line_at(text: str, start: int, max_lines: int = 5) -> str:
    """The rest of the line from `start`, or the next non-empty line when it is empty
    ("Final Answer:" alone on its line)."""
    for _ in range(max_lines):
        end = text.find("\n", start)
        line = text[start : end if end >= 0 else len(text)]
        if line.strip() or end < 0:
            return line
        start = end + 1
    return ""


# "... so our answer is correct." judges an answer given earlier; it states none.
_VERDICT = re.compile(r"(?i)^[\s*]*(?:indeed\s+|also\s+|therefore\s+)?(?:correct|incorrect|right|wrong|"
                      r"confirmed|verified|valid|invalid|consistent|reasonable)\b")


def last_answer_is(text: str) -> tuple[int, str] | None:
    """(position, rest of line) after the last "the answer is" / "Answer:" / "answer =" that
    states an answer (not "the answer is correct")."""
    for m in reversed(list(_ANSWER_IS.finditer(text))):
        rest = _line_at(text, m.end())
        if not _VERDICT.match(rest):
            return m.start(), rest
    return None


def last_hashes(text: str) -> tuple[int, str] | None:
    """(position, rest of line) after the last GSM8K-style "####"."""
    i = text.rfind("####")
    if i < 0:
        return None
    return i, _line_at(text, i + 4).lstrip("# ")


def _opens_above(s: str) -> bool:
    """The display formula this text ends was opened on an earlier line: "\\]" or "$$"."""
    return (s.count("\\]") > s.count("\\[")) or (s.count("$$") % 2 == 1)


def _closes_above(s: str) -> bool:
    """The text closes braces or environments it did not open."""
    return s.count("}") > s.count("{") or s.count("\\end") > s.count("\\begin")


def final_line(text: str) -> str | None:
    """The last non-empty line, extended upwards while it closes braces or environments
    opened above it (a matrix written over several lines)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    picked = lines[-1]
    for k in range(2, min(len(lines), _MAX_LINES_UP) + 1):
        if not _closes_above(picked) and not _opens_above(picked):
            break
        picked = lines[-k] + "\n" + picked
    return picked.strip()


def last_number(text: str) -> str | None:
    """The last number in the text ("-1,234.5", "$12", "3/4", "50%")."""
    last = None
    for m in _NUMBER.finditer(text):
        last = m
    return last.group(0) if last else None


def _closing(s: str, left: str, right: str, start: int) -> int:
    return s.find(right, start + len(left))


def math_segments(s: str) -> list[str]:
    """Contents of $...$, $$...$$, \\(...\\) and \\[...\\] in order (scanned once, linear)."""
    return [content for _, _, content in _segment_spans(s)]


_JOINER = re.compile(r"^\s*(?:,|;|and|or|,\s*and|,\s*or)\s*$")


def _segment_run(s: str, last: bool) -> str | None:
    """The first (or last) formula of `s` with the formulas joined to it by "and", "or" or
    commas, as one comma-separated answer: "$x=1$ and $x=2$" -> "x=1, x=2"."""
    spans = _segment_spans(s)
    if not spans:
        return None
    order = range(len(spans) - 1, 0, -1) if last else range(len(spans) - 1)
    run = [spans[-1] if last else spans[0]]
    for k in order:
        left, right = (spans[k - 1], spans[k]) if last else (spans[k], spans[k + 1])
        if not _JOINER.match(s[left[1] : right[0]]):
            break
        if last:
            run.insert(0, left)
        else:
            run.append(right)
    return ", ".join(content for _, _, content in run)


def _segment_spans(s: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of each delimited formula."""
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(s):
        for left, right in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
            if s.startswith(left, i) and not (left == "$" and i > 0 and s[i - 1] == "\\"):
                j = _closing(s, left, right, i)
                while left == "$" and j > 0 and s[j - 1] == "\\":  # \$ inside is a dollar sign
                    j = s.find(right, j + 1)
                if j < 0:
                    return out
                out.append((i, j + len(right), s[i + len(left) : j].strip()))
                i = j + len(right)
                break
        else:
            i += 1
    return out


def is_prose(s: str) -> bool:
    """A sentence rather than an answer: two words of three letters or more outside LaTeX."""
    bare = re.sub(r"\\[a-zA-Z]+(?:\{[^{}]*\})?", " ", s)
    return len(_PROSE_WORD.findall(bare)) >= 2


def bare_answer(text: str) -> str | None:
    """The stripped text when it is a bare answer rather than a model output, else None.

    A bare answer is one line (or one formula written over several lines: a matrix), holds
    no code, and is no sentence: either not prose ("42", "x = 2", "$\\frac{1}{2}$", "B)",
    "7 apples"), or a short string of at most six words with no digit and no delimited
    formula ("New York", "no solution", "(E) none of the above"). "There are 3 ways.",
    "Solving gives $x = 2$." and `__import__('os').getpid() * 0` give None: a checker
    would judge them by a number or a formula picked out of them.
    """
    s = text.strip()
    if not s:
        return None
    lines = [ln for ln in s.splitlines() if ln.strip()]
    if len(lines) > 1 and final_line(s) != "\n".join(lines).strip():
        return None  # several lines that are not one formula: a model output
    if is_code(s):
        return None
    if is_prose(s) and (
        len(s.split()) > _MAX_SHORT_WORDS or any(c.isdigit() for c in s) or _segment_spans(s)
    ):
        return None
    return s


def clean_span(span: str) -> str:
    """The answer at the start of an anchored span: a boxed or delimited formula when there
    is one, else the text up to the end of the first sentence."""
    s = span.strip().strip("*").strip().lstrip(":").strip()
    boxed = last_boxed(s)
    if boxed is not None:
        return boxed[1]
    if s.startswith(("$", "\\(", "\\[")) or is_prose(s):
        run = _segment_run(s, last=False)
        if run is not None:
            return run
    m = _SENTENCE_END.search(s)
    if m:
        s = s[: m.start()]
    return s.strip().strip("*").strip()


def from_final_line(line: str) -> str:
    """The answer in a last line: its last formula if it has one, its last number if it is
    a sentence, else the line itself."""
    run = _segment_run(line, last=True)
    if run is not None:
        return run
    if is_prose(line):
        number = last_number(line)
        if number is not None:
            return number
    return line.strip()


def find_answer(text: str, strategies: Sequence[str]) -> str | None:
    """Apply the strategies to `text`; None when nothing answer-like is found."""
    if not text or not text.strip():
        return None
    anchored: list[tuple[int, str]] = []
    if "boxed" in strategies and (b := last_boxed(text)) is not None:
        anchored.append(b)
    if "answer_is" in strategies and (a := last_answer_is(text)) is not None:
        anchored.append((a[0], clean_span(a[1])))
    if "hashes" in strategies and (h := last_hashes(text)) is not None:
        anchored.append((h[0], clean_span(h[1])))
    if anchored:
        answer = max(anchored, key=lambda pos_text: pos_text[0])[1]
        return answer if answer.strip() else None
    for name in strategies:
        if name == "final_line" and (line := final_line(text)) is not None:
            return from_final_line(line)
        if name == "last_number" and (number := last_number(text)) is not None:
            return number
        if name == "whole":
            return text.strip()
        if name == "bare" and (bare := bare_answer(text)) is not None:
            return bare
    return None


def gold_answer(gold: str) -> str | None:
    """A gold answer as given, or its last box / its "####" part when it is a solution."""
    if "\\boxed" in gold or "\\fbox" in gold:
        boxed = last_boxed(gold)
        return boxed[1] if boxed else None
    hashes = last_hashes(gold)
    if hashes is not None:
        return hashes[1].strip() or None
    return gold.strip() or None


def validate_strategies(strategies: Sequence[str] | str) -> tuple[str, ...]:
    """Checked tuple of strategy names; a comma-separated string is accepted (CLI, YAML)."""
    if isinstance(strategies, str):
        strategies = [s.strip() for s in strategies.split(",") if s.strip()]
    names = tuple(strategies)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown or not names:
        raise ValueError(f"unknown extraction strategy {unknown or names!r}; choose from {STRATEGIES}")
    return names
