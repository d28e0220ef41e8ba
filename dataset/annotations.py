"""Annotation JSON (one TSV sample) -> a flat list of ``ObjectAnnotation``.

Accepted schemas (both top-level keys may be present; ``boxes`` entries come first)::

    {"boxes":  [{"bbox": [x0, y0, x1, y1] | null, "phrase" | "caption": str,
                 "point"?: [x, y], "mask"?: RLE | polygons}]}
    {"points": [{"point": [x, y] | null, "phrase": str, "bbox"?: [...], "mask"?: ...}]}

Coordinates are absolute pixels. A ``null`` bbox (in ``boxes``) or ``null`` point (in ``points``)
marks a negative: the phrase is not in the image, so box, point and mask are all ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["AnnotationError", "ObjectAnnotation", "parse_annotation", "BOX_FORMATS"]

BOX_FORMATS = ("xyxy", "xywh")

Box = tuple[float, float, float, float]
Point = tuple[float, float]


class AnnotationError(ValueError):
    """An annotation does not follow the accepted schema; the message says why."""


@dataclass(frozen=True)
class ObjectAnnotation:
    """One phrase instance. ``box`` is xyxy pixels; all geometry is ``None`` for a negative."""

    phrase: str
    box: Box | None = None
    point: Point | None = None
    mask: dict[str, Any] | list[Any] | None = None

    @property
    def is_negative(self) -> bool:
        """True when the phrase is absent from the image (no box, point or mask)."""
        return self.box is None and self.point is None and self.mask is None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(value: Any, count: int, what: str, where: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != count:
        raise AnnotationError(f"{where}: '{what}' must be a list of {count} numbers, got {value!r}")
    if not all(_is_number(v) for v in value):
        raise AnnotationError(f"{where}: '{what}' must contain only numbers, got {value!r}")
    if not all(math.isfinite(v) for v in value):
        raise AnnotationError(f"{where}: '{what}' contains a non-finite number: {value!r}")
    return tuple(float(v) for v in value)


def _box(value: Any, box_format: str, where: str) -> Box:
    x0, y0, a, b = _numbers(value, 4, "bbox", where)
    if box_format == "xywh":
        return (x0, y0, x0 + a, y0 + b)
    return (x0, y0, a, b)


def _point(value: Any, where: str) -> Point:
    x, y = _numbers(value, 2, "point", where)
    return (x, y)


def _mask(value: Any, where: str) -> dict[str, Any] | list[Any] | None:
    """Check the mask's shape: a COCO RLE dict or a list of flat polygons ``[x0, y0, x1, y1, ...]``."""
    if value is None:
        return None
    if isinstance(value, dict):
        if "counts" not in value or "size" not in value:
            raise AnnotationError(f"{where}: RLE 'mask' needs 'counts' and 'size' keys")
        size = value["size"]
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) for s in size)):
            raise AnnotationError(f"{where}: RLE 'mask' size must be [height, width], got {size!r}")
        return value
    if isinstance(value, list):
        for poly in value:
            if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
                raise AnnotationError(f"{where}: polygon 'mask' entries must be flat [x, y, ...] lists of >= 3 points")
            if not all(_is_number(v) and math.isfinite(v) for v in poly):
                raise AnnotationError(f"{where}: polygon 'mask' must contain only finite numbers")
        return value
    raise AnnotationError(f"{where}: 'mask' must be an RLE dict or a list of polygons, got {type(value).__name__}")


def _phrase(entry: dict[str, Any], where: str) -> str:
    phrase = entry.get("phrase", entry.get("caption"))
    if phrase is None:
        raise AnnotationError(f"{where}: missing 'phrase' (or 'caption')")
    if not isinstance(phrase, str):
        raise AnnotationError(f"{where}: 'phrase' must be a string, got {type(phrase).__name__}")
    return phrase


def _parse_entry(entry: Any, primary: str, box_format: str, where: str) -> ObjectAnnotation:
    """Parse one entry of the ``boxes`` (primary='bbox') or ``points`` (primary='point') list."""
    if not isinstance(entry, dict):
        raise AnnotationError(f"{where}: entry must be an object, got {type(entry).__name__}")
    phrase = _phrase(entry, where)
    if primary not in entry:
        raise AnnotationError(f"{where}: missing '{primary}' (use null for a negative)")
    if entry[primary] is None:
        return ObjectAnnotation(phrase=phrase)
    box = entry.get("bbox")
    point = entry.get("point")
    return ObjectAnnotation(
        phrase=phrase,
        box=None if box is None else _box(box, box_format, where),
        point=None if point is None else _point(point, where),
        mask=_mask(entry.get("mask"), where),
    )


def parse_annotation(ann: dict[str, Any], box_format: str = "xyxy") -> list[ObjectAnnotation]:
    """Parse one sample's annotation JSON into objects with xyxy pixel boxes.

    Args:
        ann: the decoded annotation JSON object.
        box_format: ``"xyxy"`` or ``"xywh"``, the format of every ``bbox`` in ``ann``.

    Returns:
        ``boxes`` entries then ``points`` entries, in file order; empty if neither key is present.

    Raises:
        AnnotationError: with the offending key and entry index.
    """
    if box_format not in BOX_FORMATS:
        raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}")
    if not isinstance(ann, dict):
        raise AnnotationError(f"annotation must be a JSON object, got {type(ann).__name__}")
    objects: list[ObjectAnnotation] = []
    for key, primary in (("boxes", "bbox"), ("points", "point")):
        if key not in ann:
            continue
        entries = ann[key]
        if not isinstance(entries, list):
            raise AnnotationError(f"'{key}' must be a list, got {type(entries).__name__}")
        for i, entry in enumerate(entries):
            objects.append(_parse_entry(entry, primary, box_format, f"{key}[{i}]"))
    return objects
