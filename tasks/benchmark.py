"""A base for tasks over a data set: the shared knobs (data, splits, prompting) and a few hooks.

A benchmark task (tasks/gsm8k.py, tasks/math.py, tasks/commonsenseqa.py, or your own) is
a dataclass that subclasses `Benchmark` and fills in:

- `FIELDS`: the default field mapping, {name: dotted path or list of paths}, fitting the
  benchmark's published format (users remap with `task.fields.<name>=<path>`);
- `parse(values, pid)`: mapped field values -> Problem (raise BadRowError for a bad row);
- `question_text(problem, hint)`: the question as the model sees it, with the hint (the
  gold answer) worked in when there is one;
- `EXEMPLARS`: worked few-shot exemplars (Shot), also used as cold-start rationales;
- `CHECKER` and `EXTRACT` (the checker, and its extraction for completions), `groups(problem)`,
  and optionally `rationale_from_solution(problem)`
  when rows carry worked solutions that can seed a cold start.

Everything else comes from here: where the data is (`data_files` or a hub `dataset`),
which rows are train and eval (separate files or splits, or one source split by `seed`),
the validation split (a source of its own, or `validation_size` rows carved out of the
training split), the cold-start seed rows (carved out of the training split, so the STaR
pool never holds a problem whose worked solution trained the cold start), held-out marking
of eval and validation problems by content (`meta["held_out"]`, tasks/splits.py),
bad rows (an error listing file and line, or `on_bad_row="skip"`), and prompting in text or
chat style with an optional system prompt and instruction. The constructor arguments are
the `task.*` config keys.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from star.checkers import get_checker
from star.tasks.data import (
    ON_BAD_ROW,
    BadRow,
    BadRowError,
    DataError,
    Record,
    collect,
    divide,
    file_format,
    map_fields,
    read_file,
    read_hub,
    subsample,
)
from star.tasks.fewshot import STYLES, Labels, Shot, build_prompt, completion_for
from star.tasks.splits import mark_held_out
from star.types import Problem

log = logging.getLogger(__name__)

SPLITS = ("train", "eval")


@dataclass
class Benchmark:
    # -- where the problems come from ----------------------------------------------------
    data_files: Any = None  # a file, a list of files, or {split: file(s)}
    dataset: str | None = None  # a hub dataset (datasets.load_dataset), instead of files
    subset: str | None = None  # the hub dataset's configuration name
    split: Any = field(default_factory=lambda: {"train": "train", "eval": "test"})
    fields: dict[str, Any] = field(default_factory=dict)  # merged over FIELDS
    on_bad_row: str = "error"  # error | skip
    eval_size: float = 0.2  # one source split by seed: eval rows (a count, or a fraction < 1)
    train_size: int | None = None  # cap on the STaR training pool (a seeded subset)
    # rows carved out of the training split for the validation split (a count, or a fraction
    # < 1); None: no carving, a `validation` source of its own if the data have one
    validation_size: float | None = None
    seed: int = 1234  # for the train/eval and train/validation divisions and train_size (not the run seed)
    # -- prompting ----------------------------------------------------------------------
    prompt_style: str = "text"  # text (few-shot, base models) | chat (the tokenizer's template)
    num_fewshot: int = 0
    system_prompt: str | None = None
    instruction: str | None = None  # None: the task's INSTRUCTION in chat style, none in text
    seed_size: int = 0  # worked solutions of training rows (then out of the pool) added to the cold-start rationales
    # -- identity -----------------------------------------------------------------------
    name: str = "benchmark"
    description: str = ""
    stop: Sequence[str] = ()

    FIELDS: ClassVar[dict[str, Any]] = {}
    REQUIRED: ClassVar[tuple[str, ...]] = ("question", "answer")
    EXEMPLARS: ClassVar[tuple[Shot, ...]] = ()
    LABELS: ClassVar[Labels] = Labels()
    INSTRUCTION: ClassVar[str] = ""
    CHECKER: ClassVar[str] = "exact"  # a star.checkers name: math | numeric | choice | exact
    # Extraction strategies for completions, anchored only: a rationale that never states
    # its answer in the task's format gives no answer (a fallback such as the last number
    # would accept lucky rationales into training). The checker keeps its defaults, whose
    # fallbacks read the bare answers this extraction returns.
    EXTRACT: ClassVar[tuple[str, ...]] = ("answer_is", "boxed", "hashes")
    # Meta keys derived from the gold answer (a worked solution and what is read off it):
    # loop.labels=majority hides them with the answer, and `groups` must cope without them.
    gold_meta: ClassVar[tuple[str, ...]] = ("solution",)

    def __post_init__(self) -> None:
        if self.prompt_style not in STYLES:
            raise ValueError(f"task.prompt_style={self.prompt_style!r} is not one of {', '.join(STYLES)}")
        if self.on_bad_row not in ON_BAD_ROW:
            raise ValueError(f"task.on_bad_row={self.on_bad_row!r} is not one of {', '.join(ON_BAD_ROW)}")
        if not 0 <= self.num_fewshot <= len(self.EXEMPLARS):
            raise ValueError(f"task.num_fewshot={self.num_fewshot}: {self.name} has "
                             f"{len(self.EXEMPLARS)} exemplars")
        self.fields = {**self.FIELDS, **(self.fields or {})}
        self.stop = tuple(self.stop)
        self._check_source()
        self.checker = get_checker(self.CHECKER, **self.checker_options())
        self._extractor = get_checker(self.CHECKER, **self.checker_options(), extract=self.EXTRACT)
        self._sources: dict[tuple, tuple[list[Problem], list[BadRow]]] = {}

    # -- hooks (override) ---------------------------------------------------------------
    def checker_options(self) -> dict[str, Any]:
        """Options for get_checker besides `extract` (e.g. the choice checker's labels)."""
        return {}

    def parse(self, values: dict[str, Any], pid: str) -> Problem:
        """A Problem from a row's mapped field values; raise BadRowError when it cannot be one."""
        raise NotImplementedError

    def question_text(self, problem: Problem, hint: str | None = None) -> str:
        return problem.question if hint is None else f"{problem.question}\nHint: the answer is {hint}."

    def groups(self, problem: Problem) -> dict[str, str]:
        return {}

    def rationale_from_solution(self, problem: Problem) -> str | None:
        """A row's worked solution rewritten as a completion in the exemplars' format, or None."""
        return None

    # -- the Task protocol ----------------------------------------------------------------
    def load(self, split: str) -> list[Problem]:
        """A split's problems. Rows without a gold answer are allowed in the training split
        (their answer is empty and meta["unlabeled"] says where they are: loop.labels=gold
        refuses them, loop.labels=majority needs none); every other split needs gold, and
        says per problem whether its question is held out of the pool and the seeds."""
        pool, carved = self._train_parts()
        if split == "train":
            return pool
        if split == "validation" and carved is not None:
            problems = carved
        else:
            if split == "validation" and self._source_of("validation") == self._source_of("eval"):
                raise DataError("the validation split would be the eval split's own rows: set "
                                "task.validation_size=N (rows carved out of the training split) or give "
                                "the validation split a source of its own")
            problems = self._whole(split)
        missing = [p.meta["unlabeled"] for p in problems if not p.answer]
        if missing:
            raise DataError(f"the {split!r} split needs a gold answer in every row; {len(missing)} have none: "
                            + "; ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        used = {p.question for p in pool} | {p.question for p, _ in self.seed_rationales()}
        if split == "validation":
            used |= {p.question for p in self.load("eval")}
        return mark_held_out(problems, used)

    def _train_parts(self) -> tuple[list[Problem], list[Problem] | None]:
        """(the STaR pool, the carved validation split or None): the training split without
        the seed rows, less `validation_size` rows (drawn with `seed`), capped at `train_size`."""
        seeds = {p.id for p, _ in self._seed_rows()}
        rest = [p for p in self._whole("train") if p.id not in seeds]
        carved = None
        if self.validation_size is not None:
            rest, carved = divide(rest, self.validation_size, self.seed, "validation")
        return subsample(rest, self.train_size, self.seed, "train_size"), carved

    def _seed_rows(self) -> list[tuple[Problem, str]]:
        """The first `seed_size` rows of the training split whose worked solution makes a
        rationale (`rationale_from_solution`), with it."""
        out: list[tuple[Problem, str]] = []
        if self.seed_size > 0:
            for p in self._whole("train"):
                rationale = self.rationale_from_solution(p)
                if rationale is not None:
                    out.append((p, rationale))
                    if len(out) == self.seed_size:
                        break
        return out

    def prompt(self, problem: Problem, hint: str | None = None) -> str | list[dict[str, str]]:
        # An exemplar is never shown as a shot in its own prompt (its cold-start example).
        shots = [s for s in self.EXEMPLARS if s.problem.id != problem.id][: self.num_fewshot]
        pairs = [(self.question_text(s.problem, s.problem.answer if hint is not None else None), s.rationale)
                 for s in shots]
        return build_prompt(self.prompt_style, pairs, self.question_text(problem, hint), labels=self.LABELS,
                            system=self.system_prompt, instruction=self._instruction())

    def _instruction(self) -> str | None:
        if self.instruction is not None:
            return self.instruction
        return self.INSTRUCTION if self.prompt_style == "chat" else None

    def train_prompt(self, problem: Problem) -> str | list[dict[str, str]]:
        """The prompt of a training example: the question alone, in the same style, with the
        same system prompt and instruction, without the few-shot exemplars (the STaR paper
        fine-tunes on question and rationale only; the exemplars would also multiply the
        cost of every training example)."""
        return build_prompt(self.prompt_style, [], self.question_text(problem), labels=self.LABELS,
                            system=self.system_prompt, instruction=self._instruction())

    def extract_answer(self, completion: str) -> str | None:
        return self._extractor.extract(completion)

    def max_new_tokens(self, problem: Problem) -> int | None:
        return None  # the generator's generator.max_new_tokens

    def seed_rationales(self) -> list[tuple[Problem, str]]:
        """The exemplars, then the worked solutions of up to `seed_size` rows of the training
        split (the whole split, not only the `train_size` pool). Those rows are left out of
        the STaR pool (`load("train")`), so no problem of the pool has had its worked
        solution trained on by the cold start, under gold and majority labels alike."""
        out = [(s.problem, completion_for(self.prompt_style, s.rationale)) for s in self.EXEMPLARS]
        return out + [(p, completion_for(self.prompt_style, r)) for p, r in self._seed_rows()]

    def bad_rows(self) -> list[BadRow]:
        """The rows skipped so far (on_bad_row=skip), for `star task-check`."""
        return [b for _, bad in self._sources.values() for b in bad]

    # -- data -----------------------------------------------------------------------------
    def _check_source(self) -> None:
        """Fail at construction (before any model work) when no data is configured or a local
        file is missing; bad rows are found when a split is loaded."""
        if self.dataset is None and not self.data_files:
            raise ValueError(
                f"task {self.name!r} needs data: set task.data_files=PATH (a .jsonl/.json/.csv/.parquet "
                "file, a list of them, or {train: FILE, eval: FILE}) or task.dataset=HUB_NAME")
        if self.dataset is not None:
            return
        for path in _paths(self.data_files):
            file_format(Path(path))
            if not Path(path).is_file():
                raise ValueError(f"task.data_files: no such file: {path} (relative paths resolve against "
                                 f"{Path.cwd()})")

    def _whole(self, split: str) -> list[Problem]:
        key, part = self._source_of(split)
        problems = self._read(key)[0]
        if part is None:
            return problems
        train, evals = divide(problems, self.eval_size, self.seed)
        return train if part == "train" else evals

    def _source_of(self, split: str) -> tuple[tuple, str | None]:
        """(source key, part): a split is a whole source (part None), or the seeded `part` of
        one source that holds both splits."""
        mapping = self.split if isinstance(self.split, Mapping) else {}
        if self.dataset is not None:
            if isinstance(self.split, str):
                return ("hub", self.split), _part(split)
            return ("hub", mapping.get(split, split)), None
        files = self.data_files
        if isinstance(files, Mapping):
            if isinstance(self.split, str):
                return ("files", *_paths(files[self.split])), _part(split)
            for name in (mapping.get(split), split):
                if name in files:
                    return ("files", *_paths(files[name])), None
            raise DataError(f"task.data_files has no entry for the {split!r} split (it has "
                            f"{sorted(files)}; task.split maps splits to entries: {dict(mapping)})"
                            + ("; or set task.validation_size=N to carve it out of the training split"
                               if split == "validation" else ""))
        return ("files", *_paths(files)), _part(split)

    def _read(self, key: tuple) -> tuple[list[Problem], list[BadRow]]:
        if key not in self._sources:
            if key[0] == "hub":
                rows = read_hub(self.dataset or "", self.subset, key[1], self.data_files)
                source = f"task.dataset={self.dataset}[{key[1]}]"
            else:
                rows = (r for path in key[1:] for r in read_file(path))
                source = ", ".join(key[1:])
            self._sources[key] = collect(self._problems(rows), self.on_bad_row, source)
            log.info("%s: %d problems from %s", self.name, len(self._sources[key][0]), source)
        return self._sources[key]

    def _problems(self, rows) -> Any:
        seen: dict[str, str] = {}
        for row in rows:
            if isinstance(row, BadRow):
                yield row
                continue
            item = self._problem(row)
            if isinstance(item, Problem):
                if item.id in seen:
                    item = BadRow(row.where, f"duplicate id {item.id!r} (first at {seen[item.id]})")
                else:
                    seen[item.id] = row.where
            yield item

    def _problem(self, row: Record) -> Problem | BadRow:
        try:
            values = map_fields(row.data, self.fields, [f for f in self.REQUIRED if f != "answer"])
            pid = str(values["id"]) if "id" in values else row.where.rsplit("/", 1)[-1]
            if "answer" in self.REQUIRED and "answer" not in values:
                problem = self.parse_unlabeled(values, pid)
                where = f"{row.where}: no {self.fields.get('answer', 'answer')!r} field (task.fields.answer)"
                return replace(problem, answer="", meta={**problem.meta, "unlabeled": where})
            return self.parse(values, pid)
        except BadRowError as e:
            return BadRow(row.where, str(e))

    def parse_unlabeled(self, values: dict[str, Any], pid: str) -> Problem:
        """A row without a gold answer: `parse` with a stand-in answer, which the caller then
        empties (override where "0" is not a valid answer for `parse`)."""
        return self.parse({**values, "answer": "0"}, pid)


def _paths(files: Any) -> list[str]:
    if isinstance(files, Mapping):
        return [p for v in files.values() for p in _paths(v)]
    return [str(files)] if isinstance(files, (str, Path)) else [str(f) for f in files]


def _part(split: str) -> str:
    if split == "validation":
        raise DataError("one source divided by task.seed has no validation split: set task.validation_size=N "
                        "(rows carved out of the training split, a count or a fraction)")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: one source divided by task.seed has the splits "
                        f"{', '.join(SPLITS)} (and validation with task.validation_size)")
    return split
