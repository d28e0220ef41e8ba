"""RexOmniTrainer: HF Trainer with per-part optimizer groups, the optional soft-CE coordinate loss and
the optional linear CE that never builds the full logits."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from transformers import Trainer

from dataset.fault_injection import fault_point
from finetuning.linear_ce import forward_hidden_states, liger_ce_sum, linear_coordinate_ce
from finetuning.param_groups import build_param_groups
from finetuning.soft_ce import soft_coordinate_ce

logger = logging.getLogger(__name__)


def is_peft(model: nn.Module) -> bool:
    """True for a peft-wrapped model (checked by attribute, so peft need not be installed)."""
    return hasattr(model, "peft_config") and hasattr(model, "base_model")


class RexOmniTrainer(Trainer):
    """``transformers.Trainer`` with two changes, both opt-in through arguments.

    * ``create_optimizer`` builds the groups of ``finetuning.param_groups`` (decay / no-decay x
      vision / merger / llm learning rates). A DeepSpeed config with its own ``optimizer`` block
      (``scripts/zero3_offload.json``) makes DeepSpeed build the optimizer from all trainable
      parameters instead, so there the per-part learning rates do not apply.
    * With ``coord_token_ids`` given, ``compute_loss`` uses ``soft_coordinate_ce`` (sigma
      ``coord_sigma`` bins) on the logits instead of the model's own CE.
    * With ``linear_ce`` ``chunked`` or ``liger``, the same loss comes from the final hidden states
      (``finetuning.linear_ce``) and the model returns no logits.
    * With a ``protocol_evaluator`` (``finetuning.protocol_eval``), each evaluation also generates on
      the validation split and adds its detection metrics to the eval metrics.
    """

    def __init__(
        self, *args: Any, coord_token_ids: list[int] | None = None, coord_sigma: float = 2.0,
        linear_ce: str = "off", ce_chunk_size: int = 1024, protocol_evaluator: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.protocol_evaluator = protocol_evaluator
        # compute_loss normalises by the supervised tokens of the whole optimizer step (num_items_in_batch),
        # which Trainer passes only to a model that "accepts loss kwargs" (Qwen2.5-VL declares it does not).
        self.model_accepts_loss_kwargs = True
        self.coord_token_ids = torch.tensor(coord_token_ids, dtype=torch.long) if coord_token_ids else None
        self.coord_sigma = coord_sigma
        self.linear_ce = linear_ce
        self.ce_chunk_size = ce_chunk_size
        self.hard_ce = liger_ce_sum() if linear_ce == "liger" else None

    def evaluation_loop(self, dataloader: Any, description: str, prediction_loss_only: bool | None = None,
                        ignore_keys: list[str] | None = None, metric_key_prefix: str = "eval") -> Any:
        """HF's loop (the eval loss), plus, with a ``protocol_evaluator``, the detection metrics of
        generated answers (``finetuning.protocol_eval``) as ``<prefix>_<name>``; ``evaluate`` then logs
        them with the loss and the best-checkpoint choice sees them."""
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        if self.protocol_evaluator is not None:
            metrics = self.protocol_evaluator.evaluate(self)
            output.metrics.update({f"{metric_key_prefix}_{k}": v for k, v in metrics.items()})
        return output

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """Next to HF's ``learning_rate`` (the first group's: the language model's), each named group's
        current rate as ``learning_rate/<group name>``."""
        if "learning_rate" in logs:
            for group in getattr(self.optimizer, "param_groups", None) or []:
                if "name" in group:
                    logs[f"learning_rate/{group['name']}"] = float(group["lr"])
        super().log(logs, *args, **kwargs)

    def _save_rng_state(self, output_dir: str) -> None:
        """HF's last step before ``trainer_state.json``; the crash tests pause here to kill a save midway."""
        super()._save_rng_state(output_dir)
        fault_point("sft_checkpoint_save", rank=self.args.process_index)

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """Build the optimizer once, with ``build_param_groups``; the class and kwargs come from ``args.optim``."""
        if self.optimizer is None:
            opt_model = self.model if model is None else model
            groups = build_param_groups(
                opt_model,
                learning_rate=self.args.learning_rate,
                weight_decay=self.args.weight_decay,
                vision_tower_lr=getattr(self.args, "vision_tower_lr", None),
                mm_projector_lr=getattr(self.args, "mm_projector_lr", None),
            )
            for group in groups:
                logger.info(
                    "optimizer group %-16s lr %.3g  weight_decay %.3g  tensors %d",
                    group["name"], group["lr"], group["weight_decay"], len(group["params"]),
                )
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        """Load checkpoint weights through ``from_pretrained``.

        transformers 5 saves Qwen2.5-VL in the hub key layout (``model.layers.*``, ``visual.*``) but
        Trainer's plain resume calls ``load_state_dict(strict=False)`` with those keys, which loads
        nothing for this model. ``from_pretrained`` applies the key conversion; we copy its weights
        in strictly. (DeepSpeed and FSDP resume through their own checkpoint files.)
        """
        model = self.model if model is None else model
        # A PeftModel resumes from its adapter files (Trainer's own path loads them with load_adapter).
        if self.is_deepspeed_enabled or self.is_fsdp_enabled or not hasattr(model, "config") or is_peft(model):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        logger.info("loading model weights from %s", resume_from_checkpoint)
        loaded = type(model).from_pretrained(resume_from_checkpoint, dtype=model.dtype)
        model.load_state_dict(loaded.state_dict(), strict=True)
        del loaded

    def _load_best_model(self) -> None:
        """``load_best_model_at_end``: HF's plain path has the key-layout problem of ``_load_from_checkpoint``
        (it would load nothing), so full models load through ours; DeepSpeed, FSDP and peft keep HF's."""
        model = self.model
        if self.is_deepspeed_enabled or self.is_fsdp_enabled or not hasattr(model, "config") or is_peft(model):
            return super()._load_best_model()
        logger.info("loading the best model from %s (score %s)", self.state.best_model_checkpoint,
                    self.state.best_metric)
        self._load_from_checkpoint(self.state.best_model_checkpoint, model)

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """CE, soft-CE on coordinate tokens when ``coord_token_ids`` is set, from the logits or (``linear_ce``)
        from the hidden states; summed over supervised tokens and divided by those of the whole optimizer step
        (all accumulated micro-batches; all ranks with ``average_tokens_across_devices``), so every token
        weighs the same however the step is split into micro-batches."""
        if "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        linear = self.linear_ce != "off" and model.training  # evaluation keeps the logits for its callers
        inner = self.accelerator.unwrap_model(model) if linear else model
        loss, outputs = sft_loss(model, inputs, self.coord_token_ids, self.coord_sigma, self.linear_ce if linear else "off",
                                 self.hard_ce, self.ce_chunk_size, num_items_in_batch, inner)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss


def sft_loss(
    model: nn.Module, inputs: dict[str, Any], coord_token_ids: torch.Tensor | None, coord_sigma: float,
    linear_ce: str = "off", hard_ce: Any = None, ce_chunk_size: int = 1024,
    normaliser: torch.Tensor | int | None = None, inner: nn.Module | None = None,
) -> tuple[torch.Tensor, Any]:
    """The SFT loss of one micro-batch with ``labels``: soft-CE (plain CE without ``coord_token_ids``)
    from the logits, or from the final hidden states when ``linear_ce`` is on; returns (loss, outputs).
    Summed over supervised tokens and divided by ``normaliser`` (default: this micro-batch's count).

    ``inner`` is the unwrapped model whose LM head ``linear_ce`` reads (default ``model``).
    """
    labels = inputs["labels"]
    model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
    if linear_ce == "off":
        outputs = model(**model_inputs)
        return soft_coordinate_ce(outputs.logits, labels, coord_token_ids, coord_sigma, normaliser), outputs
    inner = model if inner is None else inner
    hidden, outputs = forward_hidden_states(model, inner, model_inputs)
    loss = linear_coordinate_ce(hidden, inner.get_output_embeddings().weight, labels, coord_token_ids,
                                coord_sigma, normaliser, hard_ce, ce_chunk_size)
    return loss, outputs
