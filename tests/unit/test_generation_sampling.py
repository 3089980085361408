"""Sampling in HFGenerator draws each row from its own noise stream (RowNoise: the Gumbel-max
trick over a counter-based generator), so a prompt's samples depend on the seed, the prompt
and the sample's index only: not on which prompts share the batch, the batch size, or the
shared-prefix path. That is what lets generator=ray's shards sample what generator=hf does.
And the draws follow the tempered, top-p-filtered distribution."""

from __future__ import annotations

import math

import pytest
import torch

import star.generation as generation
from star.config import GeneratorConfig, ModelConfig, TinyConfig
from star.generation import HFGenerator, RowNoise, row_seed, sampling_processors, uniform_noise
from star.models import build_tiny, load_model, load_tokenizer


def test_the_noise_is_uniform_and_a_function_of_seed_step_and_token():
    seeds = torch.tensor([row_seed(0, "p", 0), row_seed(0, "p", 1), row_seed(1, "p", 0)])
    u = uniform_noise(seeds, 3, 50_000)
    assert 0 < u.min() and u.max() < 1 and abs(u.mean().item() - 0.5) < 0.005
    assert abs(u.std().item() - math.sqrt(1 / 12)) < 0.005
    assert torch.equal(u, uniform_noise(seeds, 3, 50_000))  # deterministic
    assert torch.equal(u[1:2], uniform_noise(seeds[1:2], 3, 50_000))  # a row alone: the same noise
    assert not torch.equal(u, uniform_noise(seeds, 4, 50_000))  # another step: other noise
    assert (u[0] - u[1]).abs().mean() > 0.2  # rows differ


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.5, 1.0), (1.0, 0.7)])
def test_draws_follow_the_tempered_top_p_distribution(temperature, top_p):
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    n = 20_000
    seeds = [row_seed(7, "q", j) for j in range(n)]
    scores = logits.repeat(n, 1)
    for p in sampling_processors(temperature, top_p, seeds, torch.device("cpu")):
        scores = p(torch.zeros(n, 3, dtype=torch.long), scores)
    counts = torch.bincount(scores.argmax(-1), minlength=4).double() / n
    probs = torch.softmax(logits / temperature, -1).double()
    if top_p < 1:  # the smallest set of tokens holding top_p of the mass, renormalized
        keep = torch.cumsum(probs, 0) - probs < top_p
        probs = torch.where(keep, probs, 0) / probs[keep].sum()
    assert torch.allclose(counts, probs, atol=0.012), (counts, probs)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = build_tiny(tmp_path_factory.mktemp("m") / "tiny", TinyConfig(hidden_size=64, intermediate_size=128,
                                                                         layers=2, heads=4), seed=0)
    return load_model(path, ModelConfig(dtype="float32")), load_tokenizer(path)


def test_a_prompts_samples_do_not_depend_on_its_batch(tiny, monkeypatch):
    model, tok = tiny
    head = "You add numbers. Examples: 12+30=42. 7+8=15. Now:\n"
    prompts = [head + q for q in ("1+1=", "23+4=", "100+250=", "9+9=", "7+70=")]
    def run(ps, batch, shared):
        monkeypatch.setattr(generation, "MIN_SHARED_PREFIX", 16 if shared else 10**9)
        gen = HFGenerator(model, tok, GeneratorConfig(batch_size=batch, progress=False))
        return [[c.text for c in cs] for cs in gen.generate(ps, n=3, temperature=1.0, max_new_tokens=12, seed=5)]

    together = run(prompts, 16, shared=True)
    assert together == run(prompts, 2, shared=False)  # another batch size, no shared prefix
    assert together[3:4] == run(prompts[3:4], 16, shared=True)  # the prompt alone
    assert together[::-1] == run(prompts[::-1], 4, shared=True)  # another order
    assert len({t for ts in together for t in ts}) > len(prompts)  # it does sample
    assert together != [[c.text for c in cs] for cs in HFGenerator(model, tok, GeneratorConfig(progress=False))
                        .generate(prompts, n=3, temperature=1.0, max_new_tokens=12, seed=6)]  # the seed matters


def test_row_noise_restarts_counting_at_each_generate_call():
    noise = RowNoise([1], torch.device("cpu"))
    a = noise(torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, 8))
    b = noise(torch.zeros(1, 6, dtype=torch.long), torch.zeros(1, 8))
    again = RowNoise([1], torch.device("cpu"))(torch.zeros(1, 9, dtype=torch.long), torch.zeros(1, 8))
    assert torch.equal(a, again) and not torch.equal(a, b)  # step 0 of any call: the same noise
