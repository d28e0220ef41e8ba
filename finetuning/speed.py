"""Switch on the SFT speed options chosen in ``ModelArguments`` (all off by default; docs/sft-speed.md).

Each option leaves the loss and gradients equal to the stock path's (tests/finetuning/test_speed.py
and the tests of each module); only kernels, the number of calls and what is kept for backward change.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import torch
from transformers import TrainerCallback

from finetuning.model_loading import resolve_attn_implementation
from finetuning.packed_attention import check_kernel_available, enable_packed_attention
from finetuning.vision_attention import enable_batched_window_attention

logger = logging.getLogger(__name__)


def check_speed_options(model_args: Any, data_flatten: bool, on_cuda: bool) -> None:
    """Before loading anything: raise ``ValueError`` naming the flag when a chosen option cannot run here.

    Call after ``TrainingArguments`` exist: they register a DeepSpeed config, which ZeRO-3 rules out.
    """
    from transformers.integrations import is_deepspeed_zero3_enabled

    zero3 = is_deepspeed_zero3_enabled()
    if model_args.linear_ce != "off":
        if zero3:  # the LM head weight is partitioned outside the model's forward
            raise ValueError(f"linear_ce={model_args.linear_ce} does not work with DeepSpeed ZeRO-3; use ZeRO-2 or "
                             "linear_ce off")
    if model_args.packed_attention != "off":
        if not data_flatten:
            raise ValueError(f"packed_attention={model_args.packed_attention} needs data_flatten True (packed rows)")
        check_kernel_available(model_args.packed_attention, on_cuda)
        attn = resolve_attn_implementation(model_args.attn_implementation)
        if attn != "sdpa":
            raise ValueError(f"packed_attention={model_args.packed_attention} needs attn_implementation sdpa, got "
                             f"{attn!r} (flash_attention_2 already attends packed rows per sample)")
    lora_coord_rows = getattr(model_args, "lora_enable", False) and getattr(model_args, "lora_coord_tokens", False)
    if lora_coord_rows and zero3 and not on_cuda:  # peft gathers the partitioned embedding rows on a CUDA device
        raise ValueError("lora_coord_tokens with DeepSpeed ZeRO-3 needs CUDA; on the CPU use ZeRO-2 or "
                         "lora_coord_tokens False")
    if model_args.memory_plan == "auto":
        if not on_cuda:
            raise ValueError("memory_plan auto needs CUDA (it sizes the plan to the card's memory)")
        if zero3:
            raise ValueError("memory_plan auto does not work with DeepSpeed ZeRO-3; use ZeRO-2 or memory_plan off")
    liger_installed = importlib.util.find_spec("liger_kernel") is not None
    for flag, value in (("linear_ce", model_args.linear_ce), ("liger", model_args.liger)):
        if value in ("liger", "on") and not (on_cuda and liger_installed):
            raise ValueError(f"{flag}={value} needs CUDA and liger-kernel (pip install liger-kernel); "
                             f"CUDA {'available' if on_cuda else 'missing'}, liger-kernel "
                             f"{'installed' if liger_installed else 'missing'}")


def checkpointed_blocks(model: Any) -> list[torch.nn.Module]:
    """The decoder layers and vision blocks, the modules gradient checkpointing wraps, in model order."""
    inner = model.model
    return [*inner.visual.blocks, *inner.language_model.layers]


def apply_speed_options(model: Any, model_args: Any, data_flatten: bool) -> None:
    """Packed attention, batched vision windows and block compilation, as ``model_args`` asks.

    Raises ``ValueError`` naming the flag when an option cannot apply to this model or machine.
    """
    if model_args.packed_attention != "off":
        if not data_flatten:
            raise ValueError(f"packed_attention={model_args.packed_attention} needs data_flatten True (packed rows)")
        enable_packed_attention(model, model_args.packed_attention)
    if model_args.batched_vision_windows and not enable_batched_window_attention(model):
        raise ValueError("batched_vision_windows needs a vision tower on sdpa; this model uses "
                         f"{model.config.vision_config._attn_implementation!r}")
    if model_args.compile_blocks:
        compile_blocks(model)


def compile_blocks(model: Any, backend: str = "inductor") -> int:
    """``torch.compile`` every decoder layer and vision block in place; returns how many.

    All blocks of one type share code, so dynamo compiles one graph per type (recompiling once when
    sequence lengths first vary, then marking them dynamic).
    """
    blocks = checkpointed_blocks(model)
    for block in blocks:
        block.compile(backend=backend)
    logger.info("compiled %d blocks (%s)", len(blocks), backend)
    return len(blocks)


def thin_gradient_checkpointing(model: Any, stride: int) -> int:
    """Keep gradient checkpointing on only every ``stride``-th block (per tower); returns how many are on."""
    inner = model.model
    on = 0
    for blocks in (inner.visual.blocks, inner.language_model.layers):
        for index, block in enumerate(blocks):
            if getattr(block, "gradient_checkpointing", False):
                block.gradient_checkpointing = index % stride == 0
                on += int(block.gradient_checkpointing)
    return on


class ThinCheckpointingCallback(TrainerCallback):
    """Applies :func:`thin_gradient_checkpointing` once Trainer has switched checkpointing on."""

    def __init__(self, stride: int) -> None:
        self.stride = stride

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if model is not None and args.gradient_checkpointing and self.stride > 1:
            on = thin_gradient_checkpointing(getattr(model, "module", model), self.stride)
            logger.info("gradient checkpointing kept on %d blocks (every %d-th)", on, self.stride)
