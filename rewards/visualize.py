"""Side-by-side PNG of ground truth (left) and prediction (right) drawn over the sample's image.

Used when ``LOG_VISUALIZE_PATH`` names a folder and the caller passes the images. The drawing is
``dataset.visualize.draw_comparison`` (the one drawer, also behind ``tools/vis_tsv_dataset.py`` and the
evaluation's PNGs); this module only turns a ground truth and an answer into the objects it draws:
boxes, points, masks, OCR polygons (labelled with their text) and keypoint instances (box and skeleton;
read from the answer's text, which is JSON rather than phrase groups).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from PIL import Image

from dataset.annotations import ObjectAnnotation
from dataset.grammar import (
    ParsedGroup,
    dequantize,
    dequantize_box,
    dequantize_point,
    dequantize_polygon,
    parse_keypoint_answer,
)
from dataset.visualize import draw_comparison
from rewards.ground_truth import GroundTruth
from rewards.predictions import predicted_boxes, predicted_points

logger = logging.getLogger(__name__)

MAX_SIDE = 512  # pixels: a debug image's longer side is scaled down to this


def _listed(entry: Any, key: str) -> list[Any]:
    value = entry.get(key) if isinstance(entry, dict) else None
    return value if isinstance(value, list) else []


def _polygon(value: Any) -> tuple[float, ...] | None:
    if isinstance(value, (list, tuple)) and len(value) >= 6 and len(value) % 2 == 0:
        return tuple(float(v) for v in value)
    return None


def _joints(value: Any) -> dict[str, tuple[float, float, int]] | None:
    """``{name: [x, y, v]}`` as the drawer's joints; ``None`` when it is not such a mapping."""
    if not isinstance(value, dict):
        return None
    joints = {str(n): (float(j[0]), float(j[1]), int(j[2])) for n, j in value.items()
              if isinstance(j, (list, tuple)) and len(j) == 3}
    return joints or None


def truth_objects(gt: GroundTruth) -> list[ObjectAnnotation]:
    """The ground truth as objects: object ``i`` of a phrase has its ``i``-th box, point, mask, polygon and
    keypoints (each list of a phrase describes the same objects in order); a phrase without objects is a
    negative. Polygons and keypoints come from the raw ground truth (OCR and keypoint tasks)."""
    names = tuple(gt.raw.get("keypoint_names") or ()) or None
    raw_answer = gt.raw.get("answer") if isinstance(gt.raw.get("answer"), dict) else {}
    objects = []
    for phrase, targets in gt.answer.items():
        raw = raw_answer.get(phrase, {})
        polygons, keypoints = _listed(raw, "polygons"), _listed(raw, "keypoints")
        count = max(len(targets.boxes), len(targets.points), len(targets.masks), len(polygons), len(keypoints))
        if count == 0:
            objects.append(ObjectAnnotation(phrase))
        for i in range(count):
            objects.append(ObjectAnnotation(
                phrase,
                box=tuple(float(v) for v in targets.boxes[i]) if i < len(targets.boxes) else None,
                point=tuple(float(v) for v in targets.points[i]) if i < len(targets.points) else None,
                mask=targets.masks[i] if i < len(targets.masks) else None,
                polygon=_polygon(polygons[i]) if i < len(polygons) else None,
                keypoints=_joints(keypoints[i]) if i < len(keypoints) else None,
                keypoint_names=names,
            ))
    return objects


def keypoint_objects(text: str, width: int, height: int) -> list[ObjectAnnotation]:
    """The instances of a keypoint answer (JSON in the answer's text) as objects: box and the joints it
    places (``"unvisible"`` ones left out), in pixels."""
    objects = []
    for inst in parse_keypoint_answer(text):
        joints = {n: (dequantize(b[0], width), dequantize(b[1], height), 2)
                  for n, b in inst.keypoints.items() if b is not None}
        objects.append(ObjectAnnotation(inst.category, box=dequantize_box(inst.bbox, width, height),
                                        keypoints=joints or None, keypoint_names=tuple(inst.keypoints)))
    return objects


def _as_drawn(groups: list[ParsedGroup], kind: str, width: int, height: int) -> dict[str, list[tuple[float, ...]]]:
    """Phrase -> its items of ``kind`` written as such (a polygon run is not split into boxes), in pixels."""
    read = {"box": dequantize_box, "point": dequantize_point, "polygon": dequantize_polygon}[kind]
    out: dict[str, list[tuple[float, ...]]] = {}
    for group in groups:
        out.setdefault(group.phrase, []).extend(tuple(read(b, width, height)) for b in group.of_kind(kind))
    return out


def predicted_objects(groups: list[ParsedGroup], width: int, height: int,
                      polygons: bool = False) -> list[ObjectAnnotation]:
    """The answer's boxes and points (pixels of a ``width`` x ``height`` image) as objects, read as the box
    and point rewards read them (a run without commas is consecutive boxes or points); with ``polygons``,
    as the polygon reward reads them (such a run is one polygon). A phrase the model named with no item
    (a ``None`` answer) is a negative."""
    if polygons:
        boxes, points = _as_drawn(groups, "box", width, height), _as_drawn(groups, "point", width, height)
        shapes = _as_drawn(groups, "polygon", width, height)
    else:
        boxes = {k: [tuple(map(float, b)) for b in v] for k, v in predicted_boxes(groups, width, height).items()}
        points = {k: [tuple(map(float, p)) for p in v] for k, v in predicted_points(groups, width, height).items()}
        shapes = {}
    objects = []
    for phrase in dict.fromkeys([*boxes, *points, *shapes]):
        phrase_boxes, phrase_points = boxes.get(phrase, []), points.get(phrase, [])
        phrase_polygons = shapes.get(phrase, [])
        objects += [ObjectAnnotation(phrase, box=box) for box in phrase_boxes]  # type: ignore[arg-type]
        objects += [ObjectAnnotation(phrase, point=point) for point in phrase_points]  # type: ignore[arg-type]
        objects += [ObjectAnnotation(phrase, polygon=polygon) for polygon in phrase_polygons]
        if not (phrase_boxes or phrase_points or phrase_polygons):
            objects.append(ObjectAnnotation(phrase))
    return objects


def render_comparison(image: Image.Image, gt: GroundTruth, groups: list[ParsedGroup], title: str,
                      max_side: int | None = MAX_SIDE, text: str | None = None) -> Image.Image:
    """Ground truth and prediction panels (``dataset.visualize.draw_comparison``), ``title`` over the
    prediction panel, scaled so the image's longer side is at most ``max_side`` pixels (None: as is).

    ``image`` is first resized to the ground truth's ``width`` x ``height`` (the model may have seen a
    resized copy), the frame every coordinate is in. With the answer's ``text``, a keypoint ground truth
    (one with ``keypoint_names``) has the answer's keypoint instances drawn instead of its groups; a ground
    truth with polygons (OCR) has the answer's polygons drawn as polygons."""
    if image.size != (gt.width, gt.height):
        image = image.resize((gt.width, gt.height))
    if text is not None and "keypoint_names" in gt.raw:
        predicted = keypoint_objects(text, gt.width, gt.height)
    else:
        has_polygons = any(_listed(entry, "polygons") for entry in (gt.raw.get("answer") or {}).values())
        predicted = predicted_objects(groups, gt.width, gt.height, polygons=has_polygons)
    return draw_comparison(image, truth_objects(gt), predicted, titles=(f"GT | {gt.dataset_name}", title),
                           max_side=max_side)


def save_comparison(folder: str | Path, image: Image.Image, gt: GroundTruth, groups: list[ParsedGroup],
                    score: float, index: int, text: str | None = None) -> Path | None:
    """Render and save ``{reward}_{dataset}_{time}_{index}.png`` in ``folder``; None (logged) on failure."""
    stem = re.sub(r"[^\w.-]+", "_", f"{gt.reward_name}_{gt.dataset_name}")
    path = Path(folder) / f"{stem}_{time.strftime('%Y%m%d_%H%M%S')}_{time.time_ns() % 10**9:09d}_{index}.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        render_comparison(image, gt, groups, f"Prediction | {gt.reward_name}: {score:.3f}", text=text).save(path)
    except Exception as err:  # a drawing must never stop training
        logger.warning("could not save reward visualisation %s: %s", path, err)
        return None
    return path
