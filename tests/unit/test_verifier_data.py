"""Verifier data, identity and scoring arithmetic (star.verifiers), without training: which
samples become pairs (training problems only, never an eval problem or answer), caps and
seeds, the key, name resolution, the score cache, and the DPO score on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from star import verifiers
from star.config import ConfigError, VerifierConfig, to_config
from star.types import Sample, Verdict

PROMPTS = {"t1": "1+1\n", "t2": "2+2\n", "t3": "3+3\n"}


def s(pid: str, completion: str, verdict: Verdict, *, prompt: str | None = None, hinted: bool = False,
      rejected: str | None = None, index: int = 0) -> Sample:
    prompt = PROMPTS.get(pid, "?") if prompt is None else prompt
    return Sample(problem_id=pid, index=index, prompt=prompt, train_prompt=prompt, completion=completion,
                  pred=None, verdict=verdict, hinted=hinted, rejected=rejected)


OK, NO, UNV = Verdict.CORRECT, Verdict.INCORRECT, Verdict.UNVERIFIABLE


def test_pairs_are_correct_x_incorrect_of_one_training_problem():
    data = [s("t1", "A: 2", OK), s("t1", "A: 3", NO), s("t1", "A:  2", OK),  # the same text, other spacing
            s("t2", "A: 4", OK), s("t3", "A: 5", NO), s("t3", "A: 7", NO)]
    cands = verifiers.candidates(data, PROMPTS)
    assert cands == {"t1": (["A: 2"], ["A: 3"]), "t2": (["A: 4"], []), "t3": ([], ["A: 5", "A: 7"])}
    made = verifiers.pairs(cands, PROMPTS, 4, seed=0)
    assert made == [verifiers.Pair("t1", "1+1\n", "A: 2", "A: 3")]
    assert verifiers.data_stats(cands, made) == {"problems": 3, "correct": 2, "incorrect": 3,
                                                 "problems_with_pairs": 1, "pairs": 1}


def test_unverifiable_rejected_and_hinted_samples():
    data = [s("t1", "A: 2", OK, hinted=True), s("t1", "A: 3", NO), s("t1", "A: 9", UNV),
            s("t1", "(r2) A: 2", OK, hinted=True, rejected="hint-leak"), s("t2", "A: 4", OK), s("t2", "A: 1", NO,
                                                                                             hinted=True)]
    assert verifiers.candidates(data, PROMPTS) == {"t1": (["A: 2"], ["A: 3"]), "t2": (["A: 4"], ["A: 1"])}
    assert verifiers.candidates(data, PROMPTS, hinted=False) == {"t1": ([], ["A: 3"]), "t2": (["A: 4"], [])}


def test_no_eval_problem_and_no_answer_of_one_reaches_the_pairs(caplog):
    """Only samples of the training problems, under the training prompt the task renders,
    count: an eval problem's sample (its id, or its question under a training id) is left out,
    and the pair's prompt is the task's, never a sample's text."""
    data = [s("t1", "A: 2", OK), s("t1", "A: 3", NO),
            s("e1", "A: 123", OK, prompt="9+114\n"), s("e1", "A: 124", NO, prompt="9+114\n"),  # an eval problem
            s("t2", "A: 123", OK, prompt="9+114\n"), s("t2", "A: 5", NO, prompt="9+114\n")]  # its question, train id
    cands = verifiers.candidates(data, PROMPTS)
    made = verifiers.pairs(cands, PROMPTS, 4, seed=0)
    assert {p.problem_id for p in made} == {"t1"} and "e1" not in cands and "t2" not in cands
    text = json.dumps([p.to_dict() for p in made])
    assert "9+114" not in text and "123" not in text and "124" not in text
    assert "4 samples are not of a training problem" in caplog.text


def test_pairs_per_problem_cap_is_seeded_per_problem():
    data = [s("t1", f"A: {i}", OK) for i in range(4)] + [s("t1", f"B: {i}", NO) for i in range(4)]
    data += [s("t2", "A: 4", OK), s("t2", "A: 5", NO)]
    cands = verifiers.candidates(data, PROMPTS)
    made = verifiers.pairs(cands, PROMPTS, 3, seed=7)
    assert len([p for p in made if p.problem_id == "t1"]) == 3 and len(made) == 4
    assert made == verifiers.pairs(cands, PROMPTS, 3, seed=7)
    assert made != verifiers.pairs(cands, PROMPTS, 3, seed=8)
    # t1's draw does not depend on what else is in the data
    alone = verifiers.pairs({"t1": cands["t1"]}, PROMPTS, 3, seed=7)
    assert alone == [p for p in made if p.problem_id == "t1"]
    assert len(verifiers.pairs(cands, PROMPTS, 100, seed=7)) == 16 + 1


def test_run_samples_reads_only_the_training_side(tmp_path):
    it = tmp_path / "iter_001"
    it.mkdir()
    (it / "samples.jsonl").write_text(json.dumps(s("t1", "A: 2", OK).to_dict()) + "\n")
    (it / "rationalized.jsonl").write_text(json.dumps(s("t1", "A: 2", OK, hinted=True).to_dict()) + "\n")
    (it / "eval.jsonl").write_text("not json: an eval file is never opened\n")
    (tmp_path / "iter_000").mkdir()
    (tmp_path / "iter_000" / "eval.jsonl").write_text("{garbled\n")
    assert [x.hinted for x in verifiers.run_samples(tmp_path, [1])] == [False, True]
    assert [x.hinted for x in verifiers.run_samples(tmp_path, [1], hinted=False)] == [False]
    with pytest.raises(FileNotFoundError, match="iter_000/samples.jsonl"):
        verifiers.run_samples(tmp_path, [0])


def test_the_key_covers_config_iterations_data_model_and_seed():
    made = [verifiers.Pair("t1", "1+1\n", "A: 2", "A: 3")]
    cfg = VerifierConfig()
    key = verifiers.verifier_key(cfg, [1, 2], made, "abc", 0)
    assert key == verifiers.verifier_key(VerifierConfig(), [2, 1], list(made), "abc", 0)
    others = [verifiers.verifier_key(VerifierConfig(beta=0.2), [1, 2], made, "abc", 0),
              verifiers.verifier_key(VerifierConfig(objective="orm"), [1, 2], made, "abc", 0),
              verifiers.verifier_key(cfg, [1], made, "abc", 0),
              verifiers.verifier_key(cfg, [1, 2], [verifiers.Pair("t1", "1+1\n", "A: 2", "A: 4")], "abc", 0),
              verifiers.verifier_key(cfg, [1, 2], made, "abd", 0),
              verifiers.verifier_key(cfg, [1, 2], made, "abc", 1)]
    assert key not in others and len(set(others)) == len(others)
    assert verifiers.folder_for(Path("R"), cfg, key) == Path("R") / "verifier" / f"dpo-{key[:12]}"
    named = VerifierConfig(name="dpo16")
    assert verifiers.folder_for(Path("R"), named, key) == Path("R") / "verifier" / f"dpo16-{key[:12]}"
    assert verifiers.verifier_key(named, [1, 2], made, "abc", 0) != key  # a name is a recipe of its own


def test_resolve_a_verifier_by_folder_name_or_objective(tmp_path):
    root = tmp_path / "verifier"
    for name in ("dpo-aaa", "dpo16-eee", "orm-bbb", "orm-ccc"):
        (root / name).mkdir(parents=True)
        (root / name / "verifier.json").write_text("{}")
    (root / ".dpo-ddd.tmp-1").mkdir()  # a killed build's leftover is no verifier
    assert verifiers.resolve(tmp_path, "dpo") == root / "dpo-aaa"
    assert verifiers.resolve(tmp_path, "dpo16") == root / "dpo16-eee"  # a verifier.name
    assert verifiers.resolve(tmp_path, "orm-ccc") == root / "orm-ccc"
    assert verifiers.resolve(tmp_path, str(root / "orm-bbb")) == root / "orm-bbb"
    with pytest.raises(FileNotFoundError, match="2 verifiers match"):
        verifiers.resolve(tmp_path, "orm")
    with pytest.raises(FileNotFoundError, match="no such verifier"):
        verifiers.resolve(tmp_path, "prm")


def test_verifier_config_errors_name_the_key():
    assert to_config({"objective": "orm", "steps": 3}, VerifierConfig).steps == 3
    for values, key in (({"objective": "mcts"}, "verifier.objective"), ({"steps": 0}, "verifier.steps"),
                        ({"beta": 0}, "verifier.beta"), ({"samples": 2, "temperature": 0}, "verifier.temperature"),
                        ({"name": "dpo-16"}, "verifier.name"), ({"name": "a/b"}, "verifier.name")):
        with pytest.raises(ConfigError, match=key):
            to_config(values, VerifierConfig)


class CountingScorer:
    def __init__(self):
        self.calls = 0
        self.n = 0

    def score(self, prompts, completions, desc=""):
        self.calls += 1
        self.n += len(prompts)
        return [float(len(c)) for c in completions]

    def cost(self):
        return {"candidates": self.n, "tokens": 10 * self.n, "seconds": 0.5 * self.calls}


def test_scores_are_computed_once_and_kept(tmp_path):
    data = [s("t1", "A: 2", OK, index=1), s("t1", "A: 22", NO, index=2)]
    scorer = CountingScorer()
    f = tmp_path / "scores" / "dpo-x" / "iter_000.jsonl"
    scores, cost = verifiers.cached_scores(f, data, lambda: scorer)
    assert scores == {("t1", 1): 4.0, ("t1", 2): 5.0} and cost == {"candidates": 2, "tokens": 20, "seconds": 0.5}
    again = verifiers.cached_scores(f, data, lambda: pytest.fail("a cached score was recomputed"))
    assert again == (scores, cost)
    more = [*data, s("t1", "A: 222", NO, index=3)]  # a file that does not cover every sample is redone
    assert verifiers.cached_scores(f, more, lambda: scorer)[0][("t1", 3)] == 6.0 and scorer.calls == 2


@pytest.fixture(scope="module")
def tiny():
    from transformers import LlamaConfig, LlamaForCausalLM

    from star.models import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                                         bos_token_id=tok.bos_token_id)).eval()
    return model, tok


def test_completion_logps_of_a_padded_batch_are_each_rows_own(tiny):
    model, tok = tiny
    scorer = verifiers.Scorer(model, tok)
    items = [("12+3\n", "A: 15"), ("1+1\n", "A: 2 and more text"), ("7+7\n", "A:14")]
    batch = torch.full((3, 40), tok.pad_token_id)
    mask = torch.zeros_like(batch)
    starts, alone = [], []
    for r, (p, c) in enumerate(items):
        ids, n = scorer.encode(p, c)
        assert ids[-1] == tok.eos_token_id and tok.decode(ids[n:]) == c + tok.eos_token
        batch[r, :len(ids)], mask[r, :len(ids)] = torch.tensor(ids), 1
        starts.append(n)
        with torch.no_grad():  # by hand: log p of every completion token, this row alone
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1], -1)
            alone.append(sum(float(logp[j - 1, ids[j]]) for j in range(n, len(ids))))
    with torch.no_grad():
        got = verifiers.completion_logps(model, batch, mask, starts)
    assert got.tolist() == pytest.approx(alone, abs=1e-4)


def test_the_dpo_score_is_beta_times_the_log_ratio_to_the_starting_model(tiny):
    from peft import LoraConfig, get_peft_model

    model, tok = tiny
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"])).eval()
    scorer = verifiers.DPOScorer(peft_model, tok, beta=0.5)
    prompts, completions = ["12+3\n", "1+1\n"], ["A: 15", "A: 2"]
    assert scorer.score(prompts, completions) == [0.0, 0.0]  # a fresh adapter is the starting model
    with torch.no_grad():
        for name, w in peft_model.named_parameters():
            if "lora_B" in name:
                w.normal_(0, 0.5)
    got = scorer.score(prompts, completions)
    for (p, c), value in zip(zip(prompts, completions, strict=True), got, strict=True):
        ids, n = scorer.encode(p, c)
        x, m = torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long)
        with torch.no_grad():
            policy = verifiers.completion_logps(peft_model, x, m, [n])
            with peft_model.disable_adapter():
                ref = verifiers.completion_logps(peft_model, x, m, [n])
        assert value == pytest.approx(0.5 * float(policy - ref), abs=1e-4) and value != 0.0
    cost = scorer.cost()
    assert cost["candidates"] == 4 and cost["tokens"] == 2 * 2 * sum(len(scorer.encode(p, c)[0])
                                                                     for p, c in zip(prompts, completions,
                                                                                     strict=True))
