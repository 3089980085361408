"""algorithm=grpo: online RL with verifiable rewards (GRPO: Shao et al. 2024, DeepSeekMath;
DeepSeek-R1-Zero) through TRL's GRPOTrainer, behind star's tasks, checkers and run directory.

A sibling of star.loop.run, not a branch in it. TRL does the work of GRPO: it samples
`algorithm.num_generations` completions per prompt (transformers' generate, or its vLLM
integration with `algorithm.use_vllm`), scores them with the reward functions,
normalizes the rewards within each prompt's group into advantages, and takes the policy
gradient step on a LoRA adapter (peft). What star adds is written here and in
star/rewards.py: the task's training prompts as TRL's dataset (rendered as the STaR loop
renders them, the problem id beside each), the task's checker as the reward (through the
run's CheckPool), and rounds.

GRPO's steps are grouped into rounds of `algorithm.steps_per_round` optimizer steps, and
round t is iteration t of the run directory (loop.iterations rounds; iteration 0
evaluates the starting model, as in STaR):

    iter_NNN/adapter/     TRL's checkpoint after round t: the LoRA adapter, the optimizer,
                          scheduler and RNG states, trainer_state.json; train_log.json
                          (the round's log history, generated tokens, verdicts)
    iter_NNN/eval.jsonl   greedy evaluation of round t's model: the STaR loop's own stage
    iter_NNN/metrics.json, one metrics.jsonl row, DONE

Round t resumes TRL's training from round t - 1's checkpoint (`resume_from_checkpoint`:
adapter, optimizer and scheduler state, RNG states and the position in the data), so R
rounds are one GRPO run of R x steps_per_round steps cut at round boundaries, and a run
killed at any point resumes from the last finished round with the same numbers: every
round, interrupted or not, starts in a fresh trainer from the checkpoint on disk. The
trainer is seeded from (run seed, stage) with `loop.seed_for`; its RNG state then travels
in the checkpoints. The reference model of the KL term (`algorithm.beta` > 0) is the
starting model (the adapter disabled).

The round's figures in the metrics row come from TRL's log history (mean reward, KL,
completion length, entropy, loss, the share of groups whose rewards all agree) and from
the reward itself (the standard deviation of the rewards within each prompt's group, the
share of completions judged correct, unverifiable verdicts, generated tokens), as
`train/...` keys beside the loop's `eval/...` ones.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from statistics import fmean
from typing import Any

from transformers import LogitsProcessor, LogitsProcessorList
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from star.checkers import CheckPool
from star.cold_start import starting_model
from star.config import AlgorithmConfig, Config, ConfigError
from star.generation import decoding_config, eos_token_ids
from star.identity import tree_hash
from star.iteration import Evaluation, finish, pending, seed_for
from star.models import device_for, dtype_for, from_pretrained
from star.policy import Policy, free_accelerator
from star.prompting import render
from star.rewards import TaskReward
from star.rundir import RunDir
from star.train_process import accelerate
from star.training import StepBar
from star.types import Problem, Task

log = logging.getLogger(__name__)

# TRL's log-history keys -> the round's metrics (the mean over the round's logged steps)
LOGGED = {"reward": "train/reward", "reward_std_in_group": "train/reward_std",
          "frac_reward_zero_std": "train/frac_reward_zero_std", "kl": "train/kl",
          "completions/mean_length": "train/completion_length", "entropy": "train/entropy",
          "loss": "train/loss", "correct_rate": "train/correct_rate"}


def run(cfg: Config, task: Task, rundir: RunDir, pool: CheckPool, trackers: list) -> list[dict[str, Any]]:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # star runs offline: TRL's usage ping stays home
    trl_args(cfg.algorithm)  # an unknown algorithm.trl key fails here, before minutes of cold start
    train_set, eval_set = task.load("train"), task.load(cfg.eval.split)[: cfg.eval.max_problems]
    base = Path(starting_model(cfg.model, task, cfg.seed, pool))
    rundir.pin_model("starting_model", base, tree_hash(base))
    log.info("%s: GRPO on %d training problems, %d eval problems; starting model %s",
             task.name, len(train_set), len(eval_set), base)
    policy = Policy(base, cfg, rundir.path)
    rounds, evaluate = Rounds(cfg, task, pool, policy, train_set), Evaluation(cfg, task, pool, eval_set)
    for t, it in pending(rundir, cfg.loop.iterations):
        row: dict[str, Any] = {"iteration": t}
        if t > 0:
            adapter = it.folder("adapter", rounds.train, t)
            row |= round_metrics(json.loads((adapter / "train_log.json").read_text()))
            log.info("round %d | reward %.3f (std within groups %.3f, groups without signal %.0f%%) | "
                     "%d completions, %d tokens, mean length %.0f", t, row.get("train/reward", float("nan")),
                     row.get("train/reward_std", float("nan")), 100 * row.get("train/frac_reward_zero_std", 0),
                     row["train/completions"], row["train/tokens"], row.get("train/completion_length", 0))
        finish(rundir, it, row, evaluate, policy, trackers)
    return rundir.metrics()


class Rounds:
    """GRPO's rounds: round t trains `steps_per_round` steps on from round t - 1's checkpoint,
    in this process, or (`trainer.launcher=accelerate`) under `accelerate launch`."""

    def __init__(self, cfg: Config, task: Task, pool: CheckPool, policy: Policy, problems: list[Problem]):
        self.cfg, self.task, self.pool, self.policy, self.problems = cfg, task, pool, policy, problems

    def train(self, out: Path, t: int) -> None:
        """Round t into `out` (the run directory's temporary adapter folder, renamed into place
        when this returns): TRL's checkpoint at step t x steps_per_round, and train_log.json."""
        previous = self.previous(t)
        self.policy.release()  # the trainer gets the accelerator
        if self.cfg.trainer.launcher == "accelerate":
            launch(self.cfg, self.policy.base, self.policy.run_path, out, t)
        else:
            self.train_here(out, t, previous)

    def previous(self, t: int) -> Path | None:
        """Round t - 1's checkpoint, which round t resumes (none for round 1)."""
        if t == 1:
            return None
        previous = self.policy.run_path / f"iter_{t - 1:03d}" / "adapter"
        if not (previous / "trainer_state.json").is_file():
            raise FileNotFoundError(f"round {t} continues from {previous}, which holds no TRL checkpoint")
        return previous

    def train_here(self, out: Path, t: int, previous: Path | None) -> None:
        """Round t in this process (one rank, under a launcher); rank 0 writes `out`."""
        import torch
        from trl import GRPOTrainer

        a, steps, tok = self.cfg.algorithm, self.cfg.algorithm.steps_per_round, self.policy.tokenizer
        device = device_for(self.cfg.model)
        model = from_pretrained(self.policy.base, self.cfg.model, device, place=False)
        # Sample what the loop samples: star's decoding config (no model defaults such as top_k or a
        # repetition penalty; every EOS id), and end each completion where the loop's generator ends
        # it (its problem's budget, the task's stop strings), so that both count the same tokens.
        model.generation_config = decoding_config(model, tok, a.temperature, self.cfg.generator.top_p,
                                                  max_new_tokens=self.max_completion_length())
        ends = Ends(tok, self.budgets(), eos_token_ids(model, tok), self.task.stop)
        model.generate = ends.around(model.generate)
        reward = TaskReward(self.task, self.problems, self.pool, a.reward.correct, a.reward.format,
                            eos=eos_token_ids(model, tok))
        trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=self.args(out, t, device),
                              train_dataset=self.dataset(), processing_class=self.policy.tokenizer,
                              peft_config=lora_config(self.cfg), callbacks=[StepBar(self.cfg.trainer.progress, f"grpo round {t}", "reward", steps)])
        trainer.pop_callback(PrinterCallback)  # it prints every log dict; StepBar shows the reward
        trainer.pop_callback(ProgressCallback)
        trainer.train(resume_from_checkpoint=str(previous) if previous else None)
        acc = trainer.accelerator
        acc.wait_for_everyone()  # every rank's part of the checkpoint is written
        counts = reward.counts()  # each rank judged its own completions: add them up
        totals = acc.reduce(torch.tensor(list(counts.values()), dtype=torch.float64, device=acc.device), "sum")
        if not trainer.is_world_process_zero():
            return
        first = (t - 1) * steps
        checkpoint = out / f"checkpoint-{t * steps}"
        if not (checkpoint / "trainer_state.json").is_file():
            raise RuntimeError(f"TRL wrote no checkpoint at step {t * steps} in {out}")
        for f in checkpoint.iterdir():  # the round's checkpoint is the adapter folder itself
            f.rename(out / f.name)
        checkpoint.rmdir()
        (out / "training_args.bin").unlink(missing_ok=True)  # a pickle of the arguments: ours are in config.yaml
        shutil.rmtree(out / "completions", ignore_errors=True)
        history = [h for h in trainer.state.log_history if first < h.get("step", 0) <= t * steps]
        stats = {"round": t, "steps": trainer.state.global_step - first, "global_step": trainer.state.global_step,
                 "processes": acc.num_processes, **TaskReward.summary(dict(zip(counts, totals.tolist(), strict=True))),
                 "log_history": history}
        (out / "train_log.json").write_text(json.dumps(stats, indent=2) + "\n")
        del trainer, model
        free_accelerator()  # the round's evaluation loads its own model

    def dataset(self):
        """The training problems as TRL's prompt dataset: the prompt the model sees (as the STaR
        loop renders it) and the problem's id, which the reward reads back."""
        from datasets import Dataset

        tok = self.policy.tokenizer
        return Dataset.from_list([{"prompt": render(self.task.prompt(p), tok), "problem_id": p.id}
                                  for p in self.problems])

    def budgets(self) -> dict[str, int]:
        """Each training prompt (as rendered) -> its completion budget in tokens, EOS excluded:
        the task's per-problem budget capped by generator.max_new_tokens, as the loop's
        generation has it (or algorithm.max_completion_length for all, when set)."""
        ceiling, fixed, tok = self.cfg.generator.max_new_tokens, self.cfg.algorithm.max_completion_length, \
            self.policy.tokenizer
        return {render(self.task.prompt(p), tok): fixed or min(ceiling, self.task.max_new_tokens(p) or ceiling)
                for p in self.problems}

    def max_completion_length(self) -> int:
        """TRL's max_completion_length: the largest budget, plus the EOS that ends it."""
        return max(self.budgets().values()) + 1

    def args(self, out: Path, t: int, device) -> Any:
        """TRL's GRPOConfig for round t: training to step t x steps_per_round, a checkpoint there."""
        import torch

        a = self.cfg.algorithm
        return trl_args(a, output_dir=str(out), max_steps=t * a.steps_per_round, save_steps=a.steps_per_round,
                        top_p=self.cfg.generator.top_p, top_k=0, min_p=None, repetition_penalty=1.0,
                        max_completion_length=self.max_completion_length(), seed=seed_for(self.cfg.seed, 0, "grpo"),
                        use_cpu=device.type == "cpu", bf16=dtype_for(self.cfg.model, device) == torch.bfloat16,
                        **{_checkpointing_key(): self.cfg.trainer.gradient_checkpointing},
                        max_grad_norm=self.cfg.trainer.max_grad_norm, weight_decay=self.cfg.trainer.weight_decay)


def _checkpointing_key() -> str:
    """transformers 5 renamed gradient_checkpointing (TRL's default: on) to activation_checkpointing."""
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def trl_args(a: AlgorithmConfig, **run_args: Any) -> Any:
    """TRL's GRPOConfig from the algorithm.* keys (algorithm.trl passes any other argument as
    is). With no `run_args` it only checks the algorithm.trl keys, naming a wrong one."""
    from trl import GRPOConfig

    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    unknown = sorted(set(a.trl) - known)
    if unknown:
        raise ConfigError(f"config error: algorithm.trl.{unknown[0]} is not an argument of TRL's GRPOConfig")
    if not run_args:
        return None
    args = dict(
        per_device_train_batch_size=a.batch_size, num_generations=a.num_generations, learning_rate=a.lr,
        lr_scheduler_type=a.lr_scheduler, warmup_steps=a.warmup_steps, beta=a.beta, temperature=a.temperature,
        loss_type=a.loss_type, scale_rewards=a.scale_rewards, use_vllm=a.use_vllm, vllm_mode=a.vllm_mode,
        logging_steps=1, save_strategy="steps", report_to="none", disable_tqdm=True, log_level="warning",
        dataloader_num_workers=0, **{_checkpointing_key(): False},  # TRL's default is on
    )
    return GRPOConfig(**(args | run_args | dict(a.trl)))


class Ends(LogitsProcessor):
    """Ends each of TRL's completions where star's generator ends it: the next token is forced to
    be EOS once a row has used its problem's budget, or has just completed one of the task's stop
    strings. TRL masks a completion after its first EOS, so GRPO samples, scores, counts and
    trains on the tokens the STaR loop would have generated, plus that EOS (as STaR trains on
    EOS too; the token counts leave it out on both sides).

    A row's budget is found from its prompt, decoded from the left-padded batch; a prompt that
    is not one of the task's (none should be) gets the largest budget."""

    def __init__(self, tokenizer: Any, budgets: dict[str, int], eos: list[int], stop: Sequence[str]):
        from transformers.generation.stopping_criteria import StopStringCriteria

        self.tok, self.eos = tokenizer, eos[0]
        self.budgets = {" ".join(k.split()): v for k, v in budgets.items()}
        self.largest = max(budgets.values())
        self.stop = StopStringCriteria(tokenizer, list(stop)) if stop else None
        self.start, self.rows = 0, None

    def around(self, generate: Any) -> Any:
        """`generate` with this processor, reset at every call (a new batch of prompts)."""

        @functools.wraps(generate)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.rows = None
            return generate(*args, logits_processor=LogitsProcessorList([self]), **kwargs)

        return wrapped

    def __call__(self, input_ids, scores):
        import torch

        if self.rows is None:  # the first step of a generate call: the prompts end here
            self.start = input_ids.shape[1]
            prompts = self.tok.batch_decode(input_ids, skip_special_tokens=True)
            self.rows = torch.tensor([self.budgets.get(" ".join(p.split()), self.largest) for p in prompts],
                                     device=input_ids.device)
        made = input_ids.shape[1] - self.start
        end = made >= self.rows
        if self.stop is not None and made > 0:
            end |= self.stop(input_ids, scores)
        if end.any():
            forced = torch.full_like(scores[end], float("-inf"))
            forced[:, self.eos] = 0.0
            scores[end] = forced
        return scores


def lora_config(cfg: Config):
    """The LoRA adapter GRPO trains: the shape the STaR loop's adapters have (trainer.lora.*)."""
    from peft import LoraConfig

    lora = cfg.trainer.lora
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=list(lora.target_modules), task_type="CAUSAL_LM")


def round_metrics(train_log: dict[str, Any]) -> dict[str, Any]:
    """The training side of a round's metrics row, from its train_log.json."""
    history = train_log.get("log_history", [])
    row: dict[str, Any] = {"train/steps": train_log.get("steps"), "train/tokens": train_log.get("tokens", 0),
                           "train/completions": train_log.get("completions", 0),
                           "train/unverifiable": train_log.get("unverifiable", 0)}
    for name, key in LOGGED.items():
        values = [h[name] for h in history if isinstance(h.get(name), int | float)]
        if values:
            row[key] = round(fmean(values), 6)
    return row


# -- several processes: a round under `accelerate launch` -------------------------------------------
def launch(cfg: Config, base: Path, run_path: Path, out: Path, t: int) -> None:
    """Round t as `accelerate launch --config_file <trainer.accelerate_config> -m star.grpo REQUEST`
    (DDP, FSDP, DeepSpeed: TRL's trainer takes them from accelerate), through the launcher the
    STaR loop's fine-tuning uses. The parent fixes the output folder; every rank rebuilds the
    task and its own checker pool from the config, generates and scores its share of each
    batch (TRL gathers the rewards), and rank 0 writes."""
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    accelerate("star.grpo", {"config": config, "base": str(base), "run": str(Path(run_path).resolve()),
                             "out": str(Path(out).resolve()), "round": t}, cfg.trainer, f"GRPO round {t}")


def main(argv: list[str] | None = None) -> int:
    """One rank of a launched round: the typed config, task and a checker pool of its own."""
    import sys

    from star.config import make_task, to_config
    from star.models import quiet_libraries

    request = json.loads(Path((sys.argv[1:] if argv is None else argv)[0]).read_text())
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"[rank {rank}] %(levelname)s %(name)s: %(message)s")
    quiet_libraries()
    cfg = to_config(request["config"])
    cfg = dataclasses.replace(cfg, trainer=dataclasses.replace(cfg.trainer, progress=cfg.trainer.progress and rank == 0))
    task = make_task(cfg.task)
    with CheckPool(cfg.check.workers, cfg.check.timeout, cfg.check.max_memory_mb) as pool:
        policy = Policy(Path(request["base"]), cfg, Path(request["run"]))  # loads no model until it generates
        rounds = Rounds(cfg, task, pool, policy, task.load("train"))
        t = request["round"]
        rounds.train_here(Path(request["out"]), t, rounds.previous(t))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
