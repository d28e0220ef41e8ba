"""The three parts of a Qwen2.5-VL model that freezing, learning rates and LoRA address by name."""

from __future__ import annotations

__all__ = ["PARTS", "part_of"]

PARTS = ("vision", "merger", "llm")


def part_of(name: str) -> str:
    """The part (``vision``, ``merger`` or ``llm``) a parameter or module name belongs to."""
    if "visual.merger." in name or name.startswith("merger."):
        return "merger"
    if "visual." in name:
        return "vision"
    return "llm"
