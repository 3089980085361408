"""End to end: distillation (loop.teacher) on the smoke preset's tiny models.

A finished run's final model teaches a smaller student: its greedy samples of the training
problems are what the student trains on (the same completions the teacher run itself draws
from those weights), each marked as the teacher's (`voter` -1), and the student alone is
evaluated; the teacher is pinned, so resuming the student after the teacher run went on
training is refused. A teacher with another tokenizer (a small BPE built here with
`tokenizers`, no download) teaches the byte-level tiny student: the examples are text, and
the student packs them with its own tokenizer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

STAR = [sys.executable, "-m", "star.cli", "run", "experiment=smoke"]


def star_run(tmp: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*STAR, f"out_dir={tmp}", *overrides], capture_output=True, text=True, cwd=tmp,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"star run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def completions(path: Path) -> list[tuple[str, str]]:
    return [(s["problem_id"], s["completion"]) for s in records(path)]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("teacher")
    star_run(tmp, "run_name=teacher")
    return tmp / "arithmetic" / "teacher"


@pytest.mark.slow  # a teacher run (module fixture) and a student run: ~1-2.5 minutes
def test_a_smaller_student_trains_on_the_teachers_final_samples(teacher: Path, tmp_path: Path):
    star_run(tmp_path, "run_name=student", "model.tiny.layers=1", f"loop.teacher={teacher}")
    student = tmp_path / "arithmetic" / "student"
    manifest = json.loads((student / "manifest.json").read_text())["models"]
    assert Path(manifest["teacher"]["path"]).resolve() == (teacher / "iter_002" / "adapter").resolve()
    assert manifest["starting_model"]["hash"] != json.loads((teacher / "manifest.json").read_text())[
        "models"]["starting_model"]["hash"], "the student is a model of its own"
    for t in (1, 2):
        it = student / f"iter_{t:03d}"
        samples, hinted, train = records(it / "samples.jsonl"), records(it / "rationalized.jsonl"), records(it / "train.jsonl")
        assert samples and all(s["voter"] == -1 for s in samples + hinted), "every training-side sample is the teacher's"
        written = {(s["problem_id"], s["completion"]) for s in samples + hinted if s["verdict"] == "correct"}
        assert train and {(e["problem_id"], e["completion"]) for e in train} <= written
        assert (it / "adapter" / "adapter_model.safetensors").is_file()  # the student trained ...
    # ... on one fixed teacher: greedy, the same completions every iteration
    assert completions(student / "iter_001" / "samples.jsonl") == completions(student / "iter_002" / "samples.jsonl")
    rows = records(student / "metrics.jsonl")
    assert [r["iteration"] for r in rows] == [0, 1, 2] and all(r["eval/n"] == 32 for r in rows)

    # The teacher run, one iteration further, draws its samples from the same final weights: the same completions.
    star_run(teacher.parent.parent, "run_name=teacher", "loop.iterations=3")
    assert completions(teacher / "iter_003" / "samples.jsonl") == completions(student / "iter_001" / "samples.jsonl")
    # Its final model is now another: resuming the student against it is refused, naming the teacher.
    proc = star_run(tmp_path, "run_name=student", "model.tiny.layers=1", f"loop.teacher={teacher}", "loop.iterations=3",
                    check=False)
    assert proc.returncode != 0 and "teacher" in proc.stderr and "iter_003" in proc.stderr


@pytest.mark.slow  # uses the teacher run of the module
def test_a_plain_model_teaches_from_its_own_weights(teacher: Path, tmp_path: Path):
    """loop.teacher=<a model directory>: the teacher run's starting model wrote that run's
    iteration-1 samples, and writes the student's the same way."""
    start = Path(json.loads((teacher / "manifest.json").read_text())["models"]["starting_model"]["path"])
    star_run(tmp_path, "run_name=plain", "model.tiny.layers=1", f"loop.teacher={start}", "loop.iterations=1")
    it = tmp_path / "arithmetic" / "plain" / "iter_001"
    assert completions(it / "samples.jsonl") == completions(teacher / "iter_001" / "samples.jsonl")
    assert completions(it / "rationalized.jsonl") == completions(teacher / "iter_001" / "rationalized.jsonl")


# -- a teacher with another tokenizer -----------------------------------------------------------------
def build_bpe_model(out: Path, vocab_size: int = 400) -> Path:
    """A tiny Llama with a byte-level BPE tokenizer trained here on the smoke task's worked
    rationales (merges across digits and words: nothing like the student's byte tokens)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from star.config import make_task
    from star.task_cli import compose

    task = make_task(compose(["experiment=smoke"]).task)
    texts = [task.prompt(p) + c for p, c in task.seed_rationales()]
    special = ["<pad>", "<eos>", "<bos>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", tok.token_to_id("<bos>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                   padding_side="left")
    config = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                         tie_word_embeddings=True, pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id,
                         bos_token_id=fast.bos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.mark.slow  # two smoke runs with BPE tokenizers: ~40-90 s
def test_a_teacher_with_another_tokenizer(tmp_path: Path):
    from transformers import AutoTokenizer

    from star.models import build_tiny_tokenizer
    from star.training import pack, tokenize
    from star.types import Example

    bpe = build_bpe_model(tmp_path / "bpe")
    star_run(tmp_path, "run_name=bpe_teacher", "model=hf", f"model.name_or_path={bpe}", "model.cold_start.enabled=true",
             "loop.iterations=0")
    teacher = tmp_path / "arithmetic" / "bpe_teacher"
    star_run(tmp_path, "run_name=student", f"loop.teacher={teacher}", "loop.iterations=1")
    it = tmp_path / "arithmetic" / "student" / "iter_001"
    examples = [Example.from_dict(e) for e in records(it / "train.jsonl")]
    assert examples, "the BPE teacher solved or rationalized nothing: no example to re-tokenize"
    theirs, ours = AutoTokenizer.from_pretrained(bpe), build_tiny_tokenizer()
    text = examples[0].prompt + examples[0].completion
    assert theirs(text).input_ids != ours(text).input_ids, "the two tokenizers must differ for this test to mean anything"
    log = json.loads((it / "adapter" / "train_log.json").read_text())
    seq_len = 256  # experiment=smoke's trainer.seq_len

    def packed(tok):
        rows = pack(tokenize(examples, tok, seq_len), seq_len, tok.pad_token_id, 0)
        return len(rows), round(sum(int((r["labels"] != -100).sum()) for r in rows) / (len(rows) * seq_len), 3)

    assert (log["examples"], log["rows"], log["fill"]) == (len(examples), *packed(ours)), "packed with the student's tokens"
    assert packed(theirs) != packed(ours)
