"""Choosing a rollout engine by name: the one module that knows every engine (they import only ``base``)."""

from __future__ import annotations

from typing import Any

from verl.workers.rollout.base import RolloutEngine

__all__ = ["build_rollout"]


def build_rollout(name: str, model_path: str, cfg: Any, tokenizer: Any, device: str) -> RolloutEngine:
    """The engine named ``name`` ("hf" or "vllm"; "auto" must be resolved by the caller)."""
    if name == "hf":
        from verl.workers.rollout.hf_rollout import HFRollout

        return HFRollout.from_pretrained(model_path, cfg, tokenizer, device)
    if name == "vllm":
        from verl.workers.rollout.vllm_rollout import VLLMRollout

        return VLLMRollout(model_path, cfg, tokenizer)
    raise ValueError(f"unknown rollout engine '{name}'; allowed: ['hf', 'vllm']")
