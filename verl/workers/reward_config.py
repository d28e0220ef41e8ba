"""Configuration of the reward manager (``worker.reward``); each field's comment is its documentation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["RewardConfig"]


@dataclass
class RewardConfig:
    reward_type: Literal["batch", "sequential"] = "batch"  # fn scores a whole batch, or one sample per call
    reward_function: str | None = "verl/configs/reward_func.py:compute_score"  # "file.py:fn" (fn defaults to compute_score)
    reward_function_kwargs: dict[str, Any] = field(default_factory=dict)  # extra kwargs for the function
    skip_special_tokens: bool = False  # detokenize responses without special tokens (keep False: boxes use them)
    num_cpus: int = 1  # the reward runs in a driver thread (no Ray actor): only 1
