"""Soft-CE against a hand computation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from finetuning.soft_ce import IGNORE_INDEX, gaussian_bin_targets, soft_coordinate_ce


def test_gaussian_targets_are_normalised_and_peaked() -> None:
    q = gaussian_bin_targets(torch.tensor([0, 500, 999]), 1000, 2.0)
    assert torch.allclose(q.sum(-1), torch.ones(3))
    assert q.argmax(-1).tolist() == [0, 500, 999]
    assert torch.isclose(q[1, 499], q[1, 501])


def test_matches_hand_computed_case() -> None:
    # vocab 6: ids 2..5 are the coordinate tokens <0>..<3>; one text target, one coordinate target.
    logits = torch.tensor([[[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                            [1.0, -1.0, 0.5, 2.0, 0.0, -0.5],
                            [0.3, 0.1, -0.2, 0.4, 1.5, 0.0],
                            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]])
    labels = torch.tensor([[IGNORE_INDEX, 0, 3, IGNORE_INDEX]])  # targets after the shift: 0 (text), 3 (<1>)
    sigma = 1.0
    # Position 0 predicts labels[1] = 0 (text, plain CE); position 1 predicts labels[2] = 3, i.e. <1>.
    text_loss = -F.log_softmax(logits[0, 0], -1)[0].item()
    w = [math.exp(-((k - 1) ** 2) / (2 * sigma**2)) for k in range(4)]
    q = [x / sum(w) for x in w]
    logp = F.log_softmax(logits[0, 1], -1)  # over the full vocabulary
    coord_loss = -sum(q[k] * logp[2 + k].item() for k in range(4))
    expected = (text_loss + coord_loss) / 2
    got = soft_coordinate_ce(logits, labels, torch.tensor([2, 3, 4, 5]), sigma)
    assert math.isclose(got.item(), expected, rel_tol=1e-5)


def test_tiny_sigma_equals_cross_entropy_and_normaliser() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 7, 20)
    labels = torch.randint(0, 20, (2, 7))
    labels[:, :2] = IGNORE_INDEX
    coord_ids = torch.arange(10, 20)
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, 20), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)
    assert torch.isclose(soft_coordinate_ce(logits, labels, coord_ids, 1e-3), ce, atol=1e-5)
    n = int((labels[:, 1:] != IGNORE_INDEX).sum())
    summed = soft_coordinate_ce(logits, labels, coord_ids, 1e-3, num_items_in_batch=1)
    assert torch.isclose(summed, ce * n, rtol=1e-5)


def test_gradient_flows_only_through_logits() -> None:
    logits = torch.randn(1, 5, 12, requires_grad=True)
    labels = torch.tensor([[IGNORE_INDEX, 8, 9, 3, 11]])
    soft_coordinate_ce(logits, labels, torch.arange(8, 12), 2.0).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert logits.grad[0, -1].abs().sum() == 0  # the last position has no target


def test_without_coordinate_ids_it_is_plain_shifted_cross_entropy() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[IGNORE_INDEX, 3, 4, IGNORE_INDEX, 1], [IGNORE_INDEX, IGNORE_INDEX, 6, 0, 2]])
    # Shifted by hand: position t predicts labels[t + 1]; the last position predicts nothing.
    rows = [(0, 0, 3), (0, 1, 4), (0, 3, 1), (1, 1, 6), (1, 2, 0), (1, 3, 2)]
    total = sum(-F.log_softmax(logits[b, t], -1)[y] for b, t, y in rows)
    assert torch.allclose(soft_coordinate_ce(logits, labels, None, 2.0), total / 6)
    # With the token count of a whole accumulated step (here 10), the sum is divided by that instead.
    assert torch.allclose(soft_coordinate_ce(logits, labels, None, 2.0, num_items_in_batch=10), total / 10)
