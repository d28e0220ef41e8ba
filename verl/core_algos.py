"""GRPO math: outcome advantages, the clipped policy loss, loss aggregation, KL estimators, LR schedule.

Pure tensor functions (no distributed state). Shapes: ``B`` sequences, ``R`` response tokens;
``response_mask`` is ``(B, R)`` with 1 for real response tokens. Variants are chosen by name from small
registries (``ADV_ESTIMATORS``, ``AGG_MODES``, ``KL_PENALTIES``) whose keys equal the ``Literal`` choices
in the config dataclasses (``verl.workers.actor_config``, ``verl.trainer.ppo_config``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import numpy as np
import torch

__all__ = [
    "ADV_ESTIMATORS", "AGG_MODES", "KL_PENALTIES", "agg_loss", "apply_kl_penalty", "build_lr_scheduler",
    "compute_advantage", "compute_kl", "compute_policy_loss", "entropy_from_logits", "group_filter_mask",
    "log_probs_from_logits", "loss_normalizer", "lr_lambda", "masked_mean", "resolve_warmup_steps",
]

F = TypeVar("F", bound=Callable[..., Any])


def _registry(table: dict[str, Any]) -> Callable[[str], Callable[[F], F]]:
    def register(name: str) -> Callable[[F], F]:
        def decorator(fn: F) -> F:
            if name in table:
                raise KeyError(f"'{name}' is already registered")
            table[name] = fn
            return fn
        return decorator
    return register


def _lookup(table: dict[str, Any], name: str, what: str) -> Any:
    if name not in table:
        raise ValueError(f"unknown {what} '{name}'; allowed: {sorted(table)}")
    return table[name]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is 1 (0 when the mask is empty)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def _group_ids(index: Sequence[Any] | np.ndarray, device: torch.device) -> tuple[torch.Tensor, int]:
    """Dense group ids (0..G-1) for per-sequence prompt ``index`` values (uids)."""
    _, inverse = np.unique(np.asarray(index, dtype=object).astype(str), return_inverse=True)
    ids = torch.as_tensor(inverse.reshape(-1), dtype=torch.long, device=device)
    return ids, int(ids.max().item()) + 1 if ids.numel() else 0


def _group_stats(scores: torch.Tensor, index: Sequence[Any] | np.ndarray) -> tuple[torch.Tensor, ...]:
    """Per-sequence (group size, group sum, group unbiased variance) broadcast back to each sequence."""
    ids, num_groups = _group_ids(index, scores.device)
    if ids.numel() != scores.numel():
        raise ValueError(f"index has {ids.numel()} entries but there are {scores.numel()} sequences")
    zeros = torch.zeros(num_groups, dtype=scores.dtype, device=scores.device)
    count = zeros.index_add(0, ids, torch.ones_like(scores))
    total = zeros.index_add(0, ids, scores)
    deviation = scores - (total / count)[ids]
    var = zeros.index_add(0, ids, deviation**2) / (count - 1).clamp(min=1)
    return count[ids], total[ids], var[ids]


# ------------------------------------------------------------------------------------------ advantages

ADV_ESTIMATORS: dict[str, Callable[..., torch.Tensor]] = {}
register_adv_estimator = _registry(ADV_ESTIMATORS)


@register_adv_estimator("grpo")
def grpo_advantage(scores: torch.Tensor, index: Sequence[Any] | np.ndarray, eps: float = 1e-6,
                   norm_by_std: bool = True) -> torch.Tensor:
    """GRPO outcome advantage (Shao et al. 2024, DeepSeekMath): ``(s - mean_g) / (std_g + eps)``.

    ``std_g`` is the unbiased (n-1) standard deviation over the sequences of the same prompt, as
    ``torch.std``. A group of one sequence uses mean 0 and std 1 (EasyR1 convention), so its advantage is
    its raw score. ``norm_by_std=False`` gives ``s - mean_g`` (Dr.GRPO, Liu et al. 2025: dividing by the
    std up-weights prompts whose answers are all nearly right or all nearly wrong).
    """
    # float64: a float32 group mean of equal scores can miss them by an ulp, which the division by a
    # near-zero std would blow up into non-zero advantages.
    count, total, var = _group_stats(scores.double(), index)
    single = count == 1
    mean = torch.where(single, torch.zeros_like(total), total / count)
    if not norm_by_std:
        return (scores.double() - mean).to(scores.dtype)
    std = torch.where(single, torch.ones_like(var), var.sqrt())
    return ((scores.double() - mean) / (std + eps)).to(scores.dtype)


@register_adv_estimator("rloo")
def rloo_advantage(scores: torch.Tensor, index: Sequence[Any] | np.ndarray, eps: float = 1e-6,
                   norm_by_std: bool = False) -> torch.Tensor:
    """RLOO advantage (Ahmadian et al. 2024): ``s_i - mean_{j != i} s_j`` (leave-one-out baseline).

    This is the paper's form; it equals ``n / (n - 1) * (s_i - mean_g)``. No std normalisation, so ``eps``
    and ``norm_by_std`` are unused. A group of one sequence has no baseline: its advantage is its raw score.
    """
    count, total, _ = _group_stats(scores.double(), index)
    others_mean = (total - scores.double()) / (count - 1).clamp(min=1)
    return torch.where(count == 1, scores.double(), scores.double() - others_mean).to(scores.dtype)


def compute_advantage(
    name: str,
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Sequence[Any] | np.ndarray,
    eps: float = 1e-6,
    norm_by_std: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outcome advantages broadcast over response tokens.

    ``token_level_rewards`` (B, R): the sequence score (usually at the last valid token) plus any per-token
    KL penalty; each sequence's score is its row sum. ``index`` (B,): the prompt uid of each sequence.
    ``norm_by_std``: divide by the group std (GRPO only; ``algorithm.norm_adv_by_std_in_grpo``).
    Returns ``(advantages, returns)``, both (B, R) fp32, zero outside ``response_mask``; for outcome-only
    estimators returns equal advantages.
    """
    estimator = _lookup(ADV_ESTIMATORS, name, "advantage estimator")
    scores = token_level_rewards.float().sum(dim=-1)
    with torch.no_grad():
        advantages = estimator(scores, index, eps=eps, norm_by_std=norm_by_std).unsqueeze(-1) * response_mask.float()
    return advantages, advantages


def group_filter_mask(scores: torch.Tensor, index: Sequence[Any] | np.ndarray, atol: float = 1e-6) -> torch.Tensor:
    """Keep-mask (B,) bool for online filtering (DAPO dynamic sampling, Yu et al. 2025).

    A sequence is kept when the scores of its prompt group are not all equal (max - min > ``atol``);
    all-equal groups give zero GRPO advantage and only dilute the batch.
    """
    ids, num_groups = _group_ids(index, scores.device)
    scores = scores.float()
    hi = torch.full((num_groups,), -math.inf, device=scores.device).scatter_reduce(0, ids, scores, "amax")
    lo = torch.full((num_groups,), math.inf, device=scores.device).scatter_reduce(0, ids, scores, "amin")
    return ((hi - lo) > atol)[ids]


# ----------------------------------------------------------------------------------- loss aggregation

AGG_MODES: dict[str, Callable[..., torch.Tensor]] = {}
register_agg_mode = _registry(AGG_MODES)


@register_agg_mode("token-mean")
def _token_mean(loss_mat: torch.Tensor, mask: torch.Tensor, normalizer: float | None) -> torch.Tensor:
    """Mean over all valid tokens of the batch (DAPO, Yu et al. 2025): long responses weigh more."""
    denominator = mask.sum().clamp(min=1) if normalizer is None else normalizer
    return (loss_mat * mask).sum() / denominator


@register_agg_mode("seq-mean-token-sum")
def _seq_mean_token_sum(loss_mat: torch.Tensor, mask: torch.Tensor, normalizer: float | None) -> torch.Tensor:
    """Token sum per sequence, mean over sequences (Dr.GRPO, Liu et al. 2025: no length normalisation)."""
    valid = mask.sum(dim=-1) > 0
    denominator = valid.sum().clamp(min=1) if normalizer is None else normalizer
    return (loss_mat * mask).sum(dim=-1).sum() / denominator


@register_agg_mode("seq-mean-token-mean")
def _seq_mean_token_mean(loss_mat: torch.Tensor, mask: torch.Tensor, normalizer: float | None) -> torch.Tensor:
    """Token mean per sequence, mean over sequences (original GRPO objective, Shao et al. 2024)."""
    tokens = mask.sum(dim=-1)
    per_seq = (loss_mat * mask).sum(dim=-1) / tokens.clamp(min=1)
    denominator = (tokens > 0).sum().clamp(min=1) if normalizer is None else normalizer
    return per_seq.sum() / denominator


def loss_normalizer(mask: torch.Tensor, mode: str) -> torch.Tensor:
    """The denominator ``agg_loss`` uses for ``mode`` on ``mask`` (B, R): a 0-d float tensor.

    Valid tokens for token-mean, sequences with at least one valid token for the seq-* modes. Counts add up
    over micro-batches and ranks, so the sum over a whole mini-batch gives its exact mean.
    """
    _lookup(AGG_MODES, mode, "loss_agg_mode")
    if mode == "token-mean":
        return mask.sum().float()
    return (mask.sum(dim=-1) > 0).sum().float()


@register_agg_mode("seq-mean-token-sum-norm")
def _seq_mean_token_sum_norm(loss_mat: torch.Tensor, mask: torch.Tensor, normalizer: float | None) -> torch.Tensor:
    """Token sum per sequence divided by the max response length R (the mask width, a constant), mean over
    sequences (Dr.GRPO, Liu et al. 2025: a constant instead of each response's length; verl's mode name)."""
    valid = mask.sum(dim=-1) > 0
    denominator = valid.sum().clamp(min=1) if normalizer is None else normalizer
    return (loss_mat * mask).sum() / mask.shape[-1] / denominator


def agg_loss(loss_mat: torch.Tensor, mask: torch.Tensor, mode: str, normalizer: float | None = None) -> torch.Tensor:
    """Reduce a (B, R) per-token loss to a scalar with ``mode`` (a key of ``AGG_MODES``).

    Rows whose mask is all zero (e.g. padding rows) count in no denominator. ``normalizer`` replaces the
    local denominator (``loss_normalizer``): pass the count over the whole mini-batch (all micro-batches,
    all ranks) to get an exact mini-batch mean when summing micro-batch losses.
    """
    return _lookup(AGG_MODES, mode, "loss_agg_mode")(loss_mat, mask.to(loss_mat.dtype), normalizer)


# -------------------------------------------------------------------------------------------- policy loss


def compute_policy_loss(
    old_log_probs: torch.Tensor,
    log_probs: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    clip_ratio_low: float,
    clip_ratio_high: float,
    clip_ratio_dual: float | None = None,
    loss_agg_mode: str = "token-mean",
    normalizer: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO clipped surrogate with asymmetric clipping and optional dual clip; all inputs (B, R).

    ratio ``r = exp(log_probs - old_log_probs)``; per token ``L = max(-A r, -A clip(r, 1-low, 1+high))``
    (clip-higher: DAPO, Yu et al. 2025); for ``A < 0`` dual-clip (Ye et al. 2020) caps it at
    ``-A * clip_ratio_dual``. Returns ``(loss, metrics)``; metrics are detached scalars, token means:
    ``pg_clipfrac_high`` (A>0 clipped at 1+high), ``pg_clipfrac_low`` (A<0 clipped at 1-low),
    ``pg_clipfrac_dual`` (dual clip active), ``ppo_kl`` (k1 estimate of KL(old || new)).
    """
    log_ratio = (log_probs - old_log_probs).clamp(-20.0, 20.0)  # keep exp finite
    ratio = torch.exp(log_ratio)
    clipped_ratio = ratio.clamp(1.0 - clip_ratio_low, 1.0 + clip_ratio_high)
    unclipped_loss, clipped_loss = -advantages * ratio, -advantages * clipped_ratio
    loss_mat = torch.maximum(unclipped_loss, clipped_loss)
    clip_active = clipped_loss > unclipped_loss
    dual_active = torch.zeros_like(clip_active)
    if clip_ratio_dual is not None:
        dual_bound = -advantages * clip_ratio_dual
        dual_active = (advantages < 0) & (loss_mat > dual_bound)
        loss_mat = torch.where(dual_active, dual_bound, loss_mat)
    loss = agg_loss(loss_mat, response_mask, loss_agg_mode, normalizer)
    with torch.no_grad():
        metrics = {
            "pg_loss": loss.detach(),
            "pg_clipfrac_high": masked_mean((clip_active & (advantages > 0)).float(), response_mask),
            "pg_clipfrac_low": masked_mean((clip_active & (advantages < 0)).float(), response_mask),
            "pg_clipfrac_dual": masked_mean(dual_active.float(), response_mask),
            "ppo_kl": masked_mean(-log_ratio, response_mask),
        }
    return loss, metrics


# ------------------------------------------------------------------------------------------------- KL

KL_PENALTIES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
register_kl_penalty = _registry(KL_PENALTIES)


@register_kl_penalty("kl")
def _kl_k1(log_ratio: torch.Tensor) -> torch.Tensor:
    """k1 = log p - log p_ref (unbiased, high variance, can be negative)."""
    return log_ratio


@register_kl_penalty("abs")
def _kl_abs(log_ratio: torch.Tensor) -> torch.Tensor:
    """|log p - log p_ref|."""
    return log_ratio.abs()


@register_kl_penalty("mse")
def _kl_k2(log_ratio: torch.Tensor) -> torch.Tensor:
    """k2 = 0.5 (log p - log p_ref)^2 (Schulman 2020, 'Approximating KL divergence')."""
    return 0.5 * log_ratio.square()


@register_kl_penalty("low_var_kl")
def _kl_k3(log_ratio: torch.Tensor) -> torch.Tensor:
    """k3 = exp(d) - d - 1 with d = log p_ref - log p (non-negative, low variance; used by GRPO).

    ``d`` is clamped to [-20, 20] so exp stays finite, and the result to [-10, 10] (as the original).
    """
    d = (-log_ratio).clamp(-20.0, 20.0)
    return (torch.exp(d) - d - 1.0).clamp(-10.0, 10.0)


def compute_kl(log_probs: torch.Tensor, ref_log_probs: torch.Tensor, kl_penalty: str) -> torch.Tensor:
    """Per-token KL estimate between the policy and the reference, computed in fp32 (same shape)."""
    estimator = _lookup(KL_PENALTIES, kl_penalty, "kl_penalty")
    return estimator(log_probs.float() - ref_log_probs.float())


def apply_kl_penalty(
    token_level_scores: torch.Tensor,
    log_probs: torch.Tensor,
    ref_log_probs: torch.Tensor,
    response_mask: torch.Tensor,
    kl_coef: float,
    kl_penalty: str,
) -> tuple[torch.Tensor, dict[str, float]]:
    """KL-in-reward (``algorithm.use_kl_loss=false``): ``scores - kl_coef * KL * mask`` per token.

    Returns ``(token_level_rewards, {"critic/kl": mean per-sequence token-mean KL, "critic/kl_coef"})``.
    """
    mask = response_mask.float()
    kl = compute_kl(log_probs, ref_log_probs, kl_penalty) * mask
    rewards = token_level_scores.float() - kl_coef * kl
    per_seq = kl.sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)
    return rewards, {"critic/kl": per_seq.mean().item(), "critic/kl_coef": kl_coef}


# ------------------------------------------------------------------------------------- logits helpers


def log_probs_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Log-probability of ``labels`` (..., ) under ``logits`` (..., V), computed in fp32."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy ``H = logsumexp(z) - sum softmax(z) z`` over the last dim, in fp32.

    Logits are shifted by their max first (H is shift-invariant) so large logits do not cancel.
    """
    logits = logits.float()
    logits = logits - logits.max(dim=-1, keepdim=True).values
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(dim=-1)


# ------------------------------------------------------------------------------------------ LR schedule


def resolve_warmup_steps(lr_warmup_steps: int | None, lr_warmup_ratio: float, training_steps: int) -> int:
    """Explicit ``lr_warmup_steps`` wins; otherwise ``int(lr_warmup_ratio * training_steps)``."""
    return lr_warmup_steps if lr_warmup_steps is not None else int(lr_warmup_ratio * training_steps)


def lr_lambda(step: int, warmup_steps: int, training_steps: int, scheduler_type: str = "constant",
              min_lr_ratio: float = 0.0) -> float:
    """LR multiplier for the optimizer update with 0-based index ``step``.

    Warmup: ``(step + 1) / warmup_steps`` for ``step < warmup_steps``, so the first update already uses
    ``lr / warmup_steps`` (never 0; the original first step had LR 0). Afterwards ``constant``
    stays at 1; ``cosine`` goes from 1 at the first post-warmup update to ``min_lr_ratio`` at the last
    update (``step = training_steps - 1``) and stays there.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if scheduler_type == "constant":
        return 1.0
    if scheduler_type == "cosine":
        progress = min(1.0, (step - warmup_steps) / max(1, training_steps - warmup_steps - 1))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr_scheduler_type '{scheduler_type}'; allowed: ['constant', 'cosine']")


def build_lr_scheduler(optimizer: torch.optim.Optimizer, training_steps: int, warmup_steps: int = 0,
                       scheduler_type: str = "constant", min_lr_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` over ``lr_lambda``; call ``scheduler.step()`` once after each ``optimizer.step()``."""
    if scheduler_type not in ("constant", "cosine"):
        raise ValueError(f"unknown lr_scheduler_type '{scheduler_type}'; allowed: ['constant', 'cosine']")
    fn = partial(lr_lambda, warmup_steps=warmup_steps, training_steps=training_steps,
                 scheduler_type=scheduler_type, min_lr_ratio=min_lr_ratio)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
