"""Optimizer parameter groups: per-part learning rates x decay / no-decay.

* No weight decay for biases and for the weights of every normalisation module (LayerNorm,
  Qwen2RMSNorm, Liger's RMSNorm, ...: any module whose class name contains ``Norm``). The original
  decayed RMSNorm weights.
* ``vision_tower_lr`` applies to the vision tower whether or not ``mm_projector_lr`` is set, and
  ``mm_projector_lr`` to the merger; each falls back to ``learning_rate`` when unset (or 0).
* Frozen parameters are left out; empty groups are dropped.
* The language model's groups come first: the Trainer logs the first group's rate as ``learning_rate``,
  so that is ``--learning_rate`` (each group's is logged too, as ``learning_rate/<name>``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from modeling.parts import part_of


def no_decay_names(model: nn.Module) -> set[str]:
    """Names of parameters exempt from weight decay: biases and normalisation weights."""
    names = set()
    for module_name, module in model.named_modules():
        is_norm = "norm" in type(module).__name__.lower()
        for param_name, _ in module.named_parameters(recurse=False):
            if is_norm or param_name == "bias":
                names.add(f"{module_name}.{param_name}" if module_name else param_name)
    return names


def part_learning_rates(
    learning_rate: float, vision_tower_lr: float | None, mm_projector_lr: float | None
) -> dict[str, float]:
    """Learning rate per part (``vision``, ``merger``, ``llm``)."""
    return {
        "llm": learning_rate,
        "vision": vision_tower_lr or learning_rate,
        "merger": mm_projector_lr or learning_rate,
    }


def build_param_groups(
    model: nn.Module,
    learning_rate: float,
    weight_decay: float,
    vision_tower_lr: float | None = None,
    mm_projector_lr: float | None = None,
) -> list[dict[str, Any]]:
    """Groups for a torch optimizer; each has ``params``, ``lr``, ``weight_decay`` and a ``name``.

    ``name`` is ``<part>/<decay|no_decay>``; torch optimizers keep extra keys, which lets tests
    and logs see which group is which.
    """
    lrs = part_learning_rates(learning_rate, vision_tower_lr, mm_projector_lr)
    exempt = no_decay_names(model)
    groups: dict[str, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = part_of(name)
        decays = name not in exempt
        key = f"{part}/{'decay' if decays else 'no_decay'}"
        group = groups.setdefault(
            key, {"name": key, "params": [], "lr": lrs[part], "weight_decay": weight_decay if decays else 0.0}
        )
        group["params"].append(param)
    return sorted(groups.values(), key=_group_order)


MAIN_PART_FIRST = ("llm", "merger", "vision")


def _group_order(group: dict[str, Any]) -> tuple[int, bool]:
    """Sort key: the language model's groups first, then the merger's, then the vision tower's; decay first."""
    part, decay = group["name"].split("/")
    rank = MAIN_PART_FIRST.index(part) if part in MAIN_PART_FIRST else len(MAIN_PART_FIRST)
    return rank, decay != "decay"
