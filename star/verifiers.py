"""Verifiers: models that score a candidate solution, trained on what a run generated anyway,
stored in its run directory, and used at test time to pick among k candidates
(bon@k, wmaj@k in star.evaluation). One module owns the data, training, storage and
scoring; `star verifier` (training) and `star eval --verifier` (scoring) both call it.

V-STaR (Hosseini et al. 2024, arXiv 2402.06457): the training side of STaR checks every
sample against the gold answer, so each training problem with a correct and an incorrect
completion gives preference pairs for free. The data are the checked samples of chosen
iterations (`iter_NNN/samples.jsonl`, and `rationalized.jsonl` with `verifier.hinted`),
read by `run_samples`; `eval.jsonl` is never opened, and `pairs` keeps only samples of the
task's training problems whose training prompt is the one the task renders for it, so no
eval problem or answer can reach a verifier. A hinted sample was written with the gold
answer in view, and trains the verifier under the unhinted prompt (`train_prompt`), as it
trains the STaR policy: its completion is a solution of the plain problem, right or wrong.
Rejected samples (a hint repeated) and unverifiable ones are never used.

Objectives (`verifier.objective`, the OBJECTIVES table), both a LoRA adapter (peft) on the
run's starting model, both Bradley-Terry models of the pairs:

- dpo (V-STaR's): TRL's DPOTrainer with the adapter disabled as the reference, so the
  reference is the starting model; a candidate's score is the DPO reward
  beta * (log pi(y|x) - log pi_ref(y|x)), two forward passes (adapter on, adapter off);
- orm: an outcome reward model, TRL's RewardTrainer on AutoModelForSequenceClassification
  (num_labels=1: a value head on the last token, trained with the adapter); one forward pass.

Storage (`RUN/verifier/<objective>-<key>/`, or `<verifier.name>-<key>/` to tell recipes
apart; built under a temporary name and renamed into place by rundir.atomic_dir: a killed
training leaves no folder and is redone from scratch, never half-reused):

    verifier.json   objective, config, iterations, seed, the starting model's content hash,
                    the key, the data's counts (written last)
    pairs.jsonl     the training pairs (problem id, prompt, chosen, rejected)
    adapter/        the LoRA adapter (the ORM's value head saved with it), PeftModel-loadable
    train_log.json  steps, seconds, losses, pair accuracy in training

The key (`verifier_key`) covers everything that shapes the weights: the config, the
iterations, the seed, the pairs' content (so the samples they came from), the starting
model's content hash, this module's source and the libraries' versions. A different key
is a different folder.

Scores (`Scorer.score(prompts, completions)`) count their cost: forward-pass tokens and
seconds. `cached_scores` computes a set of samples' scores once and keeps them in a JSONL
file (star eval: beside its samples in eval_k/<settings>/). A process reward model (a later
objective: token classification, step scores aggregated per candidate) is one more entry
in OBJECTIVES with its own `train` and `load`; storage, key, resume, caching and the
scoring interface are this module's.

- prm: a process reward model (star.prm makes its data: steps labeled from rollouts, Math-
  Shepherd style). TRL 1.16 has no PRM trainer: its experimental PRMTrainer was removed
  upstream (huggingface/trl#7133, TRL > 1.13), and `trl.experimental.prm` is absent here. So
  the PRM is a one-output token-classification head (AutoModelForTokenClassification, the
  LoRA adapter and the head trained together, peft's TOKEN_CLS) under transformers'
  Trainer, with a binary cross-entropy on each step's last token against the step's (soft
  or hard) label, as TRL's PRMTrainer did. Its folder holds steps.jsonl (the labeled
  steps) in place of pairs.jsonl. A candidate's steps are scored in one forward pass
  (sigmoid of the head at each step's last token); its score is their min or the last
  (verifier.aggregate). Steps are the completion cut after each task delimiter
  (`task.step_delimiter`, default a newline: `split_steps`), tokenized one by one, so
  a step's last token is the same in training and scoring whatever the tokenizer merges.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import TrainerCallback

from star import identity
from star.config import ModelConfig, VerifierConfig
from star.models import device_for, dtype_for, from_pretrained, load_tokenizer
from star.rundir import atomic_dir, atomic_write_json, atomic_write_jsonl, read_jsonl
from star.types import Sample, Verdict

log = logging.getLogger(__name__)

FOLDER = "verifier"  # RUN/verifier/: every verifier of a run, and the extra samples' cache
INFO = "verifier.json"  # written last: a folder with it is whole


# -- data -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    """One preference pair: a correct and an incorrect completion of the same training problem."""

    problem_id: str
    prompt: str
    chosen: str
    rejected: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Pair:
        return cls(**d)


def run_samples(run: Path, iterations: Sequence[int], hinted: bool = True) -> list[Sample]:
    """The checked training-side samples of `iterations`: iter_NNN/samples.jsonl, and with
    `hinted` iter_NNN/rationalized.jsonl. Nothing else in the run directory is read."""
    out: list[Sample] = []
    for t in iterations:
        names = ("samples", "rationalized") if hinted else ("samples",)
        for name in names:
            f = Path(run) / f"iter_{t:03d}" / f"{name}.jsonl"
            if f.is_file():
                out += [Sample.from_dict(r) for r in read_jsonl(f)]
            elif name == "samples":
                raise FileNotFoundError(f"{f}: no training samples (iteration {t} has no generate stage)")
    return out


def candidates(samples: Iterable[Sample], prompts: Mapping[str, str],
               hinted: bool = True) -> dict[str, tuple[list[str], list[str]]]:
    """Per training problem (the ids of `prompts`, each mapped to the training prompt the task
    renders for it): its distinct correct and incorrect completions, in sample order. A sample
    of any other problem, or whose training prompt is not its problem's, is dropped (counted in
    the log); so are unverifiable and rejected samples, and hinted ones unless `hinted`.
    Completions are told apart by their whitespace-normalized text."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    seen: set[tuple[str, str]] = set()
    foreign = 0
    for s in samples:
        if s.problem_id not in prompts or s.train_prompt != prompts[s.problem_id]:
            foreign += 1
            continue
        if s.verdict is Verdict.UNVERIFIABLE or s.rejected or (s.hinted and not hinted):
            continue
        key = (s.problem_id, " ".join(s.completion.split()))
        if key in seen or not key[1]:
            continue
        seen.add(key)
        correct, incorrect = out.setdefault(s.problem_id, ([], []))
        (correct if s.verdict is Verdict.CORRECT else incorrect).append(s.completion)
    if foreign:
        log.warning("verifier data: %d samples are not of a training problem (or not under its training "
                    "prompt) and were left out", foreign)
    return out


def pairs(cands: Mapping[str, tuple[Sequence[str], Sequence[str]]], prompts: Mapping[str, str],
          per_problem: int, seed: int) -> list[Pair]:
    """Every problem's (correct, incorrect) combinations, at most `per_problem` of them, drawn
    with a generator seeded by (seed, problem id): the same pairs whatever else is in the data.
    The prompt is the one the task renders (`prompts`), never a sample's own text."""
    out: list[Pair] = []
    for pid, (correct, incorrect) in cands.items():
        combos = [(c, r) for c in correct for r in incorrect]
        random.Random(f"{seed}/{pid}").shuffle(combos)
        out += [Pair(pid, prompts[pid], c, r) for c, r in combos[:per_problem]]
    return out


def data_stats(cands: Mapping[str, tuple[Sequence[str], Sequence[str]]], made: Sequence[Pair]) -> dict[str, int]:
    return {"problems": len(cands), "correct": sum(len(c) for c, _ in cands.values()),
            "incorrect": sum(len(i) for _, i in cands.values()),
            "problems_with_pairs": sum(bool(c) and bool(i) for c, i in cands.values()), "pairs": len(made)}


# -- identity and storage ------------------------------------------------------------------------------
def content_hash(rows: Iterable[Mapping[str, Any]]) -> str:
    """The sha256 of rows as canonical JSON lines (pairs, samples)."""
    import hashlib

    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps(r, sort_keys=True, ensure_ascii=False).encode() + b"\n")
    return h.hexdigest()


def verifier_key(cfg: VerifierConfig, iterations: Sequence[int], made: Sequence[Pair], base_hash: str,
                 seed: int) -> str:
    """Everything that shapes a verifier's weights, as a short key."""
    import peft
    import transformers
    import trl

    return identity.cache_key({
        "config": asdict(cfg), "iterations": sorted(iterations), "seed": seed, "base": base_hash,
        "pairs": content_hash(p.to_dict() for p in made), "code": identity.source_hash(__name__),
        "libraries": {"torch": torch.__version__, "transformers": transformers.__version__,
                      "trl": trl.__version__, "peft": peft.__version__},
    })


def folder_for(run: Path, cfg: VerifierConfig, key: str) -> Path:
    return Path(run) / FOLDER / f"{cfg.name or cfg.objective}-{key[:12]}"


def split_steps(completion: str, delimiter: str = "\n") -> list[str]:
    """A completion's steps: cut after each `delimiter` (kept with the step before it, so the
    steps join back to the completion); a step of whitespace alone joins the one before."""
    out: list[str] = []
    for piece in completion.split(delimiter):
        out.append(piece + delimiter)
    out[-1] = out[-1][: len(out[-1]) - len(delimiter)]
    steps: list[str] = []
    for piece in out:
        if steps and not piece.strip():
            steps[-1] += piece
        elif piece:
            steps.append(piece)
    return steps


def step_delimiter(task: Any) -> str:
    """The task's step delimiter (`step_delimiter`, an attribute or a method), else a newline."""
    d = getattr(task, "step_delimiter", None)
    d = d() if callable(d) else d
    return d if isinstance(d, str) and d else "\n"


def info(folder: Path) -> dict[str, Any]:
    f = Path(folder) / INFO
    if not f.is_file():
        raise FileNotFoundError(f"{folder}: not a verifier (no {INFO}; train one with `star verifier RUN`)")
    return json.loads(f.read_text())


def named(folder: str, name: str) -> bool:
    """Whether `name` names the verifier folder `folder` (<objective or verifier.name>-<key>): the
    whole name, its objective or verifier.name (dpo names dpo-<key>, not dpo16-<key>), or a
    prefix of the whole name (dpo-3f2a)."""
    return folder == name or folder.startswith(f"{name}-") or ("-" in name and folder.startswith(name))


def resolve(run: Path, name: str) -> Path:
    """A verifier named on the command line: a folder, a folder name under RUN/verifier/, or an
    objective (dpo, orm, prm) or verifier.name when the run has exactly one verifier of it."""
    path = Path(name)
    if (path / INFO).is_file():
        return path
    root = Path(run) / FOLDER
    if (root / name / INFO).is_file():
        return root / name
    found = sorted(p for p in root.iterdir() if named(p.name, name) and (p / INFO).is_file()) if root.is_dir() else []
    if len(found) == 1:
        return found[0]
    have = sorted(p.name for p in root.iterdir() if (p / INFO).is_file()) if root.is_dir() else []
    raise FileNotFoundError(f"verifier {name!r}: " + (f"{len(found)} verifiers match it "
                                                     f"({', '.join(p.name for p in found)}): name one"
                                                     if found else f"no such verifier in {root} "
                                                     f"(there: {', '.join(have) or 'none'}; train one with "
                                                     "`star verifier RUN`)"))


def build(folder: Path, base: Path, made: Sequence[Any], cfg: VerifierConfig, model_cfg: ModelConfig, seed: int,
          meta: Mapping[str, Any]) -> Path:
    """Train the verifier into `folder` unless it is there already (whole: atomic_dir; the
    caller holds the lock of RUN/verifier/, which also clears a killed build's leftovers).
    `made` is the objective's data (pairs, or star.prm's labeled steps), rows with to_dict."""
    if (folder / INFO).is_file():
        log.info("verifier %s: trained already", folder)
        return folder
    objective = OBJECTIVES[cfg.objective]
    if not made:
        raise ValueError(getattr(objective, "no_data", None) or (
            "no preference pairs: no training problem has both a correct and an incorrect sample "
            "in the chosen iterations (more iterations, verifier.hinted=true, or extra samples: "
            "star verifier RUN --samples 4)"))
    with atomic_dir(folder) as tmp:
        atomic_write_jsonl(tmp / getattr(objective, "data_file", "pairs.jsonl"), [p.to_dict() for p in made])
        stats = objective.train(base, made, cfg, model_cfg, tmp / "adapter", seed)
        atomic_write_json(tmp / "train_log.json", stats)
        atomic_write_json(tmp / INFO, {**meta, "objective": cfg.objective, "config": asdict(cfg), "seed": seed,
                                       "train": {k: stats[k] for k in ("steps", "seconds", "pairs") if k in stats}})
    return folder


# -- training ---------------------------------------------------------------------------------------
class Objective(Protocol):
    """A verifier objective: how it trains from pairs, and how its adapter scores candidates."""

    def train(self, base: Path, made: Sequence[Pair], cfg: VerifierConfig, model_cfg: ModelConfig, out: Path,
              seed: int) -> dict[str, Any]: ...

    def load(self, base: Path, folder: Path, meta: Mapping[str, Any], model_cfg: ModelConfig) -> Scorer: ...


def _trl_args(config_cls: type, cfg: VerifierConfig, out: Path, seed: int, device: torch.device,
              model_cfg: ModelConfig, **extra: Any) -> Any:
    """TRL's config for a verifier's training: no checkpoints (a killed training is redone:
    it is about as long as a STaR iteration's), no reports, quiet, seeded."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_cls)}
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return config_cls(
        output_dir=str(out), max_steps=cfg.steps, per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.lr,
        lr_scheduler_type="constant_with_warmup", warmup_steps=min(cfg.warmup_steps, cfg.steps), logging_steps=1,
        save_strategy="no", report_to="none", disable_tqdm=True, log_level="warning", seed=seed, data_seed=seed,
        dataloader_num_workers=0, use_cpu=device.type == "cpu", bf16=dtype_for(model_cfg, device) == torch.bfloat16,
        **({"max_length": cfg.max_length} if "max_length" in names else {}),  # TRL's configs; not Trainer's
        **{checkpointing: False}, **extra)  # TRL's default is on: slower at this size


def lora_config(cfg: VerifierConfig, task_type: str):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(cfg.lora.target_modules), task_type=task_type)


def _run_trainer(trainer: Any, out: Path, made: Sequence[Pair], accuracy_key: str) -> dict[str, Any]:
    """Train quietly (a step bar instead of TRL's printed logs), save the adapter into `out`,
    and summarize the log history."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.pop_callback(PrinterCallback)
    trainer.pop_callback(ProgressCallback)
    trainer.add_callback(_Bar())
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    trainer.model.save_pretrained(str(out))
    (out / "README.md").unlink(missing_ok=True)  # peft's model card: what we know is in verifier.json
    shutil.rmtree(trainer.args.output_dir, ignore_errors=True)
    history = [h for h in trainer.state.log_history if "loss" in h]
    last = history[-10:]
    return {"steps": trainer.state.global_step, "seconds": round(seconds, 3), "pairs": len(made),
            "loss_first": history[0]["loss"] if history else math.nan,
            "loss_last": history[-1]["loss"] if history else math.nan,
            "pair_accuracy_last10": (sum(h.get(accuracy_key, math.nan) for h in last) / len(last)
                                     if last else math.nan),
            "log_history": history}


class _Bar(TrainerCallback):
    """A progress bar over the steps, showing the loss (training.StepBar is on this module's floor)."""

    bar: Any = None

    def on_train_begin(self, args, state, control, **kw):
        if state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, desc="verifier", unit="step", leave=False, disable=None)

    def on_log(self, args, state, control, logs=None, **kw):
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix({"loss": f"{logs['loss']:.3f}"})

    def on_step_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.update(1)

    def on_train_end(self, args, state, control, **kw):
        if self.bar is not None:
            self.bar.close()


def _dataset(made: Sequence[Pair]):
    import datasets

    datasets.disable_progress_bars()  # TRL maps the dataset (tokenize, add EOS) with a bar per step
    return datasets.Dataset.from_list([{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected}
                                       for p in made])


def _quiet_trl() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # star runs offline: TRL's usage ping stays home


class DPO:
    """V-STaR's verifier: DPO against the starting model (the adapter disabled)."""

    def train(self, base: Path, made: Sequence[Pair], cfg: VerifierConfig, model_cfg: ModelConfig, out: Path,
              seed: int) -> dict[str, Any]:
        _quiet_trl()
        from trl import DPOConfig, DPOTrainer

        device = device_for(model_cfg)
        tok = load_tokenizer(base, model_cfg)
        model = from_pretrained(base, model_cfg, device, place=False)
        args = _trl_args(DPOConfig, cfg, out.parent / ".trainer", seed, device, model_cfg, beta=cfg.beta)
        trainer = DPOTrainer(model=model, args=args, train_dataset=_dataset(made), processing_class=tok,
                             peft_config=lora_config(cfg, "CAUSAL_LM"))
        return _run_trainer(trainer, out, made, "rewards/accuracies")

    def load(self, base: Path, folder: Path, meta: Mapping[str, Any], model_cfg: ModelConfig) -> Scorer:
        from peft import PeftModel

        model = from_pretrained(base, model_cfg, device_for(model_cfg))
        model = PeftModel.from_pretrained(model, str(folder / "adapter")).eval()
        return DPOScorer(model, load_tokenizer(base, model_cfg), meta["config"]["beta"])


class ORM:
    """An outcome reward model: a value head on the starting model (TRL's RewardTrainer)."""

    def train(self, base: Path, made: Sequence[Pair], cfg: VerifierConfig, model_cfg: ModelConfig, out: Path,
              seed: int) -> dict[str, Any]:
        _quiet_trl()
        from transformers import set_seed
        from trl import RewardConfig, RewardTrainer

        device = device_for(model_cfg)
        tok = load_tokenizer(base, model_cfg)
        set_seed(seed)  # the value head is initialized at random when the model loads
        model = value_model(base, model_cfg, device, tok)
        args = _trl_args(RewardConfig, cfg, out.parent / ".trainer", seed, device, model_cfg)
        trainer = RewardTrainer(model=model, args=args, train_dataset=_dataset(made), processing_class=tok,
                                peft_config=lora_config(cfg, "SEQ_CLS"))
        return _run_trainer(trainer, out, made, "accuracy")

    def load(self, base: Path, folder: Path, meta: Mapping[str, Any], model_cfg: ModelConfig) -> Scorer:
        from peft import PeftModel

        tok = load_tokenizer(base, model_cfg)
        model = value_model(base, model_cfg, device_for(model_cfg), tok)
        model = PeftModel.from_pretrained(model, str(folder / "adapter")).eval()
        return ORMScorer(model, tok)


def value_model(base: Path, model_cfg: ModelConfig, device: torch.device, tok: Any, per_token: bool = False):
    """The starting model with a one-output value head (AutoModelForSequenceClassification,
    num_labels=1): what the ORM trains and scores with; with `per_token`, one output per
    token (AutoModelForTokenClassification: the PRM's). The head is the one new weight; its
    'missing from the checkpoint' report is expected and silenced."""
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    auto = AutoModelForTokenClassification if per_token else AutoModelForSequenceClassification
    if model_cfg.quantization != "none":
        raise ValueError(f"verifier.objective={'prm' if per_token else 'orm'} with model.quantization="
                         f"{model_cfg.quantization}: a quantized value-head model is not supported; use "
                         "verifier.objective=dpo")
    kwargs: dict[str, Any] = {"dtype": dtype_for(model_cfg, device), "trust_remote_code": model_cfg.trust_remote_code,
                              "num_labels": 1}
    if model_cfg.attn_implementation:
        kwargs["attn_implementation"] = model_cfg.attn_implementation
    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        model = auto.from_pretrained(str(base), **kwargs)
    finally:
        transformers.logging.set_verbosity(level)
    model.config.pad_token_id = tok.pad_token_id  # the head reads the last token that is not padding
    return model.to(device)


class PRM:
    """A process reward model: a per-token value head, read at each step's last token
    (transformers' Trainer: TRL 1.16 has no PRM trainer; see the module docstring)."""

    data_file = "steps.jsonl"
    no_data = ("no labeled steps: no training problem has a sample to label in the chosen iterations "
               "(more iterations, or verifier.hinted=true)")

    def train(self, base: Path, made: Sequence[Any], cfg: VerifierConfig, model_cfg: ModelConfig, out: Path,
              seed: int) -> dict[str, Any]:
        from peft import get_peft_model
        from transformers import TrainingArguments, set_seed

        device = device_for(model_cfg)
        tok = load_tokenizer(base, model_cfg)
        set_seed(seed)  # the head is initialized at random when the model loads
        model = get_peft_model(value_model(base, model_cfg, device, tok, per_token=True),
                               lora_config(cfg, "TOKEN_CLS"))
        rows = []
        for e in made:
            ids, ends = encode_steps(tok, e.prompt, e.steps)
            labels = [-100.0] * len(ids)
            for end, label in zip(ends, e.labels, strict=True):
                labels[end] = float(label)
            if any(x >= 0 for x in labels[: cfg.max_length]):  # a step ends within verifier.max_length
                rows.append({"input_ids": ids[: cfg.max_length], "labels": labels[: cfg.max_length]})
        args = _trl_args(TrainingArguments, cfg, out.parent / ".trainer", seed, device, model_cfg,
                         remove_unused_columns=False)
        trainer = _StepTrainer(model=model, args=args, train_dataset=rows, data_collator=_StepCollator(tok.pad_token_id))
        return _run_trainer(trainer, out, made, "step_accuracy")

    def load(self, base: Path, folder: Path, meta: Mapping[str, Any], model_cfg: ModelConfig) -> Scorer:
        from peft import PeftModel

        tok = load_tokenizer(base, model_cfg)
        model = value_model(base, model_cfg, device_for(model_cfg), tok, per_token=True)
        model = PeftModel.from_pretrained(model, str(folder / "adapter")).eval()
        return PRMScorer(model, tok, meta.get("delimiter", "\n"), meta["config"].get("aggregate", "min"))


def encode_steps(tokenizer: Any, prompt: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
    """prompt's tokens, then each step's own (tokenized alone); and each step's last position."""
    ids = list(tokenizer(prompt).input_ids)
    ends = []
    for step in steps:
        ids += tokenizer(step, add_special_tokens=False).input_ids
        ends.append(len(ids) - 1)
    return ids, ends


class _StepCollator:
    """Right-pads input ids (the pad id) and labels (-100: no step ends there)."""

    def __init__(self, pad: int):
        self.pad = pad

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        labels = torch.full((len(rows), width), -100.0)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n], labels[i, :n], mask[i, :n] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"]), 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _step_trainer_cls():
    from transformers import Trainer

    class StepTrainer(Trainer):
        """Binary cross-entropy of the head at each step's last token against its label (soft or
        hard); logs the share of steps on the right side of 0.5 as step_accuracy."""

        def __init__(self, *a: Any, **kw: Any):
            super().__init__(*a, **kw)
            self._hits: list[float] = []

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            outputs = model(**inputs, use_cache=False)
            logits = outputs.logits[..., 0].float()
            keep = labels >= 0
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[keep], labels[keep])
            self._hits.append(float(((logits[keep] > 0) == (labels[keep] >= 0.5)).float().mean()))
            return (loss, outputs) if return_outputs else loss

        def log(self, logs: dict[str, float], *a: Any, **kw: Any) -> None:
            if "loss" in logs and self._hits:
                logs = {**logs, "step_accuracy": sum(self._hits) / len(self._hits)}
                self._hits = []
            super().log(logs, *a, **kw)

    return StepTrainer


def _StepTrainer(**kw: Any) -> Any:  # noqa: N802 - a class, built when transformers' Trainer is first needed
    return _step_trainer_cls()(**kw)


OBJECTIVES: dict[str, Objective] = {"dpo": DPO(), "orm": ORM(), "prm": PRM()}


# -- scoring ----------------------------------------------------------------------------------------
class Scorer:
    """Scores candidates (prompt, completion): higher is more likely right. Counts its cost:
    forward-pass tokens (every pass over every real token) and seconds."""

    passes = 1  # forward passes per candidate

    def __init__(self, model: Any, tokenizer: Any):
        self.model, self.tokenizer = model, tokenizer
        self.device = next(model.parameters()).device
        self.tokens, self.seconds, self.candidates = 0, 0.0, 0
        vocab = int(getattr(model.config, "vocab_size", 0) or 0)
        # tokens (rows x length) per batch: a batch's logits stay near 32 MB (4 MB of them at a
        # real model's 150k vocabulary); larger batches only cost page faults on a CPU
        self.budget = min(16384, max(256, (1 << 23) // max(vocab, 1)))

    def encode(self, prompt: str, completion: str) -> tuple[list[int], int]:
        """prompt + completion + EOS as TRL's trainers tokenize them, and where the completion
        starts (where the prompt's tokens and the whole's diverge)."""
        tok = self.tokenizer
        p = tok(prompt).input_ids
        ids = tok(prompt + completion + tok.eos_token).input_ids
        n = 0
        while n < min(len(p), len(ids)) and p[n] == ids[n]:
            n += 1
        return ids, n

    def score(self, prompts: Sequence[str], completions: Sequence[str], desc: str = "score") -> list[float]:
        return [float(v) for v in self.forward([self.encode(p, c) for p, c in zip(prompts, completions, strict=True)],
                                               desc)]

    @torch.inference_mode()
    def forward(self, encoded: Sequence[tuple[list[int], Any]], desc: str = "score") -> list[Any]:
        """`batch`'s output per (ids, what batch needs of the row), batched by length, counted."""
        from tqdm.auto import tqdm

        t0 = time.perf_counter()
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
        out: list[Any] = [0.0] * len(encoded)
        bar = tqdm(total=len(encoded), desc=desc, unit="cand", leave=False, disable=None)
        i = 0
        while i < len(order):
            width = len(encoded[order[i]][0])
            batch = order[i:i + max(1, self.budget // width)]
            ids = torch.full((len(batch), width), self.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, j in enumerate(batch):  # right-padded, as the trainers' collators pad
                x = encoded[j][0]
                ids[r, :len(x)], mask[r, :len(x)] = torch.tensor(x), 1
            values = self.batch(ids.to(self.device), mask.to(self.device), [encoded[j][1] for j in batch])
            for j, v in zip(batch, values if isinstance(values, list) else values.tolist(), strict=True):
                out[j] = v
            self.tokens += int(mask.sum()) * self.passes
            bar.update(len(batch))
            i += len(batch)
        bar.close()
        self.candidates += len(encoded)
        self.seconds += time.perf_counter() - t0
        return out

    def batch(self, ids: torch.Tensor, mask: torch.Tensor, starts: Sequence[int]) -> torch.Tensor:
        raise NotImplementedError

    def cost(self) -> dict[str, float]:
        return {"candidates": self.candidates, "tokens": self.tokens, "seconds": round(self.seconds, 3)}


def completion_logps(model: Any, ids: torch.Tensor, mask: torch.Tensor, starts: Sequence[int]) -> torch.Tensor:
    """Per row: the sum of log p(token | tokens before) over the completion's tokens (from
    `starts[row]` to the last real token)."""
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    pos = torch.arange(ids.shape[1] - 1, device=ids.device)[None]
    keep = (pos >= torch.tensor(starts, device=ids.device)[:, None] - 1) & mask[:, 1:].bool()
    return (logp * keep).sum(-1)


class DPOScorer(Scorer):
    """beta * (log pi(y|x) - log pi_ref(y|x)): the adapter on, then off (the starting model)."""

    passes = 2

    def __init__(self, model: Any, tokenizer: Any, beta: float):
        super().__init__(model, tokenizer)
        self.beta = beta

    def batch(self, ids, mask, starts):
        policy = completion_logps(self.model, ids, mask, starts)
        with self.model.disable_adapter():
            reference = completion_logps(self.model, ids, mask, starts)
        return self.beta * (policy - reference)


class ORMScorer(Scorer):
    """The value head's output on the candidate's last token."""

    def batch(self, ids, mask, starts):
        return self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, 0].float()


class PRMScorer(Scorer):
    """A process reward model: the sigmoid of the head at each step's last token; a candidate's
    score is their min or the last (`aggregate`); `step_scores` gives them all."""

    def __init__(self, model: Any, tokenizer: Any, delimiter: str = "\n", aggregate: str = "min"):
        super().__init__(model, tokenizer)
        self.delimiter, self.aggregate = delimiter, aggregate

    def encode(self, prompt: str, completion: str) -> tuple[list[int], list[int]]:
        return encode_steps(self.tokenizer, prompt, split_steps(completion, self.delimiter))

    def step_scores(self, prompts: Sequence[str], completions: Sequence[str], desc: str = "score") -> list[list[float]]:
        return self.forward([self.encode(p, c) for p, c in zip(prompts, completions, strict=True)], desc)

    def score(self, prompts: Sequence[str], completions: Sequence[str], desc: str = "score") -> list[float]:
        return [aggregate(s, self.aggregate) for s in self.step_scores(prompts, completions, desc)]

    def batch(self, ids, mask, ends):
        p = torch.sigmoid(self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits[..., 0].float())
        return [[float(p[r, e]) for e in row] for r, row in enumerate(ends)]


def aggregate(step_scores: Sequence[float], how: str = "min") -> float:
    """A solution's score from its steps' (min: its weakest step; last: the final one); 0 with none."""
    if not step_scores:
        return 0.0
    return float(min(step_scores) if how == "min" else step_scores[-1])


def load(folder: Path, base: Path, model_cfg: ModelConfig, base_hash: str | None = None) -> Scorer:
    """A trained verifier, ready to score. With `base_hash`, refuse a starting model other than
    the one the verifier was trained on (its adapter would be applied to another model)."""
    meta = info(folder)
    if base_hash is not None and meta.get("base", {}).get("hash") != base_hash:
        raise ValueError(f"{folder}: trained on the starting model {meta.get('base')}, but this one is {base} "
                         f"(content {base_hash}): score with the run it was trained for")
    return OBJECTIVES[meta["objective"]].load(base, Path(folder), meta, model_cfg)


def cached_scores(path: Path, samples: Sequence[Sample], scorer: Callable[[], Scorer],
                  desc: str = "score") -> tuple[dict[tuple[str, int], float], dict[str, float]]:
    """Scores of `samples` keyed by (problem id, index), computed once (by the scorer that
    `scorer()` returns, called only when the file is missing) and kept in `path` (JSONL, with
    its cost beside it in `<path>.cost.json`); a file that does not cover every sample is redone."""
    path = Path(path)
    cost_file = path.with_suffix(".cost.json")
    wanted = {(s.problem_id, s.index) for s in samples}
    if path.is_file():
        rows = {(r["problem_id"], r["index"]): r["score"] for r in read_jsonl(path)}
        if wanted <= rows.keys():
            cost = json.loads(cost_file.read_text()) if cost_file.is_file() else {}
            return {k: rows[k] for k in wanted}, cost
    s = scorer()
    before = s.cost()
    values = s.score([x.train_prompt for x in samples], [x.completion for x in samples], desc=desc)
    after = s.cost()
    cost = {k: round(after[k] - before[k], 3) for k in after}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cost_file, cost)  # before the scores: a kill between the two rescored and retimed
    atomic_write_jsonl(path, [{"problem_id": x.problem_id, "index": x.index, "score": v}
                              for x, v in zip(samples, values, strict=True)])
    return {(x.problem_id, x.index): v for x, v in zip(samples, values, strict=True)}, cost
