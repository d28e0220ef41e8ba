"""Soft cross-entropy for coordinate tokens (``use_soft_ce_for_coords``).

Ordinary next-token CE treats ``<417>`` as exactly as wrong as ``<3>`` when the target is
``<416>``. For a target that is a coordinate token with bin ``b`` we replace the one-hot target by

    q_k = exp(-(k - b)^2 / (2 sigma^2)) / sum_j exp(-(j - b)^2 / (2 sigma^2)),   k = 0..999,

a Gaussian over the 1000 coordinate tokens only (``sigma`` in bins; normalised over those tokens),
and the loss is ``-sum_k q_k log p(<k>)`` with ``p`` the model's softmax over the *full* vocabulary,
so probability mass on non-coordinate tokens is still penalised. Other targets keep ordinary CE.

Memory: with ``lse`` the log-sum-exp of a row and ``z`` its logits,
``soft = lse - q . z_coord`` and ``hard = lse - z_target``, so ``soft = hard + z_target - q . z_coord``.
We therefore run the fused ordinary CE on every position and add that correction at coordinate
positions only, gathering just their ``(n_coord, 1000)`` coordinate logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def gaussian_bin_targets(bins: torch.Tensor, num_bins: int, sigma: float) -> torch.Tensor:
    """``(n,)`` target bins -> ``(n, num_bins)`` rows of Gaussian weights (std ``sigma`` bins) summing to 1."""
    grid = torch.arange(num_bins, device=bins.device, dtype=torch.float32)
    weights = torch.exp(-((grid[None, :] - bins[:, None].float()) ** 2) / (2.0 * sigma**2))
    return weights / weights.sum(dim=-1, keepdim=True)


def coordinate_lookup(coord_token_ids: list[int] | torch.Tensor, vocab_size: int) -> torch.Tensor:
    """``(vocab_size,)`` map token id -> bin index, ``-1`` for non-coordinate tokens."""
    ids = torch.as_tensor(coord_token_ids, dtype=torch.long)
    lookup = torch.full((vocab_size,), -1, dtype=torch.long)
    lookup[ids] = torch.arange(len(ids))
    return lookup


def soft_coordinate_ce(
    logits: torch.Tensor,
    labels: torch.Tensor,
    coord_token_ids: torch.Tensor | None,
    sigma: float,
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Causal-LM loss with Gaussian soft targets on coordinate tokens (plain CE without ``coord_token_ids``).

    Args:
        logits: ``(B, L, V)`` unshifted model logits.
        labels: ``(B, L)`` unshifted labels, ``-100`` where ignored.
        coord_token_ids: ``(num_bins,)`` token ids of ``<0>``..``<num_bins-1>`` in bin order, or None.
        sigma: Gaussian std-dev in bins (> 0).
        num_items_in_batch: divide the summed loss by this (HF gradient-accumulation-aware
            normalisation); ``None`` averages over this batch's supervised tokens.

    Returns:
        Scalar loss.
    """
    vocab = logits.shape[-1]
    flat_logits = logits.reshape(-1, vocab)  # a view: shift the labels, not the logits
    targets = F.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:].reshape(-1).to(flat_logits.device)
    per_token = F.cross_entropy(flat_logits.float(), targets, ignore_index=IGNORE_INDEX, reduction="none")

    if coord_token_ids is None:
        return normalise_loss(per_token.sum(), int((targets != IGNORE_INDEX).sum()), num_items_in_batch)
    coord_ids = coord_token_ids.to(flat_logits.device)
    lookup = coordinate_lookup(coord_ids.cpu(), max(vocab, int(coord_ids.max()) + 1)).to(flat_logits.device)
    bins = lookup[targets.clamp(min=0)].masked_fill(targets == IGNORE_INDEX, -1)
    positions = (bins >= 0).nonzero().squeeze(1)
    if positions.numel() > 0:
        coord_logits = flat_logits[positions[:, None], coord_ids[None, :]].float()  # (n_coord, num_bins) only
        target_logit = flat_logits[positions, targets[positions]].float()
        q = gaussian_bin_targets(bins[positions], len(coord_ids), sigma)
        correction = target_logit - (q * coord_logits).sum(dim=-1)
        per_token = per_token.index_add(0, positions, correction)

    return normalise_loss(per_token.sum(), int((targets != IGNORE_INDEX).sum()), num_items_in_batch)


def normalise_loss(total: torch.Tensor, num_supervised: int,
                   num_items_in_batch: int | torch.Tensor | None = None) -> torch.Tensor:
    """``total / num_items_in_batch`` when given (HF accumulation-aware), else the mean over ``num_supervised``."""
    if num_items_in_batch is not None:
        return total / torch.as_tensor(num_items_in_batch, device=total.device, dtype=total.dtype)
    return total / max(num_supervised, 1)
