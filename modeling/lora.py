"""LoRA / QLoRA for SFT through peft: which linear layers get adapters, and what else trains.

Adapters go on the linear layers of the parts that ask for them:

* ``llm``     always (the language model's attention and MLP projections; never ``lm_head``);
* ``vision``  with ``lora_vision`` (the vision blocks' ``qkv``, ``proj`` and MLP);
* ``merger``  with ``lora_merger`` (the two projector linears).

A part with adapters keeps its base weights frozen; a part without adapters follows its
``tune_mm_*`` flag as in full finetuning (e.g. ``lora_merger False --tune_mm_mlp True`` trains the
merger fully next to LLM adapters). Such fully trained modules go into peft's ``modules_to_save``, so
adapter checkpoints hold them and resume and merge restore them. ``lora_coord_tokens`` additionally trains the rows of the
coordinate tokens ``<0>``..``<999>`` (and of the box/ref markers) in the tied embedding / lm_head
through peft's ``trainable_token_indices``: a few hundred thousand values instead of the whole
embedding. Off by default, because Rex-Omni's coordinate rows are already trained; a randomly
initialised model (the CPU demo) needs them.

peft is imported here only; bitsandbytes (``bits`` 4 or 8) only when QLoRA is asked for, on CUDA.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from modeling.parts import part_of

logger = logging.getLogger(__name__)

ALL_LINEAR = "all-linear"
BITS_CHOICES = (4, 8, 16)
# The grammar's marker tokens train with the coordinate rows: they open and close every answer.
MARKER_TOKENS = ("<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>")


@dataclass(frozen=True)
class LoraSettings:
    """The LoRA knobs of one run (the ``--lora_*`` flags, or ``worker.actor.lora`` in GRPO)."""

    r: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_modules: str = ALL_LINEAR  # "all-linear" or comma-separated leaf names (q_proj,v_proj,qkv)
    vision: bool = False
    merger: bool = False
    coord_tokens: bool = False

    def validate(self, prefix: str = "lora_") -> None:
        """Raise ``ValueError`` naming the key on values that cannot work."""
        if self.r < 1:
            raise ValueError(f"{prefix}r must be >= 1, got {self.r}")
        if self.alpha <= 0:
            raise ValueError(f"{prefix}alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"{prefix}dropout must be in [0, 1), got {self.dropout}")
        if not target_names(self.target_modules) and self.target_modules != ALL_LINEAR:
            raise ValueError(f"{prefix}target_modules must be '{ALL_LINEAR}' or comma-separated module names")


def target_names(target_modules: str) -> set[str]:
    """Leaf module names from ``q_proj,v_proj``; empty for ``all-linear``."""
    if target_modules.strip() == ALL_LINEAR:
        return set()
    return {name.strip() for name in target_modules.split(",") if name.strip()}


def lora_parts(settings: LoraSettings) -> set[str]:
    """The parts (``llm``, ``vision``, ``merger``) whose linear layers get adapters."""
    return {"llm"} | ({"vision"} if settings.vision else set()) | ({"merger"} if settings.merger else set())


def select_target_modules(model: nn.Module, settings: LoraSettings) -> list[str]:
    """Full names of the linear layers that get adapters (``lm_head`` never: it is the tied embedding).

    Raises ``ValueError`` when a named target matches nothing in the selected parts.
    """
    wanted, parts = target_names(settings.target_modules), lora_parts(settings)
    chosen, seen = [], set()
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear) or name.endswith("lm_head") or part_of(name) not in parts:
            continue
        leaf = name.rsplit(".", 1)[-1]
        if wanted and leaf not in wanted:
            continue
        chosen.append(name)
        seen.add(leaf)
    if missing := wanted - seen:
        raise ValueError(f"lora_target_modules {sorted(missing)} match no linear layer in parts {sorted(parts)}")
    if not chosen:
        raise ValueError(f"no linear layer to adapt in parts {sorted(parts)}")
    return chosen


def coordinate_and_marker_ids(tokenizer: Any) -> list[int]:
    """Token ids of ``<0>``..``<999>`` and of the answer markers (the rows ``lora_coord_tokens`` trains)."""
    from dataset.vocab_layout import coordinate_token_ids

    ids = list(coordinate_token_ids(tokenizer)) + [tokenizer.convert_tokens_to_ids(t) for t in MARKER_TOKENS]
    return sorted(set(ids))


def full_train_modules(model: nn.Module, parts: set[str]) -> list[str]:
    """Names of the modules that train fully (peft ``modules_to_save``: saved and resumed with the adapter).

    ``merger``: the merger module; ``vision``: the patch embedding and each block (the block list itself
    cannot be wrapped, it is iterated, not called). The LLM always carries adapters, so never here.
    """
    names = []
    for name, _ in model.named_modules():
        if "merger" in parts and name.endswith("visual.merger"):
            names.append(name)
        elif "vision" in parts and (name.endswith("visual.patch_embed") or re.search(r"visual\.blocks\.\d+$", name)):
            names.append(name)
    return names


def build_lora_config(
    model: nn.Module, settings: LoraSettings, token_ids: list[int] | None = None, full_parts: set[str] | None = None
) -> Any:
    """A ``peft.LoraConfig`` for ``model``; ``token_ids`` are embedding rows to train as well, ``full_parts``
    the parts (``vision``, ``merger``) without adapters that train fully."""
    from peft import LoraConfig

    trainable_tokens = {"embed_tokens": token_ids} if token_ids else None
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=select_target_modules(model, settings),
        trainable_token_indices=trainable_tokens,
        modules_to_save=full_train_modules(model, full_parts or set()) or None,
        bias="none",
    )


def apply_lora(
    model: nn.Module, settings: LoraSettings, tune_flags: dict[str, bool], token_ids: list[int] | None = None
) -> nn.Module:
    """Wrap ``model`` in a ``PeftModel`` and set ``requires_grad`` (see the module docstring).

    ``tune_flags`` maps part -> its ``tune_mm_*`` flag; they decide the parts without adapters.
    """
    from peft import get_peft_model

    adapted = lora_parts(settings)
    full_parts = {part for part, tune in tune_flags.items() if tune and part not in adapted}
    peft_model = get_peft_model(model, build_lora_config(model, settings, token_ids, full_parts))
    set_lora_trainable(peft_model, adapted, tune_flags)
    return peft_model


def is_adapter_param(name: str) -> bool:
    """True for parameters peft added and trains: LoRA factors, trainable token rows, full-train copies."""
    return ".lora_" in name or ".trainable_tokens_delta." in name or ".modules_to_save." in name


def set_lora_trainable(model: nn.Module, adapted_parts: set[str], tune_flags: dict[str, bool]) -> None:
    """Adapter parameters train; base weights of adapted parts freeze; other parts follow ``tune_flags``."""
    for name, param in model.named_parameters(remove_duplicate=False):
        if is_adapter_param(name):
            param.requires_grad_(True)
        elif ".original_module." in name or ".base_layer." in name:
            param.requires_grad_(False)
        else:
            part = part_of(name)
            param.requires_grad_(part not in adapted_parts and tune_flags[part])


def check_bits(bits: int) -> None:
    """``bits`` must be 4, 8 or 16; 4 and 8 (QLoRA, bitsandbytes) need CUDA. Raises ``ValueError``."""
    if bits not in BITS_CHOICES:
        raise ValueError(f"bits must be one of {BITS_CHOICES}, got {bits}")
    if bits < 16 and not torch.cuda.is_available():
        raise ValueError(f"bits={bits} (QLoRA) needs a CUDA GPU and bitsandbytes; use bits=16 on CPU")


def quantization_config(bits: int, compute_dtype: torch.dtype) -> Any:
    """A bitsandbytes ``BitsAndBytesConfig`` for 4-bit NF4 (double quant) or 8-bit loading; None at 16.

    The vision tower and merger stay unquantised: they are small and quantising them costs accuracy.
    """
    if bits == 16:
        return None
    from transformers import BitsAndBytesConfig

    skip = ["visual", "lm_head"]
    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype, llm_int8_skip_modules=skip)


def prepare_quantized(model: nn.Module, gradient_checkpointing: bool) -> nn.Module:
    """peft's k-bit preparation (fp32 norms, input grads) for a model loaded in 4 or 8 bits."""
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` element counts; tied tensors counted once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def settings_from_args(model_args: Any) -> LoraSettings:
    """``LoraSettings`` from the SFT ``ModelArguments`` (its ``lora_*`` fields)."""
    return LoraSettings(
        r=model_args.lora_r,
        alpha=model_args.lora_alpha,
        dropout=model_args.lora_dropout,
        target_modules=model_args.lora_target_modules,
        vision=model_args.lora_vision,
        merger=model_args.lora_merger,
        coord_tokens=model_args.lora_coord_tokens,
    )


def wrap_for_training(
    model: nn.Module, model_args: Any, tokenizer: Any, gradient_checkpointing: bool, seed: int
) -> nn.Module:
    """Apply the ``--lora_*`` / ``--bits`` flags to a loaded model; returns the ``PeftModel`` to train.

    ``seed`` seeds the random LoRA A factors, so a run (and its resumed continuation) is reproducible.
    """
    from transformers import set_seed

    set_seed(seed)
    settings = settings_from_args(model_args)
    if model_args.bits < 16:
        model = prepare_quantized(model, gradient_checkpointing)
    tune_flags = {"vision": model_args.tune_mm_vision, "merger": model_args.tune_mm_mlp, "llm": model_args.tune_mm_llm}
    token_ids = coordinate_and_marker_ids(tokenizer) if settings.coord_tokens else None
    peft_model = apply_lora(model, settings, tune_flags, token_ids)
    trainable, total = count_parameters(peft_model)
    logger.info("LoRA r=%d alpha=%d on parts %s: %d of %d parameters train (%.2f%%)", settings.r, settings.alpha,
                sorted(lora_parts(settings)), trainable, total, 100.0 * trainable / max(total, 1))
    return peft_model
