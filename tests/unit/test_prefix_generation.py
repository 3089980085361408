"""Shared-prefix generation (star.generation.HFGenerator): a batch's common token prefix is
prefilled once and its cache reused; the completions are those of plain left-padded
batches, token for token (greedy), on the embedded tiny model. (The same check on
SmolLM2's few-shot chat prompts is bench/bench_prefix.py, and tests/e2e/test_smollm2.py.)

Every row ends at its own token budget, whatever else is in its batch: a completion holds at
most its prompt's `max_new_tokens` tokens, and greedy rows are those they give alone."""

from __future__ import annotations

import pytest
import torch

import star.generation as generation
from star.config import GeneratorConfig, ModelConfig, TinyConfig
from star.generation import HFGenerator, shared_prefix
from star.models import build_tiny, load_model, load_tokenizer


def test_shared_prefix_leaves_every_row_a_token_of_its_own():
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 3, 5, 6]]) == 3
    assert shared_prefix([[1, 2, 3], [1, 2, 3, 4]]) == 2  # a prompt that prefixes another keeps its last token
    assert shared_prefix([[1, 2, 3], [1, 2, 3]]) == 2  # n samples of one prompt
    assert shared_prefix([[1, 2], [3, 4]]) == 0
    assert shared_prefix([[1, 2, 3]]) == 0  # one row: nothing to share


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = build_tiny(tmp_path_factory.mktemp("m") / "tiny", TinyConfig(hidden_size=64, intermediate_size=128,
                                                                         layers=2, heads=4), seed=0)
    # Random weights give nearly flat logits, where greedy ties break on rounding; larger
    # weights make each step's choice clear, as in a trained model.
    model = load_model(path, ModelConfig(dtype="float32"))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(20.0)
    return model, load_tokenizer(path)


HEAD = "You add numbers. Examples: 12+30=42. 7+8=15. 40+41=81. Now:\n"  # the shared part (> 16 bytes)
QUESTIONS = ["1+1=", "23+4=", "100+250=", "9+9=", "7+70=", "3+3333=", "5+6=", "44+4="]
BUDGETS = [12, 20, 16, 12, 20, 16, 12, 20]


def within_budgets(out, budgets) -> bool:
    return all(c.tokens <= b for cs, b in zip(out, budgets[:len(out)], strict=True) for c in cs)


def at_budget(out, budgets) -> int:
    """How many completions used their whole budget (the budget bound them)."""
    return sum(c.tokens == b for cs, b in zip(out, budgets[:len(out)], strict=True) for c in cs)


def generate(model, tok, prompts, *, shared: bool, monkeypatch, n=1, temperature=0.0, stop=(), batch=8,
             budgets=BUDGETS):
    monkeypatch.setattr(generation, "MIN_SHARED_PREFIX", 16 if shared else 10**9)
    calls = []
    real = HFGenerator._prefill
    monkeypatch.setattr(HFGenerator, "_prefill", lambda self, prefix, rows: calls.append(len(prefix)) or
                        real(self, prefix, rows))
    gen = HFGenerator(model, tok, GeneratorConfig(batch_size=batch, progress=False))
    out = gen.generate(prompts, n=n, temperature=temperature, max_new_tokens=list(budgets[:len(prompts)]),
                       stop=stop, seed=3)
    return out, calls


def test_greedy_outputs_are_those_of_plain_batches(tiny, monkeypatch):
    model, tok = tiny
    prompts = [HEAD + q for q in QUESTIONS]
    plain, calls = generate(model, tok, prompts, shared=False, monkeypatch=monkeypatch)
    assert calls == []
    fast, calls = generate(model, tok, prompts, shared=True, monkeypatch=monkeypatch)
    assert calls and min(calls) >= len(HEAD)  # the prefix (BOS + the head) was prefilled once per batch
    assert [[c.text for c in cs] for cs in fast] == [[c.text for c in cs] for cs in plain]
    assert [[c.tokens for c in cs] for cs in fast] == [[c.tokens for c in cs] for cs in plain]
    assert sum(c[0].tokens for c in fast) > 3 * len(prompts)  # it did generate
    assert within_budgets(plain, BUDGETS) and within_budgets(fast, BUDGETS)
    assert at_budget(fast, BUDGETS) >= 3  # the budgets bind (the 12s and 16s ran beside 20s)


def test_small_batches_stop_strings_and_no_common_prefix(tiny, monkeypatch):
    model, tok = tiny
    prompts = [HEAD + q for q in QUESTIONS]
    plain, _ = generate(model, tok, prompts, shared=False, monkeypatch=monkeypatch, stop=["9"], batch=3)
    fast, calls = generate(model, tok, prompts, shared=True, monkeypatch=monkeypatch, stop=["9"], batch=3)
    assert len(calls) == 3 and [[c.text for c in cs] for cs in fast] == [[c.text for c in cs] for cs in plain]
    _, calls = generate(model, tok, QUESTIONS, shared=True, monkeypatch=monkeypatch)
    assert calls == []  # nothing long enough in common: plain left-padded batches


def test_samples_of_one_prompt_share_it(tiny, monkeypatch):
    model, tok = tiny
    out, calls = generate(model, tok, [HEAD + QUESTIONS[1]] * 2, shared=True, monkeypatch=monkeypatch, n=4,
                          temperature=1.0)
    assert calls and len(out) == 2 and all(len(cs) == 4 for cs in out)
    assert len({c.text for cs in out for c in cs}) > 1  # sampled, not copied
    assert within_budgets(out, BUDGETS)


@pytest.mark.parametrize("shared", [False, True])
def test_two_very_different_budgets_in_one_batch(tiny, monkeypatch, shared):
    """A 3-token row beside a 40-token row ends at 3 tokens, and each row is what it is alone
    (greedy); sampled rows keep their own budgets too."""
    model, tok = tiny
    prompts, budgets = [HEAD + QUESTIONS[0], HEAD + QUESTIONS[1]], [3, 40]
    both, _ = generate(model, tok, prompts, shared=shared, monkeypatch=monkeypatch, budgets=budgets)
    alone = [generate(model, tok, [p], shared=shared, monkeypatch=monkeypatch, budgets=[b])[0][0]
             for p, b in zip(prompts, budgets, strict=True)]
    assert [c[0].tokens for c in both] == [c[0].tokens for c in alone]
    assert [c[0].text for c in both] == [c[0].text for c in alone]
    assert both[0][0].tokens <= 3 < both[1][0].tokens
    sampled, _ = generate(model, tok, prompts, shared=shared, monkeypatch=monkeypatch, n=4, temperature=1.0,
                          budgets=budgets)
    assert within_budgets(sampled, budgets) and max(c.tokens for c in sampled[1]) > 3
    assert all(len(c.text) <= c.tokens for cs in sampled for c in cs)  # a byte token makes at most a character
