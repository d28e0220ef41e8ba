"""The one builder registry: configs name classes (or registered names) in ``type=`` and it builds them."""

from __future__ import annotations

from typing import Any

from mmengine.registry import Registry

BUILDER = Registry("builder")


def build(cfg: Any, **defaults: Any) -> Any:
    """Build ``cfg`` (a ``dict(type=..., ...)`` or an mmengine ``ConfigDict``) with extra default kwargs.

    Objects that are already built are returned unchanged, so configs may hold either form.
    """
    if not isinstance(cfg, dict):
        return cfg
    return BUILDER.build(cfg, default_args=defaults or None)
