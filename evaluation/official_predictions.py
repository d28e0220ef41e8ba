"""Predictions in Rex-Omni's evaluation JSONL shape, and their scores under its protocol.

One line per image, as ``evaluation/inference_*.py`` writes it and ``other_metric.py`` reads it::

    {"image_path": str, "question": str, "raw_response": str, "dataset_name": str,
     "task_name": "detection" | "pointing" | "referring_object_detection" | ...,
     "extracted_predictions": {category: [[x0, y0, x1, y1] or [x, y], ...]},   # pixels
     "gt": {category: [[x0, y0, x1, y1], ...]}            # boxes; for pointing: COCO RLE masks
    }

The other tasks' lines (keypoint, GUI, hallucination, polygons, visual prompting) are built by
:mod:`evaluation.task_predictions` and scored by :mod:`rewards.task_metrics`.

We add keys the original ignores: ``gt_boxes`` (pointing: GT boxes, for point-in-box),
``has_masks`` / ``has_boxes`` (pointing: whether every object of the image has a mask / a box;
``null`` when the image has no object, so "no object here" is told apart from "this data has no
masks"), ``gt_crowd`` (crowd regions per category, see :mod:`rewards.detection_metrics`) and
``image_size`` ``[W, H]``. Either tool scores the same file; only ``gt_crowd`` changes numbers.

Pointing lines enter point-in-mask when ``has_masks`` is true or absent (the original's lines,
whose ``gt`` always holds masks), and, when ``null``, if the split has masks; likewise for
point-in-box with ``has_boxes``. So an image without objects counts as the original's
``other_metric.py`` counts it: P = R = 1 when nothing is predicted, 0 otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dataset.grammar import ParsedGroup
from dataset.mask_geometry import MaskError, decode_mask, segmentation_to_rle
from rewards.detection_metrics import (
    IOU_THRESHOLDS,
    ImageScore,
    match_boxes,
    match_points,
    point_in_box,
    point_in_mask,
    summarise_box_protocol,
    summarise_scores,
)
from rewards.predictions import predicted_boxes, predicted_points
from rewards.task_metrics import POLYGON_TASKS, image_task_score, summarise_task_lines

__all__ = ["PredictionFileError", "image_f1", "official_record", "read_predictions", "score_records"]

DETECTION_TASK = "detection"
POINTING_TASK = "pointing"
# Task names other_metric.py scores with their own rules, scored by rewards.task_metrics (visual-prompt
# lines are box lines as well: their count error and duplicate ratio come on top).
TASK_LINE_NAMES = ("keypoint", "gui", "hallucination", *POLYGON_TASKS)
LETTERS_ONLY_TASKS = ("common_object_detection", "long_tailed_object_detection", "dense_object_detection")


class PredictionFileError(ValueError):
    """A predictions JSONL line is not in the expected shape; names the line."""


def _rle_masks(masks: Sequence[Any], width: int, height: int) -> list[dict[str, Any]]:
    return [segmentation_to_rle(m if isinstance(m, dict) or (m and isinstance(m[0], list)) else [m], height, width)
            for m in masks]


def official_record(image_path: str, question: str, raw_response: str, groups: list[ParsedGroup],
                    answer: Mapping[str, Any], task: str, image_size: Sequence[int], dataset_name: str,
                    crowd: Mapping[str, list[list[float]]] | None = None) -> dict[str, Any]:
    """One image's line. ``answer`` is the task function's ground truth (phrase -> boxes, points,
    masks); phrases without objects (negatives) are left out of ``gt``, so a negative-only image
    scores 1 when nothing is predicted. ``task``: ``grounding`` or ``pointing``."""
    width, height = int(image_size[0]), int(image_size[1])
    gt_boxes = {p: [list(map(float, b)) for b in t.get("boxes") or []] for p, t in answer.items() if t.get("boxes")}
    record: dict[str, Any] = {"image_path": image_path, "question": question, "raw_response": raw_response,
                              "dataset_name": dataset_name, "image_size": [width, height]}
    if task == "pointing":
        preds = predicted_points(groups, width, height)
        objects = {p: t for p, t in answer.items() if t.get("points") or t.get("boxes") or t.get("masks")}
        has_masks = _every_object_has(objects, "masks")
        record.update(task_name=POINTING_TASK, gt_boxes=gt_boxes, has_masks=has_masks,
                      has_boxes=_every_object_has(objects, "boxes"),
                      gt={p: _rle_masks(t["masks"], width, height) for p, t in objects.items()} if has_masks else {})
    else:
        preds = predicted_boxes(groups, width, height)
        record.update(task_name=DETECTION_TASK, gt=gt_boxes)
    record["extracted_predictions"] = {p: arr.tolist() for p, arr in preds.items()}
    if crowd:
        record["gt_crowd"] = {p: [list(map(float, b)) for b in boxes] for p, boxes in crowd.items()}
    return record


def _every_object_has(objects: Mapping[str, Mapping[str, Any]], kind: str) -> bool | None:
    """Whether every object (one per point, else per box or mask) has a ``kind`` entry; ``None``
    when there is no object, since an empty image says nothing about what the data holds."""
    if not objects:
        return None
    count = {p: len(t.get("points") or t.get("boxes") or t.get("masks") or []) for p, t in objects.items()}
    return all(len(t.get(kind) or []) == count[p] for p, t in objects.items())


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """Lines of a predictions JSONL (blank lines skipped); raises ``PredictionFileError`` naming a bad line."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for line_no, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except ValueError as exc:
                raise PredictionFileError(f"{path}: line {line_no}: invalid JSON ({exc})") from exc
            if not isinstance(record.get("extracted_predictions"), dict):
                raise PredictionFileError(f"{path}: line {line_no}: 'extracted_predictions' must be an object")
            gt_type = list if record.get("task_name") == "gui" else dict  # a GUI line's gt is one box
            if not isinstance(record.get("gt"), gt_type):
                raise PredictionFileError(f"{path}: line {line_no}: 'gt' must be "
                                          f"{'a [x0, y0, x1, y1] list' if gt_type is list else 'an object'}")
            records.append(record)
    return records


def _letters_only(boxes: Mapping[str, Any]) -> dict[str, Any]:
    return {"".join(c for c in k.lower() if c.isalpha()): v for k, v in boxes.items()}


def box_scores(record: Mapping[str, Any]) -> dict[float, ImageScore]:
    """The record's :class:`ImageScore` at each IoU threshold (detection-style task names)."""
    gt, pred, crowd = record["gt"], record["extracted_predictions"], record.get("gt_crowd")
    task = record.get("task_name", "referring_object_detection")  # the original's default
    if task == "referring_object_detection":  # categories ignored: everything pooled
        gt = {"": [b for boxes in gt.values() for b in boxes]}
        pred = {"": [b for boxes in pred.values() for b in boxes]}
        crowd = {"": [b for boxes in (crowd or {}).values() for b in boxes]}
        if not gt[""]:
            gt = {}
    elif task in LETTERS_ONLY_TASKS:
        gt, pred, crowd = _letters_only(gt), _letters_only(pred), _letters_only(crowd or {})
    return {t: match_boxes(gt, pred, t, crowd) for t in IOU_THRESHOLDS}


def _enters(record: Mapping[str, Any], flag: str, default: bool, split_has: bool) -> bool:
    value = record.get(flag, default)
    return split_has if value is None else bool(value)


def point_scores(record: Mapping[str, Any], split_has_masks: bool = True,
                 split_has_boxes: bool = True) -> dict[str, ImageScore]:
    """Point-in-mask and point-in-box scores of a pointing record, each when the record enters it
    (see the module docstring); ``split_has_*`` decide for images without objects."""
    pred = record["extracted_predictions"]
    out = {}
    if _enters(record, "has_masks", True, split_has_masks):
        try:
            masks = {p: [decode_mask(m, height=m["size"][0], width=m["size"][1]) for m in rles]
                     for p, rles in record["gt"].items()}
        except (KeyError, TypeError, AttributeError, MaskError) as exc:
            raise PredictionFileError(f"{record.get('image_path')}: pointing 'gt' must hold COCO RLE masks ({exc})") from exc
        out["in_mask"] = match_points(masks, pred, point_in_mask)
    if _enters(record, "has_boxes", "gt_boxes" in record, split_has_boxes):
        out["in_box"] = match_points(record.get("gt_boxes") or {}, pred, point_in_box)
    return out


def image_f1(record: Mapping[str, Any]) -> float:
    """The per-image F1 shown in reports: box F1 at IoU 0.5, or point-in-mask (else in-box) F1; the other
    tasks' lines: their own per-image score (polygon F1 at 0.5, keypoint AP@0.5, GUI or hallucination 0/1)."""
    if record.get("task_name") in TASK_LINE_NAMES:
        return image_task_score(record)
    if record.get("task_name") == POINTING_TASK:
        scores = point_scores(record)
        score = scores.get("in_mask") or scores.get("in_box")
        return score.f1 if score else 0.0
    return box_scores(record)[0.5].f1


def score_records(records: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Split metrics of predictions JSONL lines under Rex-Omni's protocol.

    Box lines: ``box_precision@T`` / ``box_recall@T`` / ``box_f1@T`` for T = 0.5 .. 0.95 and
    ``box_mean_*``; pointing lines: ``point_in_mask_*`` (lines with masks) and ``point_in_box_*``.
    """
    by_threshold: dict[float, list[ImageScore]] = {t: [] for t in IOU_THRESHOLDS}
    in_mask: list[ImageScore] = []
    in_box: list[ImageScore] = []
    records = list(records)
    pointing = [r for r in records if r.get("task_name") == POINTING_TASK]
    split_has_masks = any(r.get("has_masks", True) for r in pointing)
    split_has_boxes = any(r.get("has_boxes", "gt_boxes" in r) for r in pointing)
    for record in records:
        if record.get("task_name") in TASK_LINE_NAMES:
            continue
        if record.get("task_name") == POINTING_TASK:
            scores = point_scores(record, split_has_masks, split_has_boxes)
            in_mask += [scores["in_mask"]] if "in_mask" in scores else []
            in_box += [scores["in_box"]] if "in_box" in scores else []
            continue
        for threshold, score in box_scores(record).items():
            by_threshold[threshold].append(score)
    out: dict[str, float] = {}
    if by_threshold[0.5]:
        out.update(summarise_box_protocol(by_threshold))
        out["box_num_images"] = len(by_threshold[0.5])
    if in_mask:
        out.update(summarise_scores(in_mask, "point_in_mask"), point_in_mask_num_images=len(in_mask))
    if in_box:
        out.update(summarise_scores(in_box, "point_in_box"), point_in_box_num_images=len(in_box))
    out.update(summarise_task_lines(records))
    return out
