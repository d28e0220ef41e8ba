"""A predictions JSONL line (official shape, any task) as the objects the one drawer draws.

``record_objects`` turns a line's ``gt`` and ``extracted_predictions`` into ``ObjectAnnotation`` lists:
4 numbers a box, 2 a point, 2k a polygon (OCR: the phrase is the text), keypoint instances as their
box and joints (``"unvisible"`` joints left out), a GUI line's element under ``"element"``, a pointing
line's masks and boxes. ``scale_objects`` shrinks them with their image for a thumbnail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from dataset.annotations import ObjectAnnotation
from dataset.mask_geometry import decode_mask
from evaluation.official_predictions import POINTING_TASK

__all__ = ["record_objects", "scale_objects"]


def _shape(phrase: str, geometry: Sequence[float] | None) -> ObjectAnnotation | None:
    """One item: a box (4 numbers), a point (2) or a polygon (an even number >= 6); else None."""
    if not isinstance(geometry, (list, tuple)):
        return None
    values = tuple(float(v) for v in geometry)
    if len(values) == 4:
        return ObjectAnnotation(phrase, box=values)  # type: ignore[arg-type]
    if len(values) == 2:
        return ObjectAnnotation(phrase, point=values)  # type: ignore[arg-type]
    if len(values) >= 6 and len(values) % 2 == 0:
        return ObjectAnnotation(phrase, polygon=values)
    return None


def _shapes(by_phrase: Mapping[str, Sequence[Any]]) -> list[ObjectAnnotation]:
    return [obj for phrase, items in by_phrase.items() for item in items if (obj := _shape(phrase, item))]


def _instances(by_category: Mapping[str, Sequence[Mapping[str, Any]]], names: Mapping[str, tuple[str, ...]],
               ) -> list[ObjectAnnotation]:
    """Keypoint instances: box and joints; a joint written ``"unvisible"`` is not drawn."""
    objects = []
    for category, instances in by_category.items():
        for inst in instances:
            box = inst.get("bbox")
            joints = {n: (float(xy[0]), float(xy[1]), 2) for n, xy in (inst.get("keypoints") or {}).items()
                      if isinstance(xy, (list, tuple)) and len(xy) >= 2}
            objects.append(ObjectAnnotation(category, box=tuple(map(float, box)) if box and len(box) == 4 else None,
                                            keypoints=joints or None, keypoint_names=names.get(category)))
    return objects


def _joint_names(*sides: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, tuple[str, ...]]:
    """Per category, every joint name either side writes, in order of first appearance."""
    names: dict[str, dict[str, None]] = {}
    for side in sides:
        for category, instances in side.items():
            for inst in instances:
                names.setdefault(category, {}).update(dict.fromkeys(inst.get("keypoints") or {}))
    return {c: tuple(n) for c, n in names.items()}


def record_objects(record: Mapping[str, Any]) -> tuple[list[ObjectAnnotation], list[ObjectAnnotation]]:
    """``(ground truth, predictions)`` of one line as drawable objects (see the module docstring)."""
    task, gt, pred = record.get("task_name"), record.get("gt"), record.get("extracted_predictions") or {}
    if task == "keypoint":
        names = _joint_names(gt or {}, pred)
        return _instances(gt or {}, names), _instances(pred, names)
    if task == "gui":
        truth = [ObjectAnnotation("element", box=tuple(map(float, gt)))] if gt and len(gt) == 4 else []
        return truth, _shapes(pred)
    if task == POINTING_TASK:
        masks = [ObjectAnnotation(p, mask=m) for p, ms in (gt or {}).items() for m in ms]
        return masks + _shapes(record.get("gt_boxes") or {}), _shapes(pred)
    return _shapes(gt or {}), _shapes(pred)


def _scaled_mask(mask: Any, size: tuple[int, int], new_size: tuple[int, int]) -> dict[str, Any]:
    bitmap = decode_mask(mask, height=size[1], width=size[0])
    small = np.asarray(Image.fromarray(bitmap.astype(np.uint8) * 255).resize(new_size, Image.NEAREST)) > 127
    rle = mask_utils.encode(np.asfortranarray(small.astype(np.uint8)))
    return {"size": [new_size[1], new_size[0]], "counts": rle["counts"].decode("ascii")}


def scale_objects(objects: Sequence[ObjectAnnotation], size: tuple[int, int], new_size: tuple[int, int],
                  ) -> list[ObjectAnnotation]:
    """``objects`` of a ``size`` (width, height) image moved onto the same image resized to ``new_size``."""
    sx, sy = new_size[0] / size[0], new_size[1] / size[1]

    def xy(values: Sequence[float]) -> tuple[float, ...]:
        return tuple(v * (sx if i % 2 == 0 else sy) for i, v in enumerate(values))

    out = []
    for obj in objects:
        out.append(replace(
            obj,
            box=xy(obj.box) if obj.box is not None else None,  # type: ignore[arg-type]
            point=xy(obj.point) if obj.point is not None else None,  # type: ignore[arg-type]
            polygon=xy(obj.polygon) if obj.polygon is not None else None,
            keypoints={n: (x * sx, y * sy, v) for n, (x, y, v) in obj.keypoints.items()} if obj.keypoints else None,
            mask=_scaled_mask(obj.mask, size, new_size) if obj.mask is not None else None,
        ))
    return out
