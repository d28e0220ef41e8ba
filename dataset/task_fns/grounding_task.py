"""Grounding: each object's xyxy box becomes a ``<x0><y0><x1><y1>`` item."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dataset.grammar import quantize_box
from dataset.task_fns.base import Bins, PhraseTaskFn

if TYPE_CHECKING:
    from dataset.annotations import ObjectAnnotation


class GroundingTaskFn(PhraseTaskFn):
    """Phrase grounding with boxes; see ``PhraseTaskFn`` for arguments and behaviour.

    A box that is empty once clipped to the image (``x1 <= x0``, ``y1 <= y0``, or entirely
    outside) is dropped and counted in ``TaskSample.num_dropped``; the original trained on it.
    """

    def geometry(self, obj: ObjectAnnotation) -> Sequence[float] | None:
        return obj.box

    def quantize(self, geometry: Sequence[float], width: int, height: int) -> Bins:
        return quantize_box(geometry, width, height)

    def is_degenerate(self, geometry: Sequence[float], width: int, height: int) -> bool:
        x0, y0, x1, y1 = geometry
        return min(x1, width) <= max(x0, 0) or min(y1, height) <= max(y0, 0)
