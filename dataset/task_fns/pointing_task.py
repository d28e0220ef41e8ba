"""Pointing: each object's (x, y) point becomes a ``<x><y>`` item."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dataset.grammar import quantize_point
from dataset.task_fns.base import Bins, PhraseTaskFn

if TYPE_CHECKING:
    from dataset.annotations import ObjectAnnotation


class PointingTaskFn(PhraseTaskFn):
    """Pointing; see ``PhraseTaskFn`` for arguments and behaviour.

    Points outside the image are clamped to its border by the codec. The ground truth also
    carries each phrase's boxes and masks when every object has them, for the ``point_in_box``
    and ``point_in_mask`` rewards.
    """

    def geometry(self, obj: ObjectAnnotation) -> Sequence[float] | None:
        return obj.point

    def quantize(self, geometry: Sequence[float], width: int, height: int) -> Bins:
        return quantize_point(geometry, width, height)
