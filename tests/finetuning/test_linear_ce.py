"""Linear CE from hidden states equals the logits-based losses (model CE, soft_coordinate_ce)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from finetuning.linear_ce import chunked_ce_sum, liger_ce_sum, linear_coordinate_ce
from finetuning.soft_ce import IGNORE_INDEX, soft_coordinate_ce

VOCAB, HIDDEN = 300, 16
TOLERANCE = dict(rtol=1e-5, atol=1e-6)  # both compute the loss in float32, summing in another order


def _case(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hidden states, LM-head weight, labels (prompt masked, some coordinate targets) and coordinate ids."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(2, 13, HIDDEN, generator=g, dtype=torch.float64)
    weight = torch.randn(VOCAB, HIDDEN, generator=g, dtype=torch.float64) * 0.5
    coord_ids = torch.tensor([7, 250, 3, 101, 102, 299, 40, 41])  # not contiguous, not sorted
    labels = torch.randint(0, VOCAB, (2, 13), generator=g)
    labels[:, :4] = IGNORE_INDEX
    labels[0, 6:9] = coord_ids[[0, 3, 7]]
    labels[1, 5:8] = coord_ids[[1, 2, 5]]
    return hidden, weight, labels, coord_ids


def _grads(fn, hidden: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    loss = fn(h, w)
    loss.backward()
    return loss.detach(), h.grad, w.grad


@pytest.mark.parametrize("chunk_size", [1, 4, 1024])
@pytest.mark.parametrize("num_items", [None, 17])
def test_soft_ce_from_hidden_states_equals_soft_ce_on_logits(chunk_size: int, num_items: int | None) -> None:
    hidden, weight, labels, coord_ids = _case()
    want = _grads(lambda h, w: soft_coordinate_ce(h @ w.T, labels, coord_ids, 2.0, num_items), hidden, weight)
    got = _grads(lambda h, w: linear_coordinate_ce(h, w, labels, coord_ids, 2.0, num_items, chunk_size=chunk_size),
                 hidden, weight)
    for g, x in zip(got, want):
        torch.testing.assert_close(g, x, **TOLERANCE)


def test_plain_ce_from_hidden_states_equals_cross_entropy() -> None:
    hidden, weight, labels, _ = _case(1)
    logits = (hidden @ weight.T)[:, :-1].reshape(-1, VOCAB)
    want = F.cross_entropy(logits, labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX).float()
    torch.testing.assert_close(linear_coordinate_ce(hidden, weight, labels, chunk_size=3), want, **TOLERANCE)


def test_chunked_ce_sum_hand_computed() -> None:
    # logits of row 0 are [0, ln 3] -> CE(target 1) = ln(4) - ln(3); row 1 logits [0, 0] -> ln 2
    hidden = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    weight = torch.tensor([[0.0, 0.0], [0.0, torch.log(torch.tensor(3.0)).item()]], dtype=torch.float64)
    got = chunked_ce_sum(hidden, weight, torch.tensor([1, 0]), chunk_size=1)
    want = torch.log(torch.tensor(4.0 / 3.0, dtype=torch.float64)) + torch.log(torch.tensor(2.0, dtype=torch.float64))
    torch.testing.assert_close(got, want.float())


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU error path")
def test_liger_needs_cuda() -> None:
    with pytest.raises(RuntimeError, match="linear_ce=liger needs CUDA"):
        liger_ce_sum()
