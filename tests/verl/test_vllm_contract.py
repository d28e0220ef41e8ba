"""The vLLM engine against a fake ``vllm`` module: engine arguments, sleep/wake protocol, weight loading
through ``LLM.apply_model``, multimodal requests and per-request seeds."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoProcessor

from tests.verl.conftest import REPO
from verl.protocol import Batch
from verl.single_controller import LocalWorkerGroup
from verl.trainer.config import load_config
from verl.trainer.data_loader import build_datasets, build_loader
from verl.workers.fsdp_worker import FSDPWorker


class FakeModel:
    def __init__(self, calls: list[Any]) -> None:
        self.calls = calls

    def load_weights(self, weights: Any) -> set[str]:
        names = [name for name, tensor in weights if isinstance(tensor, torch.Tensor)]
        self.calls.append(("load_weights", names))
        return set(names)


class FakeLLM:
    instances: list[FakeLLM] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs, self.calls = kwargs, []
        self.model = FakeModel(self.calls)
        FakeLLM.instances.append(self)

    def sleep(self, level: int = 1) -> None:
        self.calls.append(("sleep", level))

    def wake_up(self, tags: list[str] | None = None) -> None:
        self.calls.append(("wake_up", tags))

    def apply_model(self, func: Any) -> list[Any]:
        return [func(self.model)]

    def generate(self, prompts: list[dict], sampling_params: Any = None, use_tqdm: bool = True) -> list[Any]:
        self.calls.append(("generate", prompts, sampling_params))
        im_end = 3002  # the test tokenizer's <|im_end|> id
        outputs = []
        for i, (_, params) in enumerate(zip(prompts, sampling_params)):
            samples = [types.SimpleNamespace(token_ids=[10 + i, 20 + j, im_end, 5]) for j in range(params.kwargs["n"])]
            outputs.append(types.SimpleNamespace(outputs=samples))
        return outputs


class FakeSamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


@pytest.fixture()
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM, module.SamplingParams, module.__version__ = FakeLLM, FakeSamplingParams, "0.10.0"
    monkeypatch.setitem(sys.modules, "vllm", module)
    FakeLLM.instances.clear()
    return module


def test_vllm_engine_contract(fake_vllm, tiny_model: Path, data_config: Path, tmp_path):
    cfg = load_config([
        f"config={REPO / 'verl/configs/config.yaml'}", f"data.config_path={data_config}",
        f"worker.actor.model.model_path={tiny_model}", "data.num_workers=0", "data.rollout_batch_size=2",
        "worker.actor.global_batch_size=2", "trainer.n_gpus_per_node=1", "worker.rollout.tensor_parallel_size=1",
        "worker.rollout.name=vllm", "worker.rollout.n=3", "worker.actor.micro_batch_size_per_device_for_experience=2",
        "worker.actor.micro_batch_size_per_device_for_update=2", "worker.actor.global_batch_size=2",
        "data.max_prompt_length=512", "data.max_response_length=8", "worker.rollout.max_num_batched_tokens=1024",
        "algorithm.disable_kl=true", "trainer.device=auto", f"trainer.save_checkpoint_path={tmp_path}"])
    processor = AutoProcessor.from_pretrained(tiny_model)
    train, _ = build_datasets(cfg.data, processor.tokenizer, processor)
    _, raw = build_loader(train, cfg.data, processor.tokenizer.pad_token_id).next_batch()
    group = LocalWorkerGroup(FSDPWorker, cfg)
    try:
        group.init_model(*group.master_address(), 4)
        (llm,) = FakeLLM.instances
        assert llm.kwargs["enable_sleep_mode"] is True and llm.kwargs["model"] == str(tiny_model)
        assert llm.kwargs["distributed_executor_backend"] == "external_launcher"
        assert llm.kwargs["limit_mm_per_prompt"] == {"image": 1} and llm.kwargs["max_model_len"] == 520
        assert llm.calls == [("sleep", 1)]  # asleep while the actor is idle/trains
        prompts = Batch.from_mapping(raw, meta={"n": 3, "temperature": 0.7})
        prompts["seed"] = [101, 202]
        out = group.generate_sequences(prompts)
        kinds = [c[0] for c in llm.calls[1:]]
        assert kinds == ["wake_up", "load_weights", "wake_up", "generate", "sleep"]
        assert llm.calls[1] == ("wake_up", ["weights"]) and llm.calls[3] == ("wake_up", ["kv_cache"])
        actor_names = set(group.workers[0].weights_digest("actor"))
        assert set(llm.calls[2][1]) == actor_names  # every actor weight, HF names
        _, requests, params = llm.calls[4]
        image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        assert [r["prompt_token_ids"] for r in requests] == [list(x) for x in raw["raw_prompt_ids"]]
        assert all(r["multi_modal_data"]["image"][0].mode == "RGB" for r in requests)
        seeds = [p.kwargs["seed"] for p in params]
        assert len(set(seeds)) == 2  # per-request seeds differ
        p = params[0].kwargs
        assert p["n"] == 3 and p["temperature"] == 0.7 and p["max_tokens"] == 8 and p["logit_bias"] == {image_pad: -100.0}
        assert p["stop_token_ids"] == [3002] and p["detokenize"] is False
        assert len(out) == 6 and out["response_mask"].sum(-1).tolist() == [3] * 6  # cut after <|im_end|>
        assert out["responses"][1, :3].tolist() == [10, 21, 3002]
    finally:
        group.shutdown()
