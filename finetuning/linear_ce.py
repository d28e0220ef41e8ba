"""Causal-LM loss from the final hidden states, never materialising the ``(tokens, vocab)`` logits.

With a 151,936-token vocabulary the logits of a 12k-token step are 3.7 GB in bf16, and their fp32
copy for the loss 7.4 GB, plus the same again for their gradient. Here (``--linear_ce``):

* only supervised positions (label != -100 after the shift) go through the LM head;
* ``chunked``: their CE is computed in chunks of ``chunk_size`` rows, each chunk's logits recomputed
  in the backward (activation checkpointing), so at most one chunk of logits exists at a time;
* ``liger``: Liger's ``LigerFusedLinearCrossEntropyLoss`` (Triton, CUDA) computes that CE instead;
* with coordinate token ids (``--use_soft_ce_for_coords``) the soft-target correction of
  ``finetuning.soft_ce`` is added from the hidden states: ``soft = hard + z_target - q . z_coord``
  needs only the target row and the coordinate rows of the LM head.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from finetuning.soft_ce import IGNORE_INDEX, coordinate_lookup, gaussian_bin_targets, normalise_loss

LINEAR_CE_CHOICES = ("off", "chunked", "liger")
HardCE = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _chunk_ce_sum(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy((hidden @ weight.T).float(), targets, reduction="sum")


def chunked_ce_sum(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                   chunk_size: int = 1024) -> torch.Tensor:
    """Summed CE of ``hidden (N, H) @ weight (V, H).T`` against ``targets (N,)`` (all supervised), chunked."""
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], chunk_size):
        stop = start + chunk_size
        total = total + checkpoint(_chunk_ce_sum, hidden[start:stop], weight, targets[start:stop],
                                   use_reentrant=False)
    return total


def liger_ce_sum() -> HardCE:
    """Liger's fused linear CE (summed) as a ``HardCE``; raises ``RuntimeError`` without liger or CUDA."""
    if not torch.cuda.is_available():
        raise RuntimeError("linear_ce=liger needs CUDA (Liger's kernels are Triton); use linear_ce=chunked")
    try:
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss
    except ImportError as exc:
        raise RuntimeError("linear_ce=liger needs liger-kernel: pip install liger-kernel") from exc
    loss_fn = LigerFusedLinearCrossEntropyLoss(ignore_index=IGNORE_INDEX, reduction="sum")

    def hard_ce(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        out = loss_fn(weight, hidden, targets)
        return (out[0] if isinstance(out, tuple) else out).float()

    return hard_ce


def soft_coordinate_correction(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                               coord_token_ids: torch.Tensor, sigma: float) -> torch.Tensor:
    """Summed ``z_target - q . z_coord`` over rows whose target is a coordinate token (0 if none)."""
    coord_ids = coord_token_ids.to(hidden.device)
    lookup = coordinate_lookup(coord_ids.cpu(), max(weight.shape[0], int(coord_ids.max()) + 1)).to(hidden.device)
    bins = lookup[targets]
    rows = (bins >= 0).nonzero().squeeze(1)
    if rows.numel() == 0:
        return hidden.new_zeros((), dtype=torch.float32)
    h = hidden[rows].float()
    target_logit = (h * weight[targets[rows]].float()).sum(-1)
    coord_logits = h @ weight[coord_ids].float().T  # (n_coord, num_bins)
    q = gaussian_bin_targets(bins[rows], len(coord_ids), sigma)
    return (target_logit - (q * coord_logits).sum(-1)).sum()


def linear_coordinate_ce(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    coord_token_ids: torch.Tensor | None = None,
    sigma: float = 2.0,
    num_items_in_batch: int | torch.Tensor | None = None,
    hard_ce: HardCE | None = None,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Causal-LM loss (soft targets on coordinates when ``coord_token_ids`` is given) from hidden states.

    Args:
        hidden: ``(B, L, H)`` final hidden states (after the last norm), unshifted.
        weight: ``(V, H)`` LM-head weight (no bias).
        labels: ``(B, L)`` unshifted labels, ``-100`` where ignored.
        coord_token_ids: ``(num_bins,)`` ids of the coordinate tokens in bin order, or None for plain CE.
        sigma: Gaussian std-dev in bins.
        num_items_in_batch: divide the summed loss by this; None averages over supervised tokens.
        hard_ce: summed hard CE of (hidden rows, weight, targets); default :func:`chunked_ce_sum`.
        chunk_size: rows per chunk of the default hard CE.

    Returns:
        Scalar loss, equal to ``soft_coordinate_ce`` (or the model's CE) on ``hidden @ weight.T``.
    """
    targets = F.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:].reshape(-1).to(hidden.device)
    rows = (targets != IGNORE_INDEX).nonzero().squeeze(1)
    h, t = hidden.reshape(-1, hidden.shape[-1])[rows], targets[rows]
    total = hard_ce(h, weight, t) if hard_ce is not None else chunked_ce_sum(h, weight, t, chunk_size)
    if coord_token_ids is not None:
        total = total + soft_coordinate_correction(h, weight, t, coord_token_ids, sigma)
    return normalise_loss(total, rows.numel(), num_items_in_batch)


@contextlib.contextmanager
def capture_output(module: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """Within the block, the outputs of ``module``'s forward calls are appended to the yielded list."""
    outputs: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _args, out: outputs.append(out))
    try:
        yield outputs
    finally:
        handle.remove()


def forward_hidden_states(model: torch.nn.Module, inner: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, Any]:
    """Run ``model`` (possibly DDP-wrapped) with no logits; returns the last norm's output and the outputs.

    ``inner`` is the unwrapped Qwen2.5-VL model (a PEFT wrapper around it works too);
    ``logits_to_keep`` = no position makes the LM head project nothing, and a hook on the text
    model's final norm catches the hidden states.
    """
    norms = [m for name, m in inner.named_modules() if name.endswith("language_model.norm")]
    if len(norms) != 1:
        raise RuntimeError(f"linear_ce: expected one language_model.norm in {type(inner).__name__}, found {len(norms)}")
    norm = norms[0]
    keep_none = torch.zeros(0, dtype=torch.long, device=inputs["input_ids"].device)
    with capture_output(norm) as caught:
        outputs = model(**inputs, logits_to_keep=keep_none)
    if len(caught) != 1:
        raise RuntimeError(f"expected one call of the final norm in a forward, saw {len(caught)}")
    return caught[0], outputs
