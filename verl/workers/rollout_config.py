"""Configuration of the rollout engine (``worker.rollout``): engine choice, sampling, vLLM and hf knobs.
Each field's comment is its documentation (``verl/configs/config.yaml`` mirrors the defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from verl.config_schema import derived
from verl.workers.device import resolve_device

__all__ = ["VAL_OVERRIDABLE", "RolloutConfig", "resolve_rollout_name"]

# Sampling knobs that validation may override per call (worker.rollout.val_override_config).
VAL_OVERRIDABLE = ("n", "temperature", "top_p", "top_k")


@dataclass
class RolloutConfig:
    name: Literal["auto", "hf", "vllm"] = "auto"  # engine; auto = vllm if importable and on GPU, else hf
    n: int = 8  # samples per prompt (the GRPO/RLOO group size)
    temperature: float = 1.0  # sampling temperature (also used to scale logits for log-probs)
    top_p: float = 0.99  # nucleus sampling
    top_k: int = -1  # top-k sampling; -1 = off
    seed: int = 1  # engine seed (not a per-request seed, so repeated prompts still differ)
    dtype: Literal["bf16", "fp16", "fp32"] = "bf16"  # inference dtype
    gpu_memory_utilization: float = 0.6  # vLLM KV-cache share of GPU memory
    enforce_eager: bool = False  # vLLM: disable CUDA graphs
    enable_chunked_prefill: bool = False  # vLLM chunked prefill
    tensor_parallel_size: int = 2  # vLLM tensor parallel degree (divides the world size)
    max_num_batched_tokens: int = 16384  # vLLM scheduler budget (>= prompt + response length)
    max_model_len: int | None = None  # vLLM context; None = prompt_length + response_length
    limit_images: int = 1  # max images per prompt for vLLM; 0 = no limit
    hf_max_num_seqs: int = 256  # hf engine: sequences per generate call (bounds the KV cache)
    hf_cache: Literal["dynamic", "static"] = "dynamic"  # hf engine KV cache; static allows hf_compile
    hf_compile: bool = False  # hf engine: torch.compile the decoding step (needs hf_cache=static and a GPU)
    hf_shared_prefill: bool = True  # hf engine: prefill each prompt (and its image) once, copy its KV cache to its n samples
    ignore_eos: bool = False  # keep generating past EOS (benchmarking only)
    disable_log_stats: bool = True  # vLLM stats logging off
    val_override_config: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.5, "n": 1})  # validation sampling
    prompt_length: int = derived("data.max_prompt_length", 4096)
    response_length: int = derived("data.max_response_length", 4096)
    trust_remote_code: bool = derived("worker.actor.model.trust_remote_code", False)


def resolve_rollout_name(name: str, device: str = "auto") -> Literal["hf", "vllm"]:
    """``auto`` -> ``vllm`` when vllm is importable and the resolved device is cuda, else ``hf``."""
    if name != "auto":
        return name  # type: ignore[return-value]
    import importlib.util

    has_vllm = importlib.util.find_spec("vllm") is not None
    return "vllm" if has_vllm and resolve_device(device) == "cuda" else "hf"
