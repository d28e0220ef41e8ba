"""The tiny models' shapes: size presets, the Qwen2.5-VL config built from them, and the Gaussian
coordinate-embedding initialisation (shared by both file layouts of the tiny model)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from transformers import Qwen2_5_VLConfig

ModelSize = Literal["test", "demo"]
SIZES: tuple[str, ...] = ("test", "demo")


SIZE_PRESETS: dict[str, dict[str, Any]] = {
    # hidden, layers, heads, kv heads, mlp, mrope (sums to head_dim/2); vision hidden, depth, heads, mlp, fullatt
    "test": dict(
        text=dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            intermediate_size=64,
            mrope_section=[2, 3, 3],
        ),
        vision=dict(hidden_size=32, depth=2, num_heads=2, intermediate_size=64, fullatt_block_indexes=[1]),
    ),
    "demo": dict(
        text=dict(
            hidden_size=256,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=704,
            mrope_section=[8, 12, 12],
        ),
        vision=dict(
            hidden_size=128, depth=4, num_heads=4, intermediate_size=256, fullatt_block_indexes=[1, 3]
        ),
        # Random-init std (Qwen's is 0.02): larger weights make the demo learn to localise much
        # sooner (docs/demo.md).
        init_std=0.06,
    ),
}


def qwen25vl_config(
    text: dict[str, Any],
    vision: dict[str, Any],
    token_ids: dict[str, int],
    vocab_size: int,
    **text_extra: Any,
) -> Qwen2_5_VLConfig:
    """Assemble a Qwen2.5-VL config from text/vision shape dicts and tokenizer ids."""
    text = dict(text)
    mrope_section = text.pop("mrope_section")
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    if sum(mrope_section) * 2 != head_dim:
        raise ValueError(f"mrope_section {mrope_section} must sum to head_dim/2 = {head_dim // 2}")
    text_config = dict(
        vocab_size=vocab_size,
        hidden_act="silu",
        rms_norm_eps=1e-6,
        max_position_embeddings=text_extra.pop("max_position_embeddings", 32768),
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": list(mrope_section)},
        bos_token_id=token_ids["<|endoftext|>"],
        eos_token_id=token_ids["<|im_end|>"],
        pad_token_id=token_ids["<|endoftext|>"],
        use_cache=True,
        **text,
        **text_extra,
    )
    vision_config = dict(
        hidden_act="silu",
        in_channels=3,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        tokens_per_second=2,
        window_size=112,
        out_hidden_size=text["hidden_size"],
        **vision,
    )
    return Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=token_ids["<|image_pad|>"],
        video_token_id=token_ids["<|video_pad|>"],
        vision_start_token_id=token_ids["<|vision_start|>"],
        vision_end_token_id=token_ids["<|vision_end|>"],
        tie_word_embeddings=True,  # as Rex-Omni-3B / Qwen2.5-VL-3B
    )


COORD_EMBED_SCALE = 8.0


def init_gaussian_coordinate_embeddings(model: Any, coord_ids: list[int], scale: float = COORD_EMBED_SCALE,
                                        seed: int = 0) -> None:
    """Set the row of ``<k>`` to ``2 c + scale * (t u - t^2 w)`` plus a little noise, ``t = k/999 - 1/2``.

    ``c``, ``u``, ``w`` are orthonormal random directions. With tied embeddings the coordinate logits of a
    hidden state ``h`` are then ``2 h.c + scale * (t h.u - t^2 h.w)`` (+ noise): a discretised Gaussian
    over the bins whose mean ``h.u / (2 h.w)`` is *linear* in ``h``. Predicting a coordinate becomes a
    regression the model can learn from pixels; with random rows it is a 1000-way lookup, and a randomly
    initialised demo model stays at an image-blind guess (docs/demo.md).
    """
    embed = model.get_input_embeddings().weight
    dim = embed.shape[1]
    generator = torch.Generator().manual_seed(seed)
    directions = torch.linalg.qr(torch.randn(dim, 3, generator=generator))[0].T  # c, u, w
    t = torch.arange(len(coord_ids), dtype=torch.float32)[:, None] / (len(coord_ids) - 1) - 0.5
    rows = 2.0 * directions[0] + scale * (t * directions[1] - t**2 * directions[2])
    rows = rows + 0.02 * torch.randn(len(coord_ids), dim, generator=generator)
    with torch.no_grad():
        embed[coord_ids] = rows.to(embed.dtype)
