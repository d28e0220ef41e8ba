"""Side-by-side PNG of ground truth (left) and prediction (right) drawn over the sample's image.

Used when ``LOG_VISUALIZE_PATH`` names a folder and the caller passes the images, and for the PNGs of
``evaluation.evaluate``. The drawing is ``dataset.visualize.draw_comparison`` (the one drawer, also
behind ``tools/vis_tsv_dataset.py``); this module only turns a ground truth and a parsed answer into
the objects it draws.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from PIL import Image

from dataset.annotations import ObjectAnnotation
from dataset.grammar import ParsedGroup
from dataset.visualize import draw_comparison
from rewards.ground_truth import GroundTruth
from rewards.predictions import predicted_boxes, predicted_points

logger = logging.getLogger(__name__)

MAX_SIDE = 512  # pixels: a debug image's longer side is scaled down to this


def truth_objects(gt: GroundTruth) -> list[ObjectAnnotation]:
    """The ground truth as objects: object ``i`` of a phrase has its ``i``-th box, point and mask (each
    list of a phrase describes the same objects in order); a phrase without objects is a negative."""
    objects = []
    for phrase, targets in gt.answer.items():
        count = max(len(targets.boxes), len(targets.points), len(targets.masks))
        if count == 0:
            objects.append(ObjectAnnotation(phrase))
        for i in range(count):
            objects.append(ObjectAnnotation(
                phrase,
                box=tuple(float(v) for v in targets.boxes[i]) if i < len(targets.boxes) else None,
                point=tuple(float(v) for v in targets.points[i]) if i < len(targets.points) else None,
                mask=targets.masks[i] if i < len(targets.masks) else None,
            ))
    return objects


def predicted_objects(groups: list[ParsedGroup], width: int, height: int) -> list[ObjectAnnotation]:
    """The answer's boxes and points (pixels of a ``width`` x ``height`` image) as objects; a phrase the
    model named with neither (a ``None`` answer) is a negative."""
    boxes, points = predicted_boxes(groups, width, height), predicted_points(groups, width, height)
    objects = []
    for phrase in dict.fromkeys([*boxes, *points]):
        phrase_boxes, phrase_points = boxes.get(phrase, ()), points.get(phrase, ())
        objects += [ObjectAnnotation(phrase, box=tuple(float(v) for v in box)) for box in phrase_boxes]
        objects += [ObjectAnnotation(phrase, point=tuple(float(v) for v in point)) for point in phrase_points]
        if len(phrase_boxes) == 0 and len(phrase_points) == 0:
            objects.append(ObjectAnnotation(phrase))
    return objects


def render_comparison(image: Image.Image, gt: GroundTruth, groups: list[ParsedGroup], title: str,
                      max_side: int | None = MAX_SIDE) -> Image.Image:
    """Ground truth and prediction panels (``dataset.visualize.draw_comparison``), ``title`` over the
    prediction panel, scaled so the image's longer side is at most ``max_side`` pixels (None: as is).

    ``image`` is first resized to the ground truth's ``width`` x ``height`` (the model may have seen a
    resized copy), the frame every coordinate is in."""
    if image.size != (gt.width, gt.height):
        image = image.resize((gt.width, gt.height))
    return draw_comparison(image, truth_objects(gt), predicted_objects(groups, gt.width, gt.height),
                           titles=(f"GT | {gt.dataset_name}", title), max_side=max_side)


def save_comparison(folder: str | Path, image: Image.Image, gt: GroundTruth, groups: list[ParsedGroup],
                    score: float, index: int) -> Path | None:
    """Render and save ``{reward}_{dataset}_{time}_{index}.png`` in ``folder``; None (logged) on failure."""
    stem = re.sub(r"[^\w.-]+", "_", f"{gt.reward_name}_{gt.dataset_name}")
    path = Path(folder) / f"{stem}_{time.strftime('%Y%m%d_%H%M%S')}_{time.time_ns() % 10**9:09d}_{index}.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        render_comparison(image, gt, groups, f"Prediction | {gt.reward_name}: {score:.3f}").save(path)
    except Exception as err:  # a drawing must never stop training
        logger.warning("could not save reward visualisation %s: %s", path, err)
        return None
    return path
