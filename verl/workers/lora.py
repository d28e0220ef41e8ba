"""LoRA actor for GRPO (``worker.actor.lora``): adapters, merged weights for the rollout, adapter saves.

* The actor is a peft ``PeftModel`` (adapters chosen as in SFT, :mod:`modeling.lora`); the base
  weights freeze, the FSDP2 shards hold both.
* The reference policy is the same model with its adapters disabled, so no second copy is loaded.
* The rollout engine (HF copy or vLLM) gets merged weights ``W + (alpha / r) * B @ A`` under the
  plain HF names, through the same ``load_weights`` path as full finetuning.
* Checkpoints: DCP holds the trainable (adapter) tensors only; ``huggingface/`` gets the adapter
  folder (``adapter_config.json`` + ``adapter_model.safetensors``), which ``tools/merge_lora.py`` and
  ``tools/merge_rl_checkpoints_to_hg_version.py`` turn into a full model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from modeling.lora import LoraSettings, apply_lora

__all__ = ["PEFT_PREFIX", "attach_lora", "is_lora_model", "lora_settings", "merged_weights", "reference_mode",
           "save_adapter"]

PEFT_PREFIX = "base_model.model."
ADAPTER = "default"


def lora_settings(cfg: Any) -> LoraSettings:
    """``LoraSettings`` from ``worker.actor.lora`` (coordinate rows never train in GRPO: SFT taught them)."""
    return LoraSettings(r=cfg.r, alpha=cfg.alpha, dropout=cfg.dropout, target_modules=cfg.target_modules,
                        vision=cfg.vision, merger=cfg.merger)


def attach_lora(model: torch.nn.Module, cfg: Any) -> torch.nn.Module:
    """Wrap the actor in a ``PeftModel``: only the adapters train, every base weight freezes.

    (Vision tower and merger train through ``lora.vision`` / ``lora.merger``; ``freeze_vision_tower``
    has nothing left to freeze.) Keeping the base frozen is what makes "adapters off" the reference.
    """
    return apply_lora(model, lora_settings(cfg), {"llm": False, "vision": False, "merger": False})


def is_lora_model(model: torch.nn.Module) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "disable_adapter")


def reference_mode(model: torch.nn.Module) -> contextlib.AbstractContextManager[Any]:
    """Context in which the LoRA actor computes the reference policy's log-probs (adapters off)."""
    return model.disable_adapter()


def merged_weights(named: Iterable[tuple[str, torch.Tensor]], scale: float) -> Iterator[tuple[str, torch.Tensor]]:
    """Turn a peft state dict stream into HF names with LoRA folded in: ``W + scale * B @ A``.

    ``named`` yields full tensors with peft names (``base_model.model.<hf>.base_layer.weight``,
    ``...lora_A.default.weight``, ``...lora_B.default.weight``); base weights wait until both factors
    of their module arrived. Raises ``ValueError`` if a module's factors are missing at the end.
    """
    pending: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in named:
        name = name.removeprefix(PEFT_PREFIX)
        for part in ("lora_A", "lora_B"):
            marker = f".{part}.{ADAPTER}.weight"
            if name.endswith(marker):
                module = name[: -len(marker)]
                pending.setdefault(module, {})[part] = tensor
                break
        else:
            if ".base_layer." not in name:
                yield name, tensor
                continue
            module, _, leaf = name.partition(".base_layer.")
            if leaf != "weight":  # biases are not adapted
                yield f"{module}.{leaf}", tensor
                continue
            pending.setdefault(module, {})["weight"] = tensor
        module_parts = pending.get(module, {})
        if len(module_parts) == 3:
            del pending[module]
            weight, a, b = module_parts["weight"], module_parts["lora_A"], module_parts["lora_B"]
            delta = (b.float() @ a.float()) * scale
            yield f"{module}.weight", (weight.float() + delta).to(weight.dtype)
    if pending:
        raise ValueError(f"LoRA modules without base weight or both factors: {sorted(pending)[:3]}")


def adapter_state(named: Iterable[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The adapter tensors of a peft state dict stream, under peft's saved names (no ``.default``)."""
    return {name.replace(f".{ADAPTER}.", "."): tensor.detach().cpu().contiguous()
            for name, tensor in named if ".lora_" in name}


def save_adapter(hf_dir: Path, model: torch.nn.Module, tensors: dict[str, torch.Tensor], base_path: str) -> None:
    """Rank 0: ``adapter_config.json`` + ``adapter_model.safetensors`` in ``hf_dir`` (base = ``base_path``)."""
    from safetensors.torch import save_file

    hf_dir.mkdir(parents=True, exist_ok=True)
    peft_config = model.peft_config[ADAPTER]
    peft_config.base_model_name_or_path = base_path
    peft_config.save_pretrained(str(hf_dir))
    tmp = hf_dir / ".adapter_model.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    tmp.replace(hf_dir / "adapter_model.safetensors")
