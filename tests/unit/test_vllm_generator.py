"""generator=vllm without a GPU: the vLLM backend against a stand-in `vllm` module.

What can be checked without vLLM: the engine arguments and sampling parameters come from
the same GeneratorConfig as the HF backend and sample its distribution (top_k off, no
penalties, the model's own generation_config ignored, every EOS id of the model a stop
token); the loop's Policy keeps one engine for the
run and gives every iteration's adapter a new LoRA request (new name, new id, never a
merge); an iteration that accepted nothing reuses the previous adapter's request; the
engine sleeps before training and wakes for the next generation. The real engine runs
in tests/gpu and bench/bench_gpu.py.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from star.config import Config, GeneratorConfig, LoraConfig, ModelConfig, TinyConfig, TrainConfig
from star.vllm_generator import completion, engine_args, lora_rank_slot, sampling_params

EOS = 1


class FakeLLM:
    instances: list[FakeLLM] = []

    def __init__(self, **kwargs):
        self.kwargs, self.calls, self.events = kwargs, [], []
        FakeLLM.instances.append(self)

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        self.calls.append((list(prompts), params, lora_request))
        return [SimpleNamespace(outputs=[
            SimpleNamespace(text=f"{p}/{j}", token_ids=[5, 6, EOS], finish_reason="stop", stop_reason=None)
            for j in range(sp.n)]) for p, sp in zip(prompts, params, strict=True)]

    def sleep(self, level: int) -> None:
        self.events.append(f"sleep{level}")

    def wake_up(self) -> None:
        self.events.append("wake")


class SamplingParams:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class LoRARequest:
    def __init__(self, lora_name: str, lora_int_id: int, lora_path: str):
        self.lora_name, self.lora_int_id, self.lora_path = lora_name, lora_int_id, lora_path


@pytest.fixture
def fake_vllm(monkeypatch):
    FakeLLM.instances = []
    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = FakeLLM, SamplingParams
    lora, request = types.ModuleType("vllm.lora"), types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    for name, module in {"vllm": vllm, "vllm.lora": lora, "vllm.lora.request": request}.items():
        monkeypatch.setitem(sys.modules, name, module)
    return FakeLLM


def test_engine_args_from_the_config():
    g = GeneratorConfig(backend="vllm", tensor_parallel_size=2, gpu_memory_utilization=0.5, max_model_len=2048)
    args = engine_args("/m", g, ModelConfig(name_or_path="/m"), lora_rank=12, seed=7)
    assert args["model"] == args["tokenizer"] == "/m"
    assert (args["tensor_parallel_size"], args["gpu_memory_utilization"], args["max_model_len"]) == (2, 0.5, 2048)
    assert args["dtype"] == "bfloat16" and args["seed"] == 7 and args["enable_sleep_mode"] is True
    assert (args["enable_lora"], args["max_loras"], args["max_lora_rank"]) == (True, 1, 16)
    assert "data_parallel_size" not in args and "quantization" not in args
    assert args["generation_config"] == "vllm"  # no defaults from the model's generation_config.json
    full = engine_args("/m", GeneratorConfig(release="shutdown", data_parallel_size=2), ModelConfig(dtype="float16"),
                       lora_rank=None, seed=0)
    assert "enable_lora" not in full and full["enable_sleep_mode"] is False
    assert full["data_parallel_size"] == 2 and full["dtype"] == "float16"
    assert [lora_rank_slot(r) for r in (4, 8, 16, 17, 64, 100)] == [8, 8, 16, 32, 64, 128]


def test_sampling_params_share_the_hf_keys():
    g = GeneratorConfig(max_new_tokens=100, top_p=0.9)
    greedy = sampling_params([50, 300], g, n=1, temperature=0.0, stop=["\n\n"], seed=5)
    assert [p["max_tokens"] for p in greedy] == [50, 100]  # a task's budget, capped by the ceiling
    assert all(p["seed"] is None and p["top_p"] == 1.0 and p["stop"] == ["\n\n"] for p in greedy)
    sampled = sampling_params([50, 50], g, n=4, temperature=0.7, stop=[], seed=5)
    assert [(p["n"], p["seed"], p["top_p"], p["stop"]) for p in sampled] == [(4, 5, 0.9, None), (4, 6, 0.9, None)]
    assert sampling_params([9], g, n=3, temperature=0.0, stop=[], seed=0)[0]["n"] == 1  # greedy: once
    for p in greedy + sampled:  # the HF backend's distribution (star.generation.decoding_config)
        assert (p["top_k"], p["min_p"], p["repetition_penalty"]) == (-1, 0.0, 1.0)
        assert (p["presence_penalty"], p["frequency_penalty"], p["stop_token_ids"]) == (0.0, 0.0, None)
    eos = sampling_params([9, 9], g, n=2, temperature=0.5, stop=[], seed=0, stop_token_ids=[1, 7])
    assert [p["stop_token_ids"] for p in eos] == [[1, 7], [1, 7]]


def test_completion_counts_generated_tokens_without_eos():
    def out(finish: str, stop_reason):
        return SimpleNamespace(text="x", token_ids=[5, 6, 7], finish_reason=finish, stop_reason=stop_reason)

    assert completion(out("stop", None)).tokens == 2  # EOS
    assert completion(out("stop", 7)).tokens == 2  # another EOS id of the model, one of stop_token_ids
    assert completion(out("stop", "\n\n")).tokens == 3  # a stop string
    assert completion(out("length", None)).tokens == 3


@pytest.fixture
def policy(fake_vllm, tmp_path):
    from star.models import build_tiny
    from star.policy import Policy
    from star.rundir import RunDir

    base = build_tiny(tmp_path / "base", TinyConfig(hidden_size=16, intermediate_size=32, layers=1, heads=2), seed=0)
    cfg = Config(task=None, model=ModelConfig(name_or_path=str(base)),
                 generator=GeneratorConfig(backend="vllm", progress=False),
                 trainer=TrainConfig(lora=LoraConfig(r=8)))
    rundir = RunDir(tmp_path / "run")
    for t in (1, 2, 3):
        (rundir.iteration(t).path / "adapter").mkdir()
    (rundir.iteration(3).path / "adapter" / "EMPTY").write_text("")  # iteration 3 accepted nothing
    yield Policy(base, cfg, rundir.path), rundir
    rundir.close()


def test_policy_gives_each_iteration_a_new_lora_request(policy, fake_vllm):
    p, rundir = policy
    requests = []
    for t in range(4):
        gen = p.generator(t)
        assert gen.generate(["q"], n=1)[0][0].text == "q/0"
        requests.append(fake_vllm.instances[0].calls[-1][2])
    assert len(fake_vllm.instances) == 1, "one engine for the whole run: the base model is loaded once"
    assert requests[0] is None  # iteration 0: the starting model itself
    one, two, three = requests[1:]
    assert (one.lora_int_id, two.lora_int_id) == (1, 2) and one.lora_name != two.lora_name
    assert Path(one.lora_path) == (rundir.iteration(1).path / "adapter").resolve()  # the adapter itself, no merge
    assert "iter_001" in one.lora_name and "iter_002" in two.lora_name
    assert (three.lora_int_id, three.lora_path) == (two.lora_int_id, two.lora_path)  # kept the previous model
    assert fake_vllm.instances[0].kwargs["max_lora_rank"] == 8
    params = fake_vllm.instances[0].calls[-1][1]
    assert [sp.stop_token_ids for sp in params] == [[EOS]]  # the tiny model's one EOS id


def test_every_eos_id_of_the_model_stops_a_request(fake_vllm, tmp_path):
    """A chat model lists its end-of-turn token beside EOS in generation_config.json; with
    generation_config="vllm" the engine no longer reads it, so the requests carry it."""
    from transformers import GenerationConfig

    from star.models import build_tiny
    from star.vllm_generator import VLLMGenerator

    base = build_tiny(tmp_path / "base", TinyConfig(hidden_size=16, intermediate_size=32, layers=1, heads=2), seed=0)
    GenerationConfig(eos_token_id=[EOS, 7], top_k=20, repetition_penalty=1.05, do_sample=True).save_pretrained(base)
    gen = VLLMGenerator(base, GeneratorConfig(backend="vllm", progress=False), ModelConfig(name_or_path=str(base)),
                        lora_rank=None)
    out = gen.generate(["a", "b"], n=2, temperature=0.7, max_new_tokens=[5, 9], stop=["\n\n"], seed=3)
    llm = fake_vllm.instances[0]
    assert llm.kwargs["generation_config"] == "vllm"
    params = llm.calls[-1][1]
    assert [sp.stop_token_ids for sp in params] == [[EOS, 7], [EOS, 7]]
    assert [(sp.top_k, sp.repetition_penalty, sp.max_tokens, sp.seed) for sp in params] == [(-1, 1.0, 5, 3),
                                                                                             (-1, 1.0, 9, 4)]
    assert [len(o) for o in out] == [2, 2] and out[0][0].tokens == 2


def test_policy_release_sleeps_the_engine_until_the_next_generation(policy, fake_vllm):
    p, _ = policy
    p.generator(1).generate(["a"], n=1)
    p.release()
    p.release()  # already asleep: nothing more
    gen = p.generator(2)
    out = gen.generate(["a", "b"], n=2, temperature=0.0)
    assert fake_vllm.instances[0].events == ["sleep1", "wake"]
    assert [[c.text for c in o] for o in out] == [["a/0", "a/0"], ["b/0", "b/0"]]  # greedy once, n copies
    assert [c.tokens for c in out[0]] == [2, 2]
