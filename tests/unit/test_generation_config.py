"""Decoding follows the generator.* keys, not the model's own generation_config.

A hub model ships a generation_config.json (Qwen2.5-Instruct: top_k 20, repetition_penalty
1.05, do_sample, two EOS ids). star's generators decode with `generation.decoding_config`
instead: greedy at temperature 0, otherwise temperature and top_p alone (top_k off, no
repetition penalty), and every EOS id the model declares ends a completion. The tiny model
here is saved with a generation_config that changes decoding visibly (top_k=1, a repetition
penalty of 1.3, a second EOS id) beside the same weights with a neutral one.
"""

from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig

from star.config import GeneratorConfig, ModelConfig, TinyConfig
from star.generation import HFGenerator, decoding_config, eos_token_ids
from star.models import build_tiny, load_model, load_tokenizer

HEAD = "You add numbers. Examples: 12+30=42. 7+8=15. 40+41=81. Now:\n"
QUESTIONS = ["1+1=", "23+4=", "100+250=", "9+9="]
BUDGET = 24


def save(model, tok, path, **generation):
    model.generation_config = GenerationConfig(**{**model.generation_config.to_dict(), **generation})
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return load_model(path, ModelConfig(dtype="float32"))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """plain: the tiny model as built (EOS 1); neutral: the same weights with a second EOS id;
    leaky: that and sampling settings of its own (top_k 1, repetition penalty 1.3)."""
    root = tmp_path_factory.mktemp("gencfg")
    path = build_tiny(root / "tiny", TinyConfig(hidden_size=64, intermediate_size=128, layers=2, heads=4), seed=0)
    tok = load_tokenizer(path)
    model = load_model(path, ModelConfig(dtype="float32"))
    with torch.no_grad():  # clear greedy choices, as a trained model makes (see test_prefix_generation)
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(20.0)
    plain = save(model, tok, root / "plain")
    ids = greedy_ids(plain, tok, HEAD + QUESTIONS[1])
    k = next(i for i in range(2, len(ids)) if ids[i] not in ids[:i] and ids[i] > 2)  # a fresh byte token
    second_eos = ids[k]
    neutral = save(model, tok, root / "neutral", eos_token_id=[tok.eos_token_id, second_eos])
    leaky = save(model, tok, root / "leaky", eos_token_id=[tok.eos_token_id, second_eos], do_sample=True,
                 temperature=0.7, top_k=1, repetition_penalty=1.3)
    return dict(tok=tok, plain=plain, neutral=neutral, leaky=leaky, root=root, ids=ids, k=k, eos=second_eos)


def greedy_ids(model, tok, prompt: str) -> list[int]:
    """The model's own greedy continuation, EOS 1 only, no budget surprises (for reference)."""
    x = tok([prompt], return_tensors="pt")
    out = model.generate(**x, generation_config=GenerationConfig(do_sample=False, max_new_tokens=BUDGET,
                                                                 eos_token_id=[tok.eos_token_id],
                                                                 pad_token_id=tok.pad_token_id))
    return out[0, x.input_ids.shape[1]:].tolist()


def run(model, tok, n=1, temperature=0.0, stop=(), prompts=None):
    gen = HFGenerator(model, tok, GeneratorConfig(batch_size=8, progress=False))
    return gen.generate(prompts or [HEAD + q for q in QUESTIONS], n=n, temperature=temperature,
                        max_new_tokens=BUDGET, stop=stop, seed=11)


def flat(out):
    return [(c.text, c.tokens) for cs in out for c in cs]


def test_the_saved_settings_change_decoding(models):
    """The premise: decoding under the leaky model's own generation_config differs (the
    repetition penalty changes greedy choices), so the tests below can fail."""
    tok, leaky = models["tok"], models["leaky"]
    x = tok([HEAD + q for q in QUESTIONS], return_tensors="pt", padding=True)
    own = leaky.generate(**x, do_sample=False, max_new_tokens=BUDGET)
    explicit = leaky.generate(**x, generation_config=decoding_config(leaky, tok, 0.0, max_new_tokens=BUDGET))
    assert own.tolist() != explicit.tolist()


def test_greedy_equals_decoding_with_a_neutral_config(models):
    tok = models["tok"]
    assert flat(run(models["leaky"], tok)) == flat(run(models["neutral"], tok))


def test_sampling_is_unaffected_by_the_models_top_k(models):
    tok = models["tok"]
    leaky = run(models["leaky"], tok, n=6, temperature=1.0)
    assert flat(leaky) == flat(run(models["neutral"], tok, n=6, temperature=1.0))
    assert all(len({c.text for c in cs}) > 1 for cs in leaky)  # top_k=1 would give one text per prompt


def test_generation_stops_at_the_second_eos_id(models):
    tok, ids, k = models["tok"], models["ids"], models["k"]
    prompt = [HEAD + QUESTIONS[1]]
    (alone,), = run(models["plain"], tok, prompts=prompt)
    assert alone.tokens > k + 1  # without the second EOS id it runs on
    for name in ("neutral", "leaky"):
        (c,), = run(models[name], tok, prompts=prompt)
        assert c.tokens == k and c.text == tok.decode(ids[:k], skip_special_tokens=True), name


def test_eos_ids_are_the_union_of_the_models_and_the_tokenizers(models, tmp_path):
    tok, leaky, eos = models["tok"], models["leaky"], models["eos"]
    assert eos_token_ids(leaky, tok) == [tok.eos_token_id, eos]
    assert eos_token_ids(models["root"] / "leaky", tok) == [tok.eos_token_id, eos]  # read from disk (vLLM)
    assert eos_token_ids(models["plain"], tok) == [tok.eos_token_id]
    # a tokenizer whose EOS the model does not list (a chat template's end-of-turn) comes first
    other = load_tokenizer(models["root"] / "plain")
    other.eos_token = "x"
    assert eos_token_ids(leaky, other) == [other.convert_tokens_to_ids("x"), tok.eos_token_id, eos]


def test_decoding_config_is_explicit(models):
    tok, leaky = models["tok"], models["leaky"]
    sampled = decoding_config(leaky, tok, 0.7, top_p=0.9, max_new_tokens=5)
    assert (sampled.do_sample, sampled.temperature, sampled.top_p, sampled.top_k) == (True, 0.7, 0.9, 0)
    assert (sampled.repetition_penalty, sampled.num_beams, sampled.max_new_tokens) == (1.0, 1, 5)
    assert sampled.eos_token_id == [tok.eos_token_id, models["eos"]]
    assert sampled.pad_token_id == tok.pad_token_id
    greedy = decoding_config(leaky, tok, 0.0)
    assert greedy.do_sample is False and greedy.repetition_penalty == 1.0


def test_tokens_count_up_to_the_stop_string(models):
    """Completion.tokens counts the tokens generated up to and including the one that
    completes a stop string (the text is cut before the stop string), never those past it,
    and never the EOS."""
    tok, plain = models["tok"], models["plain"]
    prompt = HEAD + QUESTIONS[2]
    (full,), = run(plain, tok, prompts=[prompt])
    ids = greedy_ids(plain, tok, prompt)[:full.tokens]
    assert tok.decode(ids, skip_special_tokens=True) == full.text
    stop = next(ch for ch in full.text[2:] if ch.isascii() and ch.isprintable())  # a character past the start
    m = next(i for i in range(1, len(ids) + 1) if stop in tok.decode(ids[:i], skip_special_tokens=True))
    (cut,), = run(plain, tok, prompts=[prompt], stop=[stop])
    assert cut.tokens == m < full.tokens
    assert cut.text == full.text[:full.text.index(stop)]
