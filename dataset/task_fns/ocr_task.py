"""OCR: every text instance is a group whose phrase is its transcription, in reading order.

Transcriptions are written verbatim (stripped only, never category-cleaned: commas and ``/`` stay);
an instance whose text is empty or holds ``<`` is dropped (no parser can read it back). Don't-care
instances (``"ignore": true``) are never targets; they go to the reward as ``extras["ignore"]``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from dataset.grammar import compose_answer, dequantize_polygon, quantize_box, quantize_polygon
from dataset.polygons import as_vertices, is_valid, signed_area
from dataset.task_fns.base import OBJ_PLACEHOLDER, EmptySampleError, TaskSample, check_prompts
from dataset.task_fns.gui_task import verbatim_phrase
from dataset.task_fns.task_prompts.other_tasks import OCR_BOX_WRAPPER, OCR_POLYGON_WRAPPER

if TYPE_CHECKING:
    from dataset.annotations import ObjectAnnotation

DEFAULT_LEVEL = "text line"


def normalize_polygon(polygon: Sequence[float]) -> tuple[float, ...]:
    """Vertices clockwise on screen (positive shoelace with y down), starting at the smallest x + y:
    a quadrilateral becomes TL, TR, BR, BL."""
    v = as_vertices(polygon)
    if signed_area(v) < 0:
        v = v[::-1]
    start = int(np.argmin(v[:, 0] + v[:, 1]))
    return tuple(float(c) for c in np.roll(v, -start, axis=0).reshape(-1))


def polygon_hull_box(polygon: Sequence[float]) -> tuple[float, float, float, float]:
    """The axis-aligned box around a flat polygon."""
    xs, ys = polygon[0::2], polygon[1::2]
    return (min(xs), min(ys), max(xs), max(ys))


def reading_order(boxes: Sequence[Sequence[float]]) -> list[int]:
    """Indices in reading order: lines top to bottom (a box joins a line when its vertical centre lies
    within the line's first box), left to right inside a line."""
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][1], boxes[i][0]))
    lines: list[list[int]] = []
    for i in order:
        centre = (boxes[i][1] + boxes[i][3]) / 2
        if lines and boxes[lines[-1][0]][1] <= centre <= boxes[lines[-1][0]][3]:
            lines[-1].append(i)
        else:
            lines.append([i])
    return [i for line in lines for i in sorted(line, key=lambda j: boxes[j][0])]


class _OcrTaskFn:
    """Shared by the box and polygon forms; ``[OBJ]`` in the prompt becomes the level (``word`` or
    ``text line``, the annotation's ``level`` of the first instance that has one, else ``default_level``)."""

    def __init__(self, task_prompts: Sequence[str], default_level: str = DEFAULT_LEVEL,
                 image_min_pixels: int | None = None, image_max_pixels: int | None = None) -> None:
        self.task_prompts = check_prompts(task_prompts)
        self.default_level = default_level

    def geometry(self, obj: ObjectAnnotation) -> tuple[float, ...] | None:
        """Pixel polygon (flat) of an instance, from its ``polygon`` or else its box's corners."""
        if obj.polygon is not None:
            return normalize_polygon(obj.polygon)
        if obj.box is not None:
            x0, y0, x1, y1 = obj.box
            return (x0, y0, x1, y0, x1, y1, x0, y1)
        return None

    def item(self, polygon: tuple[float, ...], width: int, height: int) -> tuple[int, ...] | None:
        """The answer's bins for one instance, or ``None`` when it is degenerate once quantised."""
        raise NotImplementedError

    def __call__(self, objects: Sequence[ObjectAnnotation], width: int, height: int,
                 rng: random.Random) -> TaskSample:
        texts, polygons, items, ignore = [], [], [], []
        for obj in objects:
            polygon = self.geometry(obj)
            if obj.exemplar or polygon is None:
                continue
            if obj.ignore:
                ignore.append(list(polygon))
                continue
            text = verbatim_phrase(obj.phrase)
            bins = self.item(polygon, width, height) if text else None
            if bins is not None:
                texts.append(text)
                polygons.append(polygon)
                items.append(bins)
        if not items:
            raise EmptySampleError(f"no usable text instance ({len(objects)} objects, {len(ignore)} don't-care)")
        level = next((o.level for o in objects if o.level), self.default_level)
        order = reading_order([polygon_hull_box(p) for p in polygons])
        question = rng.choice(self.task_prompts).replace(OBJ_PLACEHOLDER, level)
        answer = compose_answer((texts[i], [items[i]]) for i in order)
        truth: dict[str, dict[str, list]] = {}
        for i in order:
            entry = truth.setdefault(texts[i], {"boxes": [], "points": [], "masks": [], "polygons": []})
            entry["boxes"].append(list(polygon_hull_box(polygons[i])))
            entry["polygons"].append(list(polygons[i]))
        extras = {"ignore": {"polygons": ignore, "boxes": [list(polygon_hull_box(p)) for p in ignore]}}
        return TaskSample(question, answer, truth, len(objects) - len(items) - len(ignore), extras)


class OcrBoxTaskFn(_OcrTaskFn):
    """OCR with boxes: ``<x0><y0><x1><y1>`` per text instance (a polygon's axis-aligned box).
    Default prompt: the wrapper's ``Detect all [OBJ] and recognize them.``"""

    def __init__(self, task_prompts: Sequence[str] = (OCR_BOX_WRAPPER,), default_level: str = DEFAULT_LEVEL,
                 image_min_pixels: int | None = None, image_max_pixels: int | None = None) -> None:
        super().__init__(task_prompts, default_level)

    def item(self, polygon: tuple[float, ...], width: int, height: int) -> tuple[int, ...] | None:
        bins = quantize_box(polygon_hull_box(polygon), width, height)
        return bins if bins[2] > bins[0] and bins[3] > bins[1] else None


class OcrPolygonTaskFn(_OcrTaskFn):
    """OCR with polygons: ``2k`` bins per instance, TL, TR, BR, BL for quadrilaterals, no comma inside
    a polygon. Polygons that are invalid once quantised (collinear, self-intersecting) are dropped.
    Default prompt: the wrapper's polygon prompt."""

    def __init__(self, task_prompts: Sequence[str] = (OCR_POLYGON_WRAPPER,), default_level: str = DEFAULT_LEVEL,
                 image_min_pixels: int | None = None, image_max_pixels: int | None = None) -> None:
        super().__init__(task_prompts, default_level)

    def item(self, polygon: tuple[float, ...], width: int, height: int) -> tuple[int, ...] | None:
        bins = quantize_polygon(polygon, width, height)
        return bins if is_valid(dequantize_polygon(bins, width, height)) else None
