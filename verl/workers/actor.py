"""Log-probs of response tokens and the PPO/GRPO update, for one (FSDP-sharded) model on one rank.

Batch columns (B sequences, P prompt tokens, R response tokens, L = P + R), all left-aligned prompts:
``input_ids`` (B, L), ``attention_mask`` (B, L), ``position_ids`` (B, 3, L) M-RoPE, ``responses`` (B, R),
``response_mask`` (B, R), non-tensor ``multi_modal_inputs`` (per row ``{"pixel_values", "image_grid_thw"}``).
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor

from verl import core_algos
from verl.protocol import Batch
from verl.workers.actor_config import ActorConfig
from verl.workers.shared_prompt import prompt_groups, shared_prompt_logits
from verl.workers.vision_inputs import vision_inputs

__all__ = ["Actor", "forward_log_probs"]


def forward_log_probs(model: torch.nn.Module, micro: Batch, temperature: float, device: str,
                      with_entropy: bool = False, shared_prompt: bool = False,
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(log_probs, entropy or None)`` of the response tokens, each (b, R) fp32.

    Logits are divided by ``temperature`` so the log-probs match the sampling distribution. The LM head
    projects only the positions that predict response tokens (``logits_to_keep``): the prompt's logits,
    image tokens included, are never used, and with a 151,936-token vocabulary they would dominate time and
    memory. ``shared_prompt``: rows that repeat one prompt go through one packed forward
    (``verl.workers.shared_prompt``) instead of one each.
    """
    responses = micro["responses"].to(device)
    response_length = responses.shape[1]
    mm = micro.non_tensors.get("multi_modal_inputs")
    groups = prompt_groups(micro, micro["input_ids"].shape[1] - response_length) if shared_prompt else []
    if 0 < len(groups) < len(micro):
        firsts = [mm[start] for start, _ in groups] if mm is not None else None
        logits = shared_prompt_logits(model, micro, groups, vision_inputs(firsts, device), device)
    else:
        output = model(
            input_ids=micro["input_ids"].to(device),
            attention_mask=micro["attention_mask"].to(device),
            position_ids=micro["position_ids"].to(device).transpose(0, 1),  # (3, b, L)
            use_cache=False,
            logits_to_keep=response_length + 1,
            **vision_inputs(mm, device),
        )
        logits = output.logits[:, :-1]
    if logits.shape[1] != response_length:
        raise RuntimeError(f"{type(model).__name__} ignored logits_to_keep: {logits.shape[1]} positions returned "
                           f"for {response_length} response tokens")
    logits = logits.float() / temperature
    log_probs = core_algos.log_probs_from_logits(logits, responses)
    entropy = core_algos.entropy_from_logits(logits) if with_entropy else None
    return log_probs, entropy


def _experience_metrics(micro: Batch, log_probs: torch.Tensor, entropy: torch.Tensor | None,
                        mask: torch.Tensor) -> dict[str, float]:
    """What the skipped old-log-prob pass would have reported, for this micro-batch: entropy and, when the
    engine reported log-probs, ``|p_rollout - p_actor|`` (max, mean over response tokens)."""
    metrics: dict[str, float] = {}
    if entropy is not None:
        metrics["actor/entropy"] = float(core_algos.masked_mean(entropy.detach(), mask))
    if "rollout_log_probs" in micro and mask.sum() > 0:
        rollout = micro["rollout_log_probs"].to(log_probs.device)
        diff = (rollout.exp() - log_probs.exp()).abs()[mask.bool()].double()
        metrics["training/rollout_probs_diff_max"] = float(diff.max())
        metrics["training/rollout_probs_diff_mean"] = float(diff.mean())
    return metrics


class Actor:
    """Experience (no-grad log-probs) and policy update over micro-batches on this rank.

    Args:
        model: the (sharded) policy or reference model.
        cfg: the actor config (batch sizes, clipping, KL loss, loss aggregation).
        device: "cuda" or "cpu".
        optimizer, scheduler: only for the trainable actor.
        dp_group: the data-parallel group whose gradients FSDP averages (None = the default group when
            torch.distributed is initialised, else this process alone).
    """

    def __init__(self, model: torch.nn.Module, cfg: ActorConfig, device: str,
                 optimizer: torch.optim.Optimizer | None = None,
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                 dp_group: dist.ProcessGroup | None = None) -> None:
        self.model, self.cfg, self.device = model, cfg, device
        self.optimizer, self.scheduler = optimizer, scheduler
        self.dp_group = dp_group

    @torch.no_grad()
    def compute_log_probs(self, batch: Batch, temperature: float, micro_batch_size: int,
                          with_entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Log-probs (and entropies) of ``batch``'s responses, computed ``micro_batch_size`` rows at a time."""
        self.model.eval()
        log_probs, entropies = [], []
        for micro in batch.split(micro_batch_size):
            lp, ent = forward_log_probs(self.model, micro, temperature, self.device, with_entropy,
                                        self.cfg.shared_prompt)
            log_probs.append(lp.cpu())
            if ent is not None:
                entropies.append(ent.cpu())
        return torch.cat(log_probs), (torch.cat(entropies) if with_entropy else None)

    def _dp_size(self) -> int:
        return dist.get_world_size(self.dp_group) if dist.is_initialized() else 1

    def _normalizer(self, mini: Batch) -> float:
        """The loss denominator of the whole mini-batch: this rank's count summed over the dp group.

        Each rank holds only its share of the mini-batch; dividing by the local count would weigh a rank's
        tokens (or sequences) by how many it happens to have.
        """
        count = core_algos.loss_normalizer(mini["response_mask"], self.cfg.loss_agg_mode).to(self.device)
        if self._dp_size() > 1:
            dist.all_reduce(count, op=dist.ReduceOp.SUM, group=self.dp_group)
        return float(count.clamp(min=1))

    def _micro_loss(self, micro: Batch, temperature: float, normalizer: float) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        on_policy = "old_log_probs" not in micro  # the trainer skipped the old pass (ActorConfig.old_log_probs)
        log_probs, entropy = forward_log_probs(self.model, micro, temperature, self.device, with_entropy=on_policy,
                                               shared_prompt=cfg.shared_prompt)
        mask = micro["response_mask"].to(self.device).float()
        old_log_probs = log_probs.detach() if on_policy else micro["old_log_probs"].to(self.device)
        loss, stats = core_algos.compute_policy_loss(
            old_log_probs, log_probs, micro["advantages"].to(self.device), mask,
            cfg.clip_ratio_low, cfg.clip_ratio_high, cfg.clip_ratio_dual, cfg.loss_agg_mode, normalizer)
        metrics = {f"actor/{k}": float(v) for k, v in stats.items() if k != "pg_loss"}
        if on_policy:
            metrics.update(_experience_metrics(micro, log_probs.detach(), entropy, mask))
        metrics["actor/pg_loss"] = float(stats["pg_loss"])
        if cfg.use_kl_loss and not cfg.disable_kl and "ref_log_probs" in micro:
            kl = core_algos.compute_kl(log_probs, micro["ref_log_probs"].to(self.device), cfg.kl_penalty)
            loss = loss + cfg.kl_coef * core_algos.agg_loss(kl, mask, cfg.loss_agg_mode, normalizer)
            metrics["actor/kl_loss"] = float(core_algos.masked_mean(kl.detach(), mask))
        return loss, metrics

    def _optimizer_step(self) -> dict[str, float]:
        assert self.optimizer is not None
        params = [p for p in self.model.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
        if isinstance(grad_norm, DTensor):
            grad_norm = grad_norm.full_tensor()
        norm = float(grad_norm)
        if math.isfinite(norm):
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scheduler is not None:
            self.scheduler.step()
        return {"actor/grad_norm": norm, "actor/lr": lr, "actor/skipped_steps": float(not math.isfinite(norm))}

    def backward_mini_batch(self, mini: Batch, temperature: float) -> dict[str, list[float]]:
        """Accumulate the gradient of ``mini`` (this rank's share of one mini-batch), micro-batch by micro-batch.

        Each rank's loss is ``sum of its terms / mini-batch normaliser * dp size``: FSDP averages gradients over
        the dp group, so the averaged gradient is that of the whole mini-batch's loss, whatever the split.
        Returns per-micro-batch metrics; ``actor/pg_loss`` is this rank's share times the dp size, so its mean
        over ranks is the mini-batch loss.
        """
        normalizer = self._normalizer(mini) / self._dp_size()
        metrics: dict[str, list[float]] = defaultdict(list)
        pg_loss = 0.0
        for micro in mini.split(self.cfg.micro_batch_size_per_device_for_update):
            loss, micro_metrics = self._micro_loss(micro, temperature, normalizer)
            loss.backward()
            pg_loss += micro_metrics.pop("actor/pg_loss")
            for key, value in micro_metrics.items():
                metrics[key].append(value)
        metrics["actor/pg_loss"].append(pg_loss)
        return metrics

    def update(self, batch: Batch, temperature: float, mini_batch_size: int) -> dict[str, float]:
        """PPO epochs over mini-batches of ``mini_batch_size`` rows (one optimizer step each).

        Needs ``old_log_probs`` and ``advantages`` (and ``ref_log_probs`` for the KL loss). Returns metrics
        averaged over micro-batches (losses summed per mini-batch, then averaged over mini-batches; ``*_max``
        keys take the maximum).
        """
        self.model.train()
        sums: dict[str, list[float]] = defaultdict(list)
        for _ in range(self.cfg.ppo_epochs):
            for mini in batch.split(mini_batch_size):
                for key, values in self.backward_mini_batch(mini, temperature).items():
                    sums[key].extend(values)
                for key, value in self._optimizer_step().items():
                    sums[key].append(value)
        return {key: max(values) if key.endswith("_max") else sum(values) / len(values) for key, values in sums.items()}
