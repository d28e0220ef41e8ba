"""The vLLM rollout's calls checked against the real ``vllm`` package.

The rollout runs once through the FSDP worker against a recording stand-in for ``vllm`` that stores
every call it receives (constructor, methods, ``SamplingParams``, the model's ``load_weights``). The
recorded calls go as JSON to ``vllm_conformance_probe.py``, run by the python that ``REX_VLLM_PYTHON``
names (a separate environment with vLLM: it pins its own torch). The probe imports the real classes and
checks each call against them: method signatures, engine arguments against ``EngineArgs``' typed
fields, ``SamplingParams`` built for real, request dicts against ``TokensPrompt`` and vLLM's own
multimodal parser, weight names through the Qwen2.5-VL model's HF-to-vLLM name mapper.
It proves the calls fit the installed vLLM's API; nothing is executed on a GPU.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from transformers import AutoProcessor

from tests.verl.conftest import REPO
from verl.protocol import Batch
from verl.single_controller import LocalWorkerGroup
from verl.trainer.config import load_config
from verl.trainer.data_loader import build_datasets, build_loader
from verl.workers.fsdp_worker import FSDPWorker

PROBE = Path(__file__).with_name("vllm_conformance_probe.py")
VLLM_PYTHON = os.environ.get("REX_VLLM_PYTHON", "")
pytestmark = pytest.mark.skipif(
    not VLLM_PYTHON, reason="REX_VLLM_PYTHON is not set: point it to a python with vllm installed "
    "(a side environment, e.g. python3 -m venv ~/vllm-env && ~/vllm-env/bin/pip install vllm; see docs/vllm.md)")


def encode(value: Any) -> Any:
    """JSON form of a recorded argument; objects the probe must rebuild carry a ``__kind__`` tag."""
    if isinstance(value, Image.Image):
        return {"__kind__": "pil", "mode": value.mode, "size": list(value.size)}
    if isinstance(value, torch.Tensor):
        return {"__kind__": "tensor", "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, RecordedSamplingParams):
        return {"__kind__": "sampling_params", "kwargs": encode(value.kwargs)}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, dict):  # e.g. logit_bias {token id: bias}: JSON keys would become strings
        return {"__kind__": "dict", "items": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if callable(value):
        return {"__kind__": "callable"}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"no JSON form for a recorded {type(value).__name__}")


class RecordedSamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class RecordingModel:
    """Stands in for vLLM's model inside ``apply_model``; records ``load_weights``."""

    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self.calls = calls

    def load_weights(self, *args: Any, **kwargs: Any) -> set[str]:
        weights = list(args[0] if args else kwargs["weights"])
        self.calls.append({"method": "model.load_weights", "args": len(args), "kwargs": sorted(kwargs),
                           "names": [name for name, _ in weights]})
        return {name for name, _ in weights}


class RecordingLLM:
    instances: list[RecordingLLM] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.calls: list[dict[str, Any]] = [{"method": "__init__", "args": encode(args), "kwargs": encode(kwargs)}]
        RecordingLLM.instances.append(self)

    def _record(self, method: str, args: tuple, kwargs: dict[str, Any]) -> None:
        self.calls.append({"method": method, "args": encode(args), "kwargs": encode(kwargs)})

    def sleep(self, *args: Any, **kwargs: Any) -> None:
        self._record("sleep", args, kwargs)

    def wake_up(self, *args: Any, **kwargs: Any) -> None:
        self._record("wake_up", args, kwargs)

    def apply_model(self, *args: Any, **kwargs: Any) -> list[Any]:
        self._record("apply_model", args, kwargs)
        func = args[0] if args else kwargs["func"]
        return [func(RecordingModel(self.calls))]

    def generate(self, *args: Any, **kwargs: Any) -> list[Any]:
        self._record("generate", args, kwargs)
        prompts = args[0] if args else kwargs["prompts"]
        params = args[1] if len(args) > 1 else kwargs["sampling_params"]
        im_end = 3002  # the test tokenizer's <|im_end|> id
        return [types.SimpleNamespace(outputs=[types.SimpleNamespace(token_ids=[7, im_end])] * p.kwargs["n"])
                for _, p in zip(prompts, params)]


def record_rollout_calls(tiny_model: Path, data_config: Path, out_dir: Path) -> list[dict[str, Any]]:
    """Every call the vLLM rollout makes in one worker's init and one ``generate_sequences``."""
    cfg = load_config([
        f"config={REPO / 'verl/configs/config.yaml'}", f"data.config_path={data_config}",
        f"worker.actor.model.model_path={tiny_model}", "data.num_workers=0", "data.rollout_batch_size=2",
        "worker.actor.global_batch_size=2", "trainer.n_gpus_per_node=1", "worker.rollout.tensor_parallel_size=1",
        "worker.rollout.name=vllm", "worker.rollout.n=3", "worker.actor.micro_batch_size_per_device_for_experience=2",
        "worker.actor.micro_batch_size_per_device_for_update=2", "data.max_prompt_length=512",
        "data.max_response_length=8", "worker.rollout.max_num_batched_tokens=1024", "algorithm.disable_kl=true",
        "trainer.device=auto", f"trainer.save_checkpoint_path={out_dir}"])
    processor = AutoProcessor.from_pretrained(tiny_model)
    train, _ = build_datasets(cfg.data, processor.tokenizer, processor)
    _, raw = build_loader(train, cfg.data, processor.tokenizer.pad_token_id).next_batch()
    group = LocalWorkerGroup(FSDPWorker, cfg)
    try:
        group.init_model(*group.master_address(), 4)
        prompts = Batch.from_mapping(raw, meta={"n": 3, "temperature": 0.7})
        prompts["seed"] = [101, 202]
        group.generate_sequences(prompts)
    finally:
        group.shutdown()
    (llm,) = RecordingLLM.instances
    return llm.calls


@pytest.fixture(scope="module")
def recorded(tiny_model: Path, data_config: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The recorded calls (``{"model_path", "calls", "env"}``), with ``vllm`` replaced while recording."""
    module = types.ModuleType("vllm")
    module.LLM, module.SamplingParams, module.__version__ = RecordingLLM, RecordedSamplingParams, "recording"
    RecordingLLM.instances.clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "vllm", module)
        calls = record_rollout_calls(tiny_model, data_config, tmp_path_factory.mktemp("vllm_calls"))
    return {"calls": calls,
            "env": ["VLLM_ENABLE_V1_MULTIPROCESSING"]}  # set by VLLMRollout before importing vllm


def run_probe(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The probe's report on ``spec``, run by ``REX_VLLM_PYTHON`` (the repository is not on its path)."""
    path = folder / "calls.json"
    path.write_text(json.dumps(spec))
    result = subprocess.run([VLLM_PYTHON, str(PROBE), str(path)], capture_output=True, text=True, timeout=900,
                            env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 0, f"probe failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_rollout_calls_match_the_real_vllm(recorded: dict[str, Any], tmp_path: Path) -> None:
    methods = [c["method"] for c in recorded["calls"]]
    assert methods == ["__init__", "sleep", "wake_up", "apply_model", "model.load_weights", "wake_up",
                       "generate", "sleep"]  # the recording covers every kind of call
    report = run_probe(recorded, tmp_path)
    print(f"checked {report['checked']} items against vllm {report['vllm_version']}")
    assert report["problems"] == [], "\n".join(report["problems"])
    assert report["checked"] >= 40  # keywords, calls, sampling params, requests, weight names


def test_probe_reports_calls_that_do_not_fit(recorded: dict[str, Any], tmp_path: Path) -> None:
    """Negative control: one fault of each kind in the recorded calls, each reported by the probe."""
    spec = copy.deepcopy(recorded)
    init, sleep, wake, _, load, _, generate, _ = spec["calls"]
    init["kwargs"].update(dtype="bf16", disable_log_statz=True)
    sleep["kwargs"] = {"levels": 1}
    wake["kwargs"]["tags"] = ["weight"]
    load["kwargs"], load["names"] = ["weightz"], [*load["names"], "extra.head.weight"]
    first, second = generate["args"][0]
    first["prompt_ids"] = first.pop("prompt_token_ids")
    second["multi_modal_data"] = {"images": second["multi_modal_data"]["image"]}
    generate["kwargs"]["sampling_params"][0]["kwargs"]["max_new_tokens"] = 8
    spec["env"].append("VLLM_NO_SUCH_VARIABLE")
    problems = "\n".join(run_probe(spec, tmp_path)["problems"])
    for fault in ("dtype='bf16'", "'disable_log_statz'", "'levels'", "tag 'weight'", "'weightz'",
                  "extra.head.weight", "'prompt_ids'", "multi_modal_data rejected", "max_new_tokens",
                  "VLLM_NO_SUCH_VARIABLE"):
        assert fault in problems, f"{fault} not reported:\n{problems}"
