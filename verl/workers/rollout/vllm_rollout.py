"""Colocated vLLM rollout: one engine per training rank, asleep while the actor trains.

Targets vLLM >= 0.10 (V1 engine, ``LLM.apply_model``, ``sleep``/``wake_up(tags=...)``); only public
``LLM`` methods are used. The engine runs in this process (``distributed_executor_backend=
"external_launcher"`` and ``VLLM_ENABLE_V1_MULTIPROCESSING=0``), so the weight-loading closure given to
``apply_model`` is called in-process and never pickled. Each step:

1. ``wake_up(tags=["weights"])``; 2. ``apply_model(lambda m: m.load_weights(full tensors))`` (vLLM maps HF
names and slices for tensor parallelism); 3. ``wake_up(tags=["kv_cache"])``; 4. ``generate``;
5. ``sleep(level=1)``.
With ``tensor_parallel_size > 1`` the ranks of one TP group must submit identical requests: the worker
all-gathers their prompts first and keeps its own share of the outputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch

from verl.protocol import Batch
from verl.workers.rollout.base import Responses, SamplingSettings

__all__ = ["VLLMRollout", "engine_kwargs"]

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def engine_kwargs(model_path: str, cfg: Any) -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM`` for a colocated, sleep-capable engine."""
    from dataset.vocab_layout import engine_tokenizer_path

    return dict(
        model=model_path,
        tokenizer=engine_tokenizer_path(model_path),
        dtype=_DTYPES[cfg.dtype],
        seed=cfg.seed,
        max_model_len=cfg.max_model_len or cfg.prompt_length + cfg.response_length,
        distributed_executor_backend="external_launcher",
        tensor_parallel_size=cfg.tensor_parallel_size,
        gpu_memory_utilization=cfg.gpu_memory_utilization,
        max_num_batched_tokens=cfg.max_num_batched_tokens,
        enable_chunked_prefill=cfg.enable_chunked_prefill,
        enforce_eager=cfg.enforce_eager,
        disable_log_stats=cfg.disable_log_stats,
        disable_custom_all_reduce=True,
        enable_sleep_mode=True,
        enable_prefix_caching=False,  # weights change every step
        limit_mm_per_prompt={"image": cfg.limit_images} if cfg.limit_images > 0 else None,
        trust_remote_code=cfg.trust_remote_code,
    )


class VLLMRollout:
    """``RolloutEngine`` over ``vllm.LLM`` (see the module docstring for the per-step protocol)."""

    def __init__(self, model_path: str, cfg: Any, tokenizer: Any) -> None:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        import vllm

        self._vllm = vllm
        self.cfg, self.tokenizer = cfg, tokenizer
        self.llm = vllm.LLM(**engine_kwargs(model_path, cfg))
        self.eos_ids = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
        self.image_pad_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
        self.llm.sleep(level=1)

    def wake_up(self) -> None:
        self.llm.wake_up(tags=["weights"])

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        # The iterator is consumed inside vLLM's loader, one full tensor at a time.
        self.llm.apply_model(lambda model: model.load_weights(weights=weights))
        self.llm.wake_up(tags=["kv_cache"])

    def sleep(self) -> None:
        self.llm.sleep(level=1)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def sampling_params(self, sampling: SamplingSettings, seed: int | None) -> Any:
        return self._vllm.SamplingParams(
            n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
            max_tokens=sampling.max_tokens, seed=seed, stop_token_ids=list(self.eos_ids),
            ignore_eos=self.cfg.ignore_eos, detokenize=False, skip_special_tokens=False,
            logit_bias={self.image_pad_id: -100.0})

    def generate(self, prompts: Batch, sampling: SamplingSettings) -> Responses:
        """One request per prompt (token ids + PIL images), each with its own seed from ``prompts["seed"]``."""
        seeds = prompts["seed"] if "seed" in prompts else [None] * len(prompts)
        requests = []
        for ids, mm in zip(prompts["raw_prompt_ids"], prompts["multi_modal_data"]):
            request: dict[str, Any] = {"prompt_token_ids": list(ids)}
            if mm:
                request["multi_modal_data"] = mm
            requests.append(request)
        params = [self.sampling_params(sampling, None if s is None else int(s) % (2**31)) for s in seeds]
        outputs = self.llm.generate(requests, sampling_params=params, use_tqdm=False)
        return Responses([list(sample.token_ids) for output in outputs for sample in output.outputs])
