"""Packed-row attention kernels: loss and gradients equal transformers' dense block-mask path."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from bench.gpu_check import SampleMaker, build_model, packed_batch, padded_batch
from finetuning.packed_attention import PACKED_SDPA, _bounds_for, document_bounds, enable_packed_attention

TOLERANCE = dict(rtol=1e-4, atol=1e-5)  # fp32; the kernels sum in a different order


def test_document_bounds_from_restarting_positions() -> None:
    assert document_bounds(torch.tensor([0, 1, 2, 0, 1, 0, 1, 2, 3])) == [0, 3, 5, 9]
    assert document_bounds(torch.tensor([0, 1, 2, 3])) is None


def test_bounds_are_per_tensor_not_per_address() -> None:
    first = torch.tensor([[0, 1, 0, 1, 2]])
    assert _bounds_for(first) == [0, 2, 5]
    first[0, 3] = 0  # same object: the cached answer (one forward never edits its position ids)
    assert _bounds_for(first) == [0, 2, 5]
    assert _bounds_for(torch.tensor([[0, 1, 2, 0, 1]])) == [0, 3, 5]


@pytest.fixture(scope="module")
def model_and_samples() -> tuple[torch.nn.Module, list[dict[str, torch.Tensor]]]:
    model = build_model(dry_run=True, device=torch.device("cpu"), attn="sdpa")
    model.train()
    maker, rng = SampleMaker(model.config, seed=0), random.Random(0)
    samples = [maker.sft_sample((4, 4 + 2 * rng.randrange(2)), rng.randrange(5, 20), rng.randrange(10, 40))
               for _ in range(3)]
    return model, samples


def _loss_and_grads(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_sdpa_split_matches_dense_block_mask(model_and_samples) -> None:
    model, samples = model_and_samples
    batch = packed_batch(samples)
    want_loss, want_grads = _loss_and_grads(model, batch)
    fast = copy.deepcopy(model)
    enable_packed_attention(fast, "sdpa_split")
    assert fast.config._attn_implementation == PACKED_SDPA
    got_loss, got_grads = _loss_and_grads(fast, batch)
    torch.testing.assert_close(got_loss, want_loss, **TOLERANCE)
    assert len(got_grads) == len(want_grads)
    for got, want in zip(got_grads, want_grads):
        torch.testing.assert_close(got, want, **TOLERANCE)


def test_flex_forward_matches_dense_block_mask(model_and_samples) -> None:
    """Loss only: torch has no FlexAttention backward on the CPU (the GPU bench trains through it)."""
    model, samples = model_and_samples
    batch = packed_batch(samples)
    fast = copy.deepcopy(model)
    enable_packed_attention(fast, "flex", training=False)
    with torch.no_grad():
        torch.testing.assert_close(fast(**batch).loss, model(**batch).loss, **TOLERANCE)


def test_padded_batches_are_unchanged(model_and_samples) -> None:
    model, samples = model_and_samples
    batch = padded_batch(samples, pad_id=0)
    want_loss, _ = _loss_and_grads(model, batch)
    fast = copy.deepcopy(model)
    enable_packed_attention(fast, "sdpa_split")
    got_loss, _ = _loss_and_grads(fast, batch)
    torch.testing.assert_close(got_loss, want_loss, **TOLERANCE)


def test_rejects_varlen_on_cpu_and_non_sdpa_models(model_and_samples) -> None:
    model, _ = model_and_samples
    if not torch.cuda.is_available():
        for kernel in ("varlen", "flex"):
            with pytest.raises(ValueError, match=kernel):
                enable_packed_attention(copy.deepcopy(model), kernel)
    eager = build_model(dry_run=True, device=torch.device("cpu"), attn="eager")
    with pytest.raises(ValueError, match="sdpa"):
        enable_packed_attention(eager, "flex")
