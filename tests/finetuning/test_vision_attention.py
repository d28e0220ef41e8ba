"""Batched window attention: same result as attending each window alone, in the tower and alone."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from transformers import Qwen2_5_VLConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel

from finetuning.vision_attention import batched_window_attention, enable_batched_window_attention


def _reference(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, bounds: list[int],
               scaling: float) -> torch.Tensor:
    """Softmax attention written out per chunk: ``(seq, heads, dim)``."""
    outs = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        q, k, v = query[:, start:stop], key[:, start:stop], value[:, start:stop]
        weights = torch.softmax(q @ k.transpose(-1, -2) * scaling, dim=-1)
        outs.append((weights @ v).transpose(0, 1))
    return torch.cat(outs)


def test_matches_per_chunk_softmax_with_mixed_lengths() -> None:
    torch.manual_seed(0)
    bounds = [0, 16, 32, 40, 56, 56, 60, 76]  # lengths 16, 16, 8, 16, 0 (empty), 4, 16
    heads, dim = 3, 8
    q, k, v = (torch.randn(heads, bounds[-1], dim, dtype=torch.float64) for _ in range(3))
    got = batched_window_attention(q, k, v, torch.tensor(bounds), 1 / math.sqrt(dim))
    torch.testing.assert_close(got, _reference(q, k, v, bounds, 1 / math.sqrt(dim)))


def test_rejects_cu_seqlens_that_do_not_cover_the_sequence() -> None:
    q = torch.randn(2, 10, 4)
    with pytest.raises(ValueError, match="cu_seqlens"):
        batched_window_attention(q, q, q, torch.tensor([0, 4, 8]), 0.5)


def _tower(attn: str) -> Qwen2_5_VisionTransformerPretrainedModel:
    config = Qwen2_5_VLConfig(vision_config=dict(
        depth=4, hidden_size=64, num_heads=4, intermediate_size=128, out_hidden_size=32, window_size=112,
        fullatt_block_indexes=[1, 3])).vision_config
    torch.manual_seed(0)
    return Qwen2_5_VisionTransformerPretrainedModel._from_config(config, attn_implementation=attn,
                                                                 dtype=torch.float64)


def _run(tower: torch.nn.Module, pixels: torch.Tensor, grid: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    tower.zero_grad()
    out = tower(pixels, grid_thw=grid)
    out = getattr(out, "pooler_output", out)
    out = out[0] if isinstance(out, tuple) else out
    (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum().backward()
    return out.detach(), [p.grad.clone() for p in tower.parameters()]


def test_tower_output_and_gradients_match_transformers() -> None:
    stock = _tower("sdpa")
    batched = copy.deepcopy(stock)
    assert enable_batched_window_attention(batched) == 4
    assert enable_batched_window_attention(batched) == 0  # already switched: nothing twice
    # Grids that are not multiples of the 8-patch window: edge windows of several sizes.
    grid = torch.tensor([[1, 12, 20], [1, 6, 4], [1, 18, 10]])
    pixels = torch.randn(int(grid.prod(-1).sum()), 3 * 2 * 14 * 14, dtype=torch.float64)
    out_stock, grads_stock = _run(stock, pixels, grid)
    out_batched, grads_batched = _run(batched, pixels, grid)
    torch.testing.assert_close(out_batched, out_stock)
    for got, want in zip(grads_batched, grads_stock):
        torch.testing.assert_close(got, want)


def test_leaves_eager_towers_alone() -> None:
    assert enable_batched_window_attention(_tower("eager")) == 0
