"""Completion-only labels (star/training.py `tokenize` and `pack`): a prompt's tokens, from a
text prompt or a chat template, carry no label; the completion's tokens and one appended
EOS do; a prompt/completion boundary that a BPE would merge stays a boundary; examples
longer than trainer.seq_len are dropped with a warning naming the key. No model."""

from __future__ import annotations

import logging

import pytest
from transformers import PreTrainedTokenizerFast

from star.models import build_tiny_tokenizer
from star.prompting import render
from star.training import IGNORE, pack, tokenize
from star.types import Example

# A chat template of the usual shape: every message wrapped in role markers, then the
# assistant's opening marker (add_generation_prompt), which training must not learn.
CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_tokenizer()


def bpe_tokenizer() -> PreTrainedTokenizerFast:
    """A small BPE with merges, built locally: `=`, `1`, `2` merge into `=12`, so the text
    "1+11=12" tokenizes differently whole than cut after the `=`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    chars = ["Q", ":", " ", "1", "2", "+", "=", "A", "\n", "x"]
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2}
    for ch in chars:
        vocab[ch] = len(vocab)
    merges = [("1", "2"), ("=", "12"), ("1", "1")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Split("\n", behavior="isolated")  # no split at '=' or digits
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    tok.decoder = decoders.Fuse()  # tokens are plain text pieces: decoding concatenates them
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>")


def labeled(ids: list[int], labels: list[int]) -> list[int]:
    assert len(ids) == len(labels)
    return [x for x, y in zip(ids, labels, strict=True) if y != IGNORE]


def check_completion_only(tok, ex: Example) -> tuple[list[int], list[int]]:
    """The example's ids are the prompt as the generator encodes it (`tok(prompts)`), then
    the completion encoded alone, then EOS; exactly the completion and EOS carry labels,
    and the labels equal the ids there."""
    [(ids, labels)] = tokenize([ex], tok, seq_len=1 << 12)
    prompt = tok([ex.prompt]).input_ids[0]  # what star.generation feeds the model
    completion = tok(ex.completion, add_special_tokens=False).input_ids
    assert ids == prompt + completion + [tok.eos_token_id]
    assert labels == [IGNORE] * len(prompt) + completion + [tok.eos_token_id]
    assert labeled(ids, labels)[-1] == tok.eos_token_id
    assert tok.decode(labeled(ids, labels)[:-1]) == ex.completion
    return ids, labels


def test_text_prompt_labels_only_the_completion_and_eos(tiny):
    ex = Example(prompt="Q: 12+7=?\nA:", completion=" 12+7 is 19. The answer is 19.")
    ids, labels = check_completion_only(tiny, ex)
    assert ids[0] == tiny.bos_token_id and labels[0] == IGNORE
    assert sum(y != IGNORE for y in labels) == len(ex.completion.encode()) + 1  # byte-level: a token a byte


def test_chat_prompt_masks_the_whole_template(tiny):
    tok = build_tiny_tokenizer()
    tok.chat_template = CHAT
    prompt = render([{"role": "system", "content": "Add."}, {"role": "user", "content": "12+7?"}], tok)
    assert prompt.endswith("<|assistant|>") and "<|user|>12+7?" in prompt
    ex = Example(prompt=prompt, completion="12+7 is 19. The answer is 19.")
    ids, labels = check_completion_only(tok, ex)
    # every character of the template (roles, markers, the generation prompt) is unlabeled
    assert tok.decode([x for x, y in zip(ids, labels, strict=True) if y == IGNORE],
                      skip_special_tokens=True) == prompt


def test_a_boundary_a_bpe_would_merge_stays_a_boundary():
    """prompt "...=" + completion "12": tokenized whole, `=12` is one token that straddles
    the boundary; training tokenizes the two apart, as the generator sees the prompt, so
    the prompt keeps its own last token (`=`, unlabeled) and the completion starts a token."""
    tok = bpe_tokenizer()
    ex = Example(prompt="Q: 1+11=", completion="12\nA: 12")
    whole = tok(ex.prompt + ex.completion).input_ids
    assert "=12" in tok.convert_ids_to_tokens(whole), "the test needs a merge across the boundary"
    ids, labels = check_completion_only(tok, ex)
    assert ids != whole + [tok.eos_token_id]
    assert tok.convert_ids_to_tokens(ids[:len(tok(ex.prompt).input_ids)])[-1] == "="
    first = next(i for i, y in enumerate(labels) if y != IGNORE)
    assert tok.convert_ids_to_tokens([ids[first]]) == ["12"]
    assert "11" in tok.convert_ids_to_tokens(ids), "the tokenizer merges inside the prompt too"


def test_examples_longer_than_seq_len_are_dropped_with_a_warning(tiny, caplog):
    short = Example(prompt="Q: 1+2\nA:", completion=" 3")  # <bos> + 9 + 2 + <eos> = 13 tokens
    exact = Example(prompt="Q: 1+2\nA:", completion=" 3!")  # 14 tokens: exactly seq_len, kept
    long = Example(prompt="Q: 1+2\nA:", completion=" 3 because")
    with caplog.at_level(logging.WARNING, logger="star.training"):
        out = tokenize([short, long, exact, long], tiny, seq_len=14)
    assert [len(ids) for ids, _ in out] == [13, 14]
    [record] = [r for r in caplog.records if r.name == "star.training"]
    assert record.levelno == logging.WARNING
    assert "dropped 2 of 4" in record.getMessage() and "trainer.seq_len=14" in record.getMessage()


def test_nothing_dropped_no_warning(tiny, caplog):
    with caplog.at_level(logging.WARNING, logger="star.training"):
        tokenize([Example(prompt="Q: 1+2\nA:", completion=" 3")], tiny, seq_len=14)
    assert not [r for r in caplog.records if r.name == "star.training"]


def test_packed_rows_keep_every_label_and_no_cross_example_target(tiny):
    """Each packed row is exactly seq_len; every example appears once, whole, in one row,
    with its own labels; padding is unlabeled; and since a causal LM learns labels[i] from
    tokens before i, the first token of every example (its prompt's first token) and of the
    padding carry no label, so nothing is learned from the previous example's tokens."""
    exs = [Example(prompt=f"Q: {a}+{a}\nA:", completion=f" {2 * a}" + "." * a) for a in range(1, 9)]
    tokenized = tokenize(exs, tiny, seq_len=48)
    rows = pack(tokenized, 48, tiny.pad_token_id, seed=3)
    assert len(rows) > 1 and all(len(r["input_ids"]) == 48 for r in rows)
    found = []
    for r in rows:
        ids, labels, pos = (r[k].tolist() for k in ("input_ids", "labels", "position_ids"))
        starts = [i for i, p in enumerate(pos) if p == 0]
        assert starts[0] == 0 and all(pos[i] == pos[i - 1] + 1 for i in range(1, 48) if i not in starts)
        for s, e in zip(starts, [*starts[1:], 48], strict=True):
            assert labels[s] == IGNORE
            if ids[s] == tiny.pad_token_id:  # the fill at the end of a row
                assert e == 48 and set(ids[s:]) == {tiny.pad_token_id} and set(labels[s:]) == {IGNORE}
            else:
                found.append((ids[s:e], labels[s:e]))
    assert sorted(found) == sorted(tokenized)
    assert len(found) > len(rows), "some row must hold several examples"


def test_packing_is_seeded(tiny):
    """Every rank packs the same rows from the same seed; another seed, another order."""
    tokenized = tokenize([Example(prompt=f"Q: {a}\nA:", completion=f" {a}") for a in range(20)], tiny, seq_len=40)
    same = [pack(tokenized, 40, tiny.pad_token_id, seed=s) for s in (5, 5, 6)]
    flat = [[r["input_ids"].tolist() for r in rows] for rows in same]
    assert flat[0] == flat[1] and flat[0] != flat[2]
