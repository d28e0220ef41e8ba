"""Batched window attention for the Qwen2.5-VL vision tower when flash-attention is not used.

transformers' SDPA path runs one attention call per vision window (each ``cu_seqlens`` chunk). The
windows are 112 px, so a 3B training step with eight ~900 px images makes about 350 calls in each of
the 28 windowed layers, forward, recomputed and backward. On an H200 that step ran at 4.5% MFU with
SDPA (``bench/results/2026-11-26-gpu_check-h200.json``). Here windows are grouped by length (nearly all
are full; edge windows come in a few sizes) and each group is attended in one batched SDPA call. The
result equals the per-window loop (``tests/finetuning/test_vision_attention.py``).

Status: measured only on the CPU, where it cut SDPA calls 15x (450 to 30 in an 8-block tower) but not
time (compute dominates there). ``--batched_vision_windows True`` switches it on; it stays off by
default until ``bench/bench_sft_speed.py`` shows a gain on a GPU. Flash-attention is left alone.
"""

from __future__ import annotations

import logging
import types
from typing import Any

import torch
import torch.nn.functional as F

from finetuning.packed_attention import PACKED_SDPA

logger = logging.getLogger(__name__)

_PATCHED_FLAG = "_rex_batched_windows"


def batched_window_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                             cu_seqlens: torch.Tensor, scaling: float) -> torch.Tensor:
    """Non-causal attention within each ``cu_seqlens`` chunk of ``(heads, seq, head_dim)`` tensors.

    Chunks of equal length are stacked and attended together, then put back in sequence order.
    Returns ``(seq, heads, head_dim)``, the layout transformers' attention functions return.
    """
    heads, seq, head_dim = query.shape
    bounds = cu_seqlens.tolist()
    if bounds[0] != 0 or bounds[-1] != seq:
        raise ValueError(f"cu_seqlens must run from 0 to the sequence length {seq}, got {bounds[0]}..{bounds[-1]}")
    by_length: dict[int, list[int]] = {}
    for start, stop in zip(bounds[:-1], bounds[1:]):
        if stop > start:
            by_length.setdefault(stop - start, []).append(start)
    outputs, order = [], []
    for length, starts in by_length.items():
        index = (torch.tensor(starts, device=query.device)[:, None]
                 + torch.arange(length, device=query.device)).reshape(-1)  # (n * length,)
        n = len(starts)

        def gather(t: torch.Tensor, index: torch.Tensor = index, n: int = n, length: int = length) -> torch.Tensor:
            return t[:, index].reshape(heads, n, length, head_dim).transpose(0, 1)  # (n, heads, L, d)

        out = F.scaled_dot_product_attention(gather(query), gather(key), gather(value), scale=scaling)
        outputs.append(out.permute(0, 2, 1, 3).reshape(n * length, heads, head_dim))
        order.append(index)
    stacked, position = torch.cat(outputs), torch.cat(order)
    inverse = torch.empty_like(position)
    inverse[position] = torch.arange(position.numel(), device=position.device)
    return stacked[inverse]


def _batched_forward(self: Any, hidden_states: torch.Tensor, cu_seqlens: torch.Tensor,
                     position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None, *,
                     rotary_pos_emb: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
    """``Qwen2_5_VLVisionAttention.forward`` with :func:`batched_window_attention` for the chunks."""
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb_vision

    if position_embeddings is None:
        if rotary_pos_emb is None:
            raise ValueError("vision attention needs position_embeddings (or rotary_pos_emb)")
        emb = torch.cat((rotary_pos_emb, rotary_pos_emb), dim=-1)
        position_embeddings = (emb.cos(), emb.sin())
    seq_length = hidden_states.shape[0]
    query, key, value = self.qkv(hidden_states).reshape(seq_length, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    cos, sin = position_embeddings
    query, key = apply_rotary_pos_emb_vision(query, key, cos, sin)
    out = batched_window_attention(query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1),
                                   cu_seqlens, self.scaling)
    return self.proj(out.reshape(seq_length, -1))


def enable_batched_window_attention(model: Any) -> int:
    """Route the vision tower's SDPA attention through :func:`batched_window_attention`.

    Applies only when the vision tower uses ``sdpa``; returns the number of attention modules
    switched (0 for flash-attention or eager, or for a model without a Qwen2.5-VL vision tower).
    """
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLVisionAttention

    switched = 0
    for module in model.modules():
        if not isinstance(module, Qwen2_5_VLVisionAttention) or getattr(module, _PATCHED_FLAG, False):
            continue
        if module.config._attn_implementation not in ("sdpa", PACKED_SDPA):  # the latter is SDPA for the tower
            continue
        module.forward = types.MethodType(_batched_forward, module)
        setattr(module, _PATCHED_FLAG, True)
        switched += 1
    if switched:
        logger.info("vision tower: batched window attention in %d SDPA attention modules", switched)
    return switched
