"""Where each value of a resolved GRPO config came from: the dataclass default, the YAML, a launcher's
environment variable, the command line, or a copy of another key (``--print_config``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from verl.trainer.ppo_config import PPOConfig

__all__ = ["describe_config", "value_sources"]


def _leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any, str | None]]:
    """``(dotted key, value, derived-from key or None)`` of every non-dataclass field, in field order."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", value, f.metadata.get("derived")


def _sets(layer: Any, dotted: str) -> bool:
    """Whether a plain nested dict sets ``dotted`` (or something inside it, for mapping-valued fields)."""
    node = layer
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def value_sources(cfg: PPOConfig, layers: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """``{dotted key: source}``: the last layer (in apply order) that sets the key, else ``default``;
    derived keys name the key they copy."""
    sources = {}
    for dotted, _, derived_from in _leaves(cfg):
        if derived_from is not None:
            sources[dotted] = f"copied from {derived_from}"
            continue
        setters = [name for name, layer in layers if _sets(layer, dotted)]
        sources[dotted] = setters[-1] if setters else "default"
    return sources


def _yaml_scalar(value: Any) -> str:
    """``null``/``true``/``false`` as in the YAML; lists and mappings as flow sequences/mappings."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_scalar(v)}" for k, v in value.items()) + "}"
    return str(value)


def describe_config(cfg: PPOConfig, layers: list[tuple[str, dict[str, Any]]]) -> str:
    """One line per key: ``dotted.key = value    # source`` (values as the run sees them, paths absolute)."""
    sources = value_sources(cfg, layers)
    lines = []
    for dotted, value, _ in _leaves(cfg):
        lines.append(f"{f'{dotted} = {_yaml_scalar(value)}':<72} # {sources[dotted]}")
    return "\n".join(lines)
