"""The model's image keywords for a batch's rows, shared by the actor's forward and the HF rollout."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["vision_inputs"]


def vision_inputs(rows: Any, device: str, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """``pixel_values`` (cast to ``dtype`` when given) and ``image_grid_thw`` of ``rows``' images on ``device``.

    ``rows``: per sequence ``{"pixel_values", "image_grid_thw"}`` (the ``multi_modal_inputs`` column);
    None or empty gives ``{}`` (a text-only batch).
    """
    if rows is None or not len(rows):
        return {}
    return {
        "pixel_values": torch.cat([r["pixel_values"] for r in rows]).to(device, dtype),
        "image_grid_thw": torch.cat([r["image_grid_thw"] for r in rows]).to(device),
    }
