"""Which torch device a worker runs on."""

from __future__ import annotations

from typing import Literal

__all__ = ["resolve_device"]


def resolve_device(device: str) -> Literal["cuda", "cpu"]:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``."""
    if device != "auto":
        return device  # type: ignore[return-value]
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
