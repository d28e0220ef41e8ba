"""Multimodal RoPE (M-RoPE) position ids computed by the model's own ``get_rope_index``.

``Qwen2_5_VLModel.get_rope_index`` only reads ``self.config`` and calls
``self.get_vision_position_ids``, so a weightless object holding the config can run it: no model
is built, and the positions always match what the installed transformers computes itself.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Qwen2_5_VLConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

__all__ = ["MRopeIndexer"]

_TEXT, _IMAGE = 0, 1  # transformers' mm_token_type_ids values (2 would be video)


class MRopeIndexer:
    """Calls ``Qwen2_5_VLModel.get_rope_index`` without instantiating the model.

    Args:
        config: the model's ``Qwen2_5_VLConfig``; if ``None``, a default config with
            ``spatial_merge_size=merge_size`` (the only field images need).
        image_token_id: id of ``<|image_pad|>`` (look it up from the tokenizer).
        merge_size: the image processor's ``merge_size``; used only when ``config`` is None.
    """

    get_rope_index = Qwen2_5_VLModel.get_rope_index
    get_vision_position_ids = Qwen2_5_VLModel.get_vision_position_ids

    def __init__(self, config: Any | None, image_token_id: int, merge_size: int = 2) -> None:
        if config is None:
            config = Qwen2_5_VLConfig(vision_config={"spatial_merge_size": merge_size})
        elif hasattr(config, "vision_config") and config.vision_config.spatial_merge_size != merge_size:
            raise ValueError(
                f"model spatial_merge_size {config.vision_config.spatial_merge_size} != image processor "
                f"merge_size {merge_size}"
            )
        self.config = config
        self.image_token_id = image_token_id

    def position_ids(self, input_ids: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
        """M-RoPE ids ``(3, L)`` (temporal, height, width) for one sequence ``(L,)`` of text and images."""
        ids = input_ids.view(1, -1)
        token_types = torch.where(ids == self.image_token_id, _IMAGE, _TEXT).to(torch.int32)
        position_ids, _ = self.get_rope_index(
            ids, mm_token_type_ids=token_types, image_grid_thw=image_grid_thw
        )
        return position_ids[:, 0]
