"""Annotation JSON (one TSV sample) -> a flat list of ``ObjectAnnotation``.

Accepted schemas (both top-level keys may be present; ``boxes`` entries come first)::

    {"boxes":  [{"bbox": [x0, y0, x1, y1] | null, "phrase" | "caption": str,
                 "point"?: [x, y], "mask"?: RLE | polygons}]}
    {"points": [{"point": [x, y] | null, "phrase": str, "bbox"?: [...], "mask"?: ...}]}
    {"polygons": [{"polygon": [x0, y0, x1, y1, ...] | null, "phrase": str, "bbox"?: [...]}]}
    {"keypoints": [{"bbox": [...] | null, "phrase": str, "keypoint_type"?: "person" | "animal" | "hand",
                    "keypoints": {name: [x, y, v]}}],
     "keypoint_names"?: [name, ...]}
    {"visual_prompt": {phrase: [[x0, y0, x1, y1], ...]}}

Every entry may also carry ``"ignore": true`` (a don't-care region: OCR ``###``, illegible text) and
``"level"`` (OCR granularity, ``"word"`` or ``"text line"``). Keypoint visibility ``v`` follows COCO:
0 not labelled, 1 labelled but occluded, 2 visible. ``visual_prompt`` boxes are exemplars: objects
with ``exemplar=True`` (the grounding task functions skip them). ``keypoint_names`` gives the joint
order of every instance of the sample (else the ``keypoint_type``'s list, else the file order).

Coordinates are absolute pixels. A ``null`` bbox (in ``boxes``), point, polygon, or keypoint bbox
marks a negative: the phrase is not in the image, so all its geometry is ``None``.
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
    """One phrase instance. ``box`` is xyxy pixels; all geometry is ``None`` for a negative.

    ``polygon`` is a flat ``(x0, y0, x1, y1, ...)`` pixel polygon; ``keypoints`` maps a joint name
    to ``(x, y, v)`` (COCO visibility); ``keypoint_type`` and ``keypoint_names`` say which joints and in
    which order; ``ignore`` marks a don't-care region; ``level`` is the OCR granularity; ``exemplar``
    marks a visual-prompt reference box.
    """

    phrase: str
    box: Box | None = None
    point: Point | None = None
    mask: dict[str, Any] | list[Any] | None = None
    polygon: tuple[float, ...] | None = None
    keypoints: dict[str, tuple[float, float, int]] | None = None
    keypoint_type: str | None = None
    keypoint_names: tuple[str, ...] | None = None
    ignore: bool = False
    level: str | None = None
    exemplar: bool = False

    @property
    def is_negative(self) -> bool:
        """True when the phrase is absent from the image (no box, point, mask, polygon or keypoints)."""
        return (self.box is None and self.point is None and self.mask is None and self.polygon is None
                and self.keypoints is None)


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


def _polygon(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) < 6 or len(value) % 2:
        raise AnnotationError(f"{where}: 'polygon' must be a flat [x0, y0, x1, y1, ...] list of >= 3 points")
    return _numbers(value, len(value), "polygon", where)


def _keypoints(value: Any, where: str) -> dict[str, tuple[float, float, int]]:
    if not isinstance(value, dict) or not value:
        raise AnnotationError(f"{where}: 'keypoints' must be a non-empty object name -> [x, y, v]")
    out = {}
    for name, xyv in value.items():
        x, y, v = _numbers(xyv, 3, f"keypoints[{name!r}]", where)
        if v not in (0, 1, 2):
            raise AnnotationError(f"{where}: keypoint {name!r} visibility must be 0, 1 or 2, got {xyv[2]!r}")
        out[str(name)] = (x, y, int(v))
    return out


def _flags(entry: dict[str, Any], where: str) -> dict[str, Any]:
    """The optional ``ignore`` and ``level`` keys of any entry."""
    ignore, level = entry.get("ignore", False), entry.get("level")
    if not isinstance(ignore, bool):
        raise AnnotationError(f"{where}: 'ignore' must be true or false, got {ignore!r}")
    if level is not None and not isinstance(level, str):
        raise AnnotationError(f"{where}: 'level' must be a string, got {level!r}")
    return {"ignore": ignore, "level": level}


def _parse_entry(entry: Any, primary: str, box_format: str, where: str,
                 keypoint_names: tuple[str, ...] | None = None) -> ObjectAnnotation:
    """Parse one entry of the ``boxes`` (primary='bbox'), ``points`` ('point'), ``polygons``
    ('polygon') or ``keypoints`` ('keypoints', negative when its ``bbox`` is null) list."""
    if not isinstance(entry, dict):
        raise AnnotationError(f"{where}: entry must be an object, got {type(entry).__name__}")
    phrase = _phrase(entry, where)
    flags = _flags(entry, where)
    null_key = "bbox" if primary == "keypoints" else primary
    if null_key not in entry:
        raise AnnotationError(f"{where}: missing '{null_key}' (use null for a negative)")
    if entry[null_key] is None:
        return ObjectAnnotation(phrase=phrase, **flags)
    box = entry.get("bbox")
    point = entry.get("point")
    polygon = entry.get("polygon")
    keypoint_type = entry.get("keypoint_type")
    if keypoint_type is not None and not isinstance(keypoint_type, str):
        raise AnnotationError(f"{where}: 'keypoint_type' must be a string, got {keypoint_type!r}")
    return ObjectAnnotation(
        phrase=phrase,
        box=None if box is None else _box(box, box_format, where),
        point=None if point is None else _point(point, where),
        mask=_mask(entry.get("mask"), where),
        polygon=None if polygon is None else _polygon(polygon, where),
        keypoints=_keypoints(entry.get("keypoints"), where) if primary == "keypoints" else None,
        keypoint_type=keypoint_type,
        keypoint_names=keypoint_names if primary == "keypoints" else None,
        **flags,
    )


def _exemplars(value: Any, box_format: str) -> list[ObjectAnnotation]:
    """``visual_prompt`` ``{phrase: [box, ...]}`` -> exemplar objects."""
    if not isinstance(value, dict):
        raise AnnotationError(f"'visual_prompt' must be an object phrase -> list of boxes, got {type(value).__name__}")
    out = []
    for phrase, boxes in value.items():
        if not isinstance(boxes, list) or not boxes:
            raise AnnotationError(f"visual_prompt[{phrase!r}] must be a non-empty list of boxes")
        for i, box in enumerate(boxes):
            out.append(ObjectAnnotation(phrase=str(phrase), box=_box(box, box_format, f"visual_prompt[{phrase!r}][{i}]"),
                                        exemplar=True))
    return out


def _names(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(n, str) for n in value):
        raise AnnotationError(f"'keypoint_names' must be a non-empty list of strings, got {value!r}")
    return tuple(value)


def parse_annotation(ann: dict[str, Any], box_format: str = "xyxy") -> list[ObjectAnnotation]:
    """Parse one sample's annotation JSON into objects with xyxy pixel boxes.

    Args:
        ann: the decoded annotation JSON object.
        box_format: ``"xyxy"`` or ``"xywh"``, the format of every ``bbox`` in ``ann``.

    Returns:
        ``boxes``, ``points``, ``polygons`` then ``keypoints`` entries, in file order, then the
        ``visual_prompt`` exemplars; empty if no key is present.

    Raises:
        AnnotationError: with the offending key and entry index.
    """
    if box_format not in BOX_FORMATS:
        raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}")
    if not isinstance(ann, dict):
        raise AnnotationError(f"annotation must be a JSON object, got {type(ann).__name__}")
    objects: list[ObjectAnnotation] = []
    names = _names(ann.get("keypoint_names"))
    for key, primary in (("boxes", "bbox"), ("points", "point"), ("polygons", "polygon"), ("keypoints", "keypoints")):
        if key not in ann:
            continue
        entries = ann[key]
        if not isinstance(entries, list):
            raise AnnotationError(f"'{key}' must be a list, got {type(entries).__name__}")
        for i, entry in enumerate(entries):
            objects.append(_parse_entry(entry, primary, box_format, f"{key}[{i}]", names))
    if "visual_prompt" in ann:
        objects.extend(_exemplars(ann["visual_prompt"], box_format))
    return objects
