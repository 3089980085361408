"""generator=ray's pieces that need no cluster and no model: shards are a pure function
of the prompts and come back in prompt order, never lost or doubled; a replica loads the
weights the HF backend loads; shipped weights unpack as they were packed; the ray.data.llm
(vLLM) path, against a stand-in `ray.data.llm`, asks for what generator=vllm asks for."""

from __future__ import annotations

import json
import random
import sys
import types
from pathlib import Path

import pytest

from star import ray_generator
from star.config import GeneratorConfig, ModelConfig
from star.generation import Completion
from star.ray_generator import (
    RayGenerator,
    ReplicaSpec,
    VLLMStage,
    gather,
    pack,
    replica_spec,
    shards,
    unpack,
    vllm_gather,
    vllm_rows,
)
from star.vllm_generator import engine_args, sampling_params

PROMPTS = [f"p{i}" for i in range(10)]
BUDGETS = [8 + i for i in range(10)]


def test_shards_are_consecutive_runs_of_prompts_in_order():
    rows = shards(PROMPTS, BUDGETS, 4)
    assert [r["shard"] for r in rows] == [0, 1, 2] and [r["start"] for r in rows] == [0, 4, 8]
    assert sum((json.loads(r["prompts"]) for r in rows), []) == PROMPTS
    assert sum((json.loads(r["budgets"]) for r in rows), []) == BUDGETS
    assert rows == shards(list(PROMPTS), list(BUDGETS), 4), "a pure function of the prompts"


def replica_rows(rows):
    """What replicas return for `rows`: each prompt's two completions, named after it."""
    return [{"shard": r["shard"], "replica": "x", "seconds": 0.0,
             "completions": json.dumps([[[f"{p}/{j}", j] for j in range(2)] for p in json.loads(r["prompts"])])}
            for r in rows]


def test_gather_puts_shards_back_in_prompt_order_whatever_order_they_come_in():
    got = replica_rows(shards(PROMPTS, BUDGETS, 3))
    random.Random(0).shuffle(got)
    out = gather(got, 4, len(PROMPTS))
    assert out == [[Completion(f"{p}/0", 0), Completion(f"{p}/1", 1)] for p in PROMPTS]


def test_a_lost_or_doubled_shard_is_an_error_not_a_silent_gap():
    got = replica_rows(shards(PROMPTS, BUDGETS, 3))
    with pytest.raises(RuntimeError, match=r"shards \[2\] missing"):
        gather(got[:2] + got[3:], 4, len(PROMPTS))
    with pytest.raises(RuntimeError, match=r"\[1\] doubled"):
        gather(got + got[1:2], 4, len(PROMPTS))


@pytest.mark.parametrize("lora,weights,model,adapter", [
    (True, None, "base", None),  # iteration 0: the starting model
    (True, "iter_001/adapter", "base", "iter_001/adapter"),  # LoRA: merged onto the starting model
    (False, "iter_001/model", "iter_001/model", None),  # full fine-tuning: that iteration's model
])
def test_a_replica_loads_what_the_hf_backend_loads(tmp_path, lora, weights, model, adapter):
    for d in ("base", "iter_001/adapter", "iter_001/model"):
        (tmp_path / d).mkdir(parents=True)
    spec = replica_spec(tmp_path / "base", tmp_path / weights if weights else None, lora,
                        GeneratorConfig(backend="ray"), ModelConfig())
    assert spec.model == str((tmp_path / model).resolve())
    assert spec.adapter == (str((tmp_path / adapter).resolve()) if adapter else None)
    assert spec.tokenizer == str((tmp_path / "base").resolve())
    assert spec.generator.progress is False, "one progress bar, the driver's"
    # a hub name stays a name: every node reads its own Hugging Face cache
    assert replica_spec("Qwen/Qwen2.5-0.5B", None, True, GeneratorConfig(), ModelConfig()).model == "Qwen/Qwen2.5-0.5B"


def test_shipped_weights_unpack_as_they_were_packed(tmp_path):
    src = tmp_path / "adapter"
    (src / "sub").mkdir(parents=True)
    (src / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 3)
    (src / "sub" / "config.json").write_text('{"r": 8}')
    out = unpack(pack(src), tmp_path / "copy")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "adapter_model.safetensors", "sub/config.json"]
    assert (out / "adapter_model.safetensors").read_bytes() == (src / "adapter_model.safetensors").read_bytes()


# --- the ray.data.llm path, against a stand-in -------------------------------------------

EOS = 1
STAGE = VLLMStage(engine_args("m", GeneratorConfig(), ModelConfig(), lora_rank=8, seed=0), sampling_params)


def test_vllm_rows_sample_what_generator_vllm_samples():
    cfg = GeneratorConfig(top_p=0.9, max_new_tokens=12)
    rows = vllm_rows(PROMPTS[:3], BUDGETS[:3], cfg, STAGE, n=2, temperature=0.7, stop=["\n"], seed=5, eos=[EOS],
                     adapter="/run/iter_001/adapter")
    assert [(r["index"], r["sample"]) for r in rows] == [(i, j) for i in range(3) for j in range(2)]
    assert len({r["sampling_params"]["seed"] for r in rows}) == 6, "every sample its own seed"
    vllm = sampling_params(BUDGETS[:3], cfg, n=1, temperature=0.7, stop=["\n"], seed=5, stop_token_ids=[EOS])
    for r in rows:
        assert {k: v for k, v in r["sampling_params"].items() if k != "seed"} == {
            k: v for k, v in vllm[r["index"]].items() if k != "seed"}
        assert r["prompt"] == PROMPTS[r["index"]] and r["model"] == "/run/iter_001/adapter"
    greedy = vllm_rows(PROMPTS[:3], BUDGETS[:3], cfg, STAGE, n=4, temperature=0.0, stop=[], seed=5, eos=[EOS],
                       adapter=None)
    assert len(greedy) == 3 and all("model" not in r and r["sampling_params"]["seed"] is None for r in greedy)


def test_vllm_gather_orders_samples_and_counts_tokens_without_eos():
    rows = [{"index": i, "sample": j, "generated_text": f"{i}/{j}", "generated_tokens": [5, 6, EOS] if j else [5, 6],
             "num_generated_tokens": 3 if j else 2} for i in range(3) for j in range(2)]
    out = vllm_gather(rows[::-1], 3, 2, [EOS])
    assert out == [[Completion(f"{i}/0", 2), Completion(f"{i}/1", 2)] for i in range(3)]
    with pytest.raises(RuntimeError, match="twice"):
        vllm_gather(rows + rows[:1], 3, 2, [EOS])
    greedy = vllm_gather([r for r in rows if r["sample"] == 0], 3, 3, [EOS])
    assert greedy[0] == [Completion("0/0", 2)] * 3


class FakeDataset:
    def __init__(self, rows):
        self.rows = list(rows)


def test_the_vllm_engine_path_builds_ray_data_llms_processor(monkeypatch):
    """generate with generator.engine=vllm: a vLLMEngineProcessorConfig on the model with
    generator=vllm's engine arguments (less those ray.data.llm owns), stages that would
    re-template or re-tokenize the rendered prompts off, and the rows' outputs in order."""
    seen = {}

    class Config:
        def __init__(self, **kwargs):
            seen["config"] = kwargs

    def build_processor(config, postprocess):
        def run(ds):
            seen["rows"] = ds.rows
            outs = [postprocess({**r, "generated_text": r["prompt"] + "!", "generated_tokens": [7, EOS],
                                 "num_generated_tokens": 2}) for r in reversed(ds.rows)]
            return types.SimpleNamespace(take_all=lambda: outs)
        return run

    llm = types.ModuleType("ray.data.llm")
    llm.vLLMEngineProcessorConfig, llm.build_processor = Config, build_processor
    monkeypatch.setitem(sys.modules, "ray.data.llm", llm)
    import ray.data

    monkeypatch.setattr(ray.data, "llm", llm, raising=False)
    monkeypatch.setattr(ray.data, "from_items", lambda rows, **kw: FakeDataset(rows))
    monkeypatch.setattr(ray_generator, "connect", lambda cfg: None)
    cfg = GeneratorConfig(backend="ray", engine="vllm", num_replicas=2, shard_size=16)
    gen = RayGenerator(ReplicaSpec("/m", "/run/iter_002/adapter", "/m", ModelConfig(), cfg), STAGE)
    gen._eos = [EOS]
    out = gen.generate(PROMPTS[:4], n=2, temperature=0.8, max_new_tokens=BUDGETS[:4], seed=3)
    assert out == [[Completion(p + "!", 1)] * 2 for p in PROMPTS[:4]]
    c = seen["config"]
    assert c["model_source"] == "/m" and c["concurrency"] == 2 and c["batch_size"] == 16
    assert not c["chat_template_stage"] and not c["tokenize_stage"] and not c["detokenize_stage"]
    assert c["engine_kwargs"]["enable_lora"] and c["engine_kwargs"]["generation_config"] == "vllm"
    assert not {"model", "tokenizer", "enable_sleep_mode"} & set(c["engine_kwargs"])
    assert len(seen["rows"]) == 8 and all(r["model"] == "/run/iter_002/adapter" for r in seen["rows"])


def test_ray_generator_imports_without_ray():
    """The module (and so the backend table) loads where Ray is absent; Ray is imported on use."""
    source = Path(ray_generator.__file__).read_text()
    top = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in top if "ray" in line.split()[1].split(".")[0]]
