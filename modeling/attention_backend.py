"""Which attention kernel a model is loaded with; shared by SFT, GRPO and evaluation."""

from __future__ import annotations

import importlib.util

__all__ = ["resolve_attn_implementation"]


def resolve_attn_implementation(requested: str = "auto") -> str:
    """``auto`` -> ``flash_attention_2`` when flash-attn is installed and CUDA is available, else ``sdpa``;
    any other value is returned as given."""
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"
