"""Answer extraction: the final answer's text from a whole model output or a bare answer.

Extraction is separate from comparison and configurable per task through an ordered tuple
of strategy names. Anchored strategies (`boxed`, `answer_is`, `hashes`) are all searched
and the one found LAST in the text wins, whatever its place in the tuple: self-corrections
("... \\boxed{5}. Wait, ... the answer is 6") are common and the last word is the answer.
Several boxed answers are never merged; boxes joined by "or", "and" or commas are several
answers (a hedge), which give no answer. Only when no anchor is found are the fallbacks
(`final_line`, `last_number`, `whole`, `bare`) tried, in the tuple's order. `bare` is the
only fallback that never picks a part of the text: it takes the whole text when that is
a bare answer, and nothing from code or prose (`star check`'s default, after the anchors).

Everything here is pure string work in linear time, safe on a 100 KB hostile output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from star.checkers.numbers import parse_number
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


# What may stand between two boxes that are offered together: "\\boxed{5} or \\boxed{6}",
# "$\\boxed{5}$, $\\boxed{6}$", "\\boxed{5} \\text{ or } \\boxed{6}", "\\boxed{5}\\boxed{6}".
_BOX_GAP = re.compile(
    r"(?i)^(?:\s|\$|\\[()\[\]]|\\(?:quad|qquad|[,;:!])|\\(?:text|mathrm)\{\s*(?:or|and|and/or)\s*\}"
    r"|[,;&()]|\b(?:or|and|either|maybe|perhaps|possibly|probably)\b)*$"
)
_MAX_BOX_GAP = 200
_MAX_BOXES = 8
_OR = " \\text{ or } "  # between the candidates of joined boxes


def _box_end(text: str, i: int) -> int:
    """Index just past the box starting at text[i], or -1 when it is not closed."""
    j = i + (6 if text.startswith("\\boxed", i) else 5)
    while j < len(text) and text[j] in " \t":
        j += 1
    if j < len(text) and text[j] == "{":
        end = matching_brace(text, j)
        return -1 if end < 0 else end + 1
    m = re.match(r"[^\s$]+", text[j : j + 200])
    return j + len(m.group(0)) if m else -1


def boxed_answer(text: str) -> tuple[int, str] | None:
    """last_boxed, except when the last box is joined to the boxes before it ("\\boxed{5} or
    \\boxed{6}", "\\boxed{5}, \\boxed{6}", "$\\boxed{a}$ or $\\boxed{b}$"): several boxes offered
    together are candidates, not a self-correction (prose between two boxes is: "\\boxed{5}.
    Wait ... \\boxed{6}" gives 6). Candidates that are one string are that answer; else the
    answer is `\\boxed{a} \\text{ or } \\boxed{b}`, which box_candidates reads back and
    which extracts to itself, and a checker accepts it only when every candidate is right."""
    last = last_boxed(text)
    if last is None:
        return None
    i, content = last
    contents, start = [content], i
    while len(contents) < _MAX_BOXES:
        j = max(text.rfind("\\boxed", 0, start), text.rfind("\\fbox", 0, start))
        if j < 0:
            break
        end = _box_end(text, j)
        if end < 0 or end > start or start - end > _MAX_BOX_GAP or not _BOX_GAP.match(text[end:start]):
            break  # nested ("\\boxed{\\boxed{5}}"), unclosed, or prose between
        before = last_boxed(text[:end])
        if before is None or before[0] != j:
            break
        contents.insert(0, before[1])
        start = j
    if len({"".join(c.split()) for c in contents}) == 1:
        return last
    return i, _OR.join(f"\\boxed{{{c}}}" for c in contents)


def box_candidates(answer: str | None) -> list[str] | None:
    """The candidates of an answer that boxed_answer gave for joined boxes
    (`\\boxed{5} \\text{ or } \\boxed{6}` -> ["5", "6"]), else None."""
    if not answer or not answer.startswith("\\boxed{"):
        return None
    out: list[str] = []
    k = 0
    while True:
        if not answer.startswith("\\boxed{", k):
            return None
        end = matching_brace(answer, k + 6)
        if end < 0:
            return None
        out.append(answer[k + 7 : end].strip())
        k = end + 1
        if k == len(answer):
            break
        if not answer.startswith(_OR, k):
            return None
        k += len(_OR)
    return out if len(out) > 1 else None


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


# Between two numbers, what offers them as candidates for one answer: "5 or 6", "5, 6",
# "between 5 and 6", "5 to 6", "5 (or 6)", "5, or maybe 6". A unit may follow the first
# with "or" ("5 apples or 6 apples"), or inside "between" ("between 5 km and 6 km").
_HEDGE_WORDS = frozenset({",", ";", "or", "and", "to", "and/or", "either", "maybe", "perhaps", "possibly",
                          "probably", "else", "even"})
_HEDGE_JOINS = frozenset({",", ";", "or", "and", "to", "and/or"})
# A dash joins a range ("5-6", "5–6") or a difference; + * × ÷ an unevaluated expression.
_OPERATOR_GAP = re.compile(
    r"^\s*(?:[-\u2013\u2014\u2212+*\u00d7\u00f7\u00b1]|\\times|\\cdot|\\div|\\pm|\\mp)\s*$"
)
# "x = 5 or x = 6": the variable of the second assignment is not between the candidates.
_ASSIGNED = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z](?:_\{?\w+\}?)?\s*=\s*$")
_GAP_WORD = re.compile(r"[a-zA-Z]+(?:/[a-zA-Z]+)?|[,;]")
_BETWEEN = re.compile(r"(?i)\bbetween[\s$(*]*$")
_MAX_GAP = 60


def _value(number: str) -> object:
    """The value of a matched number, for telling "6 or 6.0" (one value) from "5 or 6"."""
    v = parse_number(number.replace("$", "").replace("%", "").replace("\u2212", "-").replace(",", ""))
    return v if v is not None else number


def lone_last_number(text: str, pattern: re.Pattern[str] | None = None) -> tuple[str | None, bool]:
    """(the last number in `text`, False), or (None, True) when it is no lone number: it
    is offered beside the number before it ("5 or 6", "between 5 and 6", "5, 6", "5 to 6",
    "5 apples or 6 apples"), ends a range or an unevaluated expression ("5-6", "2 + 4"),
    or is negated ("6, not 5"). (None, False) when the text holds no number. Trailing
    commas of a match are not part of the number. Linear in the text."""
    last = prev = None
    for m in (pattern or _NUMBER).finditer(text):
        last, prev = m, last
    if last is None:
        return None, False
    number = last.group(0).rstrip(",")
    if prev is None:
        return number, False
    prev_end = prev.start() + len(prev.group(0).rstrip(","))
    gap = text[prev_end : last.start()]
    if len(gap) > _MAX_GAP:
        return number, False
    if _OPERATOR_GAP.match(gap):
        return None, True
    if _ASSIGNED.search(gap) and _ASSIGNED.search(text[max(0, prev.start() - 20) : prev.start()]):
        gap = _ASSIGNED.sub("", gap)  # "x = 5 or x = 6" offers 5 and 6
    words = [w.lower() for w in _GAP_WORD.findall(re.sub(r"\\(?:text|mathrm)\{([^{}]*)\}", r" \1 ", gap))]
    if not words or re.search(r"[^\sa-zA-Z/,;()*$\\{}]", gap):
        return number, False  # "14 + 2 = 16", "3 apples: 2": not candidates side by side
    if words[-1] == "not" or words[-2:] in (["rather", "than"], ["instead", "of"]):
        return None, True  # "6, not 5": the last number is the one ruled out
    if words[0] not in _HEDGE_WORDS and (
        "or" in words[1:] or ("and" in words[1:] and _BETWEEN.search(text[: prev.start()]))
    ):
        words = words[1:]  # a unit after the first candidate
    if all(w in _HEDGE_WORDS for w in words) and any(w in _HEDGE_JOINS for w in words):
        if _value(prev.group(0).rstrip(",")) != _value(number):
            return None, True
    return number, False


def last_number(text: str) -> str | None:
    """The last number in the text ("-1,234.5", "$12", "3/4", "50%"), when it is a lone
    number (see lone_last_number: not in "5 or 6", "5-6", "6, not 5")."""
    return lone_last_number(text)[0]


def _closing(s: str, left: str, right: str, start: int) -> int:
    return s.find(right, start + len(left))


def math_segments(s: str) -> list[str]:
    """Contents of $...$, $$...$$, \\(...\\) and \\[...\\] in order (scanned once, linear)."""
    return [content for _, _, content in _segment_spans(s)]


_JOINER = re.compile(
    r"^\s*(?:\(\s*)?(?:[,;]\s*(?:(?:and|or)\b\s*)?|(?:and|or|and/or)\b\s*)"
    r"(?:(?:maybe|perhaps|possibly|probably|else|even)\b\s*)?$"
)


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
    boxed = boxed_answer(s)
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


def from_final_line(line: str) -> str | None:
    """The answer in a last line: its last formula if it has one, its last number if it is
    a sentence, else the line itself; None when the sentence's last number is no lone
    number ("So there are 5 or 6 ways.": several candidates state no answer)."""
    run = _segment_run(line, last=True)
    if run is not None:
        return run
    if is_prose(line):
        number, hedged = lone_last_number(line)
        if hedged:
            return None
        if number is not None:
            return number
    return line.strip()


def find_answer(text: str, strategies: Sequence[str]) -> str | None:
    """Apply the strategies to `text`; None when nothing answer-like is found."""
    if not text or not text.strip():
        return None
    anchored: list[tuple[int, str]] = []
    if "boxed" in strategies and (b := boxed_answer(text)) is not None:
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
            answer = from_final_line(line)  # None for a hedge: the search ends there
            return answer if answer and answer.strip() else None  # "$$" holds no answer
        if name == "last_number":
            number, hedged = lone_last_number(text)
            if number is not None or hedged:
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
