"""Rex-Omni's evaluation protocol (``evaluation/metrics/other_metric.py``) as pure functions.

Per image and IoU threshold (boxes are xyxy pixels):

* ground-truth boxes are walked in order (categories in GT order); each takes the *unused*
  prediction of highest IoU that is ``>= threshold``; the candidates are the predictions of every
  category the image's GT has (pooled), so a box named with another present category can match;
* ``n_pred`` counts every prediction, also those of categories absent from the GT, so these
  count against precision; ``recall = matches / n_gt``, ``precision = matches / n_pred``;
* no GT category and no prediction: P = R = 1; no GT category but predictions, or no
  prediction at all: P = R = 0;
* category names are lower-cased and stripped of spaces and underscores before comparing.

Over a split: precision and recall are averaged over images, ``F1 = 2PR / (P + R)`` of the means
at each threshold, and mean F1 is the mean of the ten F1s (0.5, 0.55, ..., 0.95).

Pointing (``calculate_pointing_metrics``): GT objects in order each take the first unused
prediction *of the same category* that lies in the GT mask (pixel ``(int(y), int(x))``) or box
(inclusive bounds); the empty cases are decided on object counts.

Crowd regions (COCO ``iscrowd``) follow COCOeval, which Rex-Omni's COCO/LVIS scorer builds on:
they are not GT objects, and a prediction left unmatched that covers a crowd region of its own
category (intersection / prediction area ``>= threshold``) is ignored, not counted as a false
positive. Without crowd regions the numbers are the original's exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import mean
from typing import Any

import numpy as np

__all__ = [
    "IOU_THRESHOLDS",
    "ImageScore",
    "box_iou",
    "f1",
    "match_boxes",
    "match_points",
    "normalise_category",
    "point_in_box",
    "point_in_mask",
    "summarise_box_protocol",
    "summarise_scores",
]

IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))

Box = Sequence[float]
BoxesByCategory = Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class ImageScore:
    """One image's precision and recall at one threshold, with the counts behind them."""

    precision: float
    recall: float
    n_gt: int
    n_pred: int
    n_matched: int

    @property
    def f1(self) -> float:
        """Harmonic mean of this image's precision and recall (0 when both are 0)."""
        return f1(self.precision, self.recall)


def f1(precision: float, recall: float) -> float:
    """``2PR / (P + R)``, 0.0 when ``P + R == 0``."""
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def normalise_category(name: str) -> str:
    """The key two category names are compared by: lower case, no spaces or underscores."""
    return name.lower().replace("_", "").replace(" ", "")


def _normalised(boxes: BoxesByCategory | None) -> dict[str, list[Any]]:
    # A dict comprehension, as the original: names that normalise alike keep the last list.
    return {normalise_category(k): list(v) for k, v in (boxes or {}).items()}


def box_iou(a: Box, b: Box) -> float:
    """IoU of two xyxy boxes; 0.0 when they do not overlap with positive area."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    inter = (x1 - x0) * (y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _crowd_coverage(pred: Box, crowd: Box) -> float:
    """COCOeval's IoU against a crowd region: intersection over the prediction's own area."""
    x0, y0 = max(pred[0], crowd[0]), max(pred[1], crowd[1])
    x1, y1 = min(pred[2], crowd[2]), min(pred[3], crowd[3])
    area = (pred[2] - pred[0]) * (pred[3] - pred[1])
    if x1 <= x0 or y1 <= y0 or area <= 0:
        return 0.0
    return (x1 - x0) * (y1 - y0) / area


def _is_box(item: Any) -> bool:
    return item is not None and item != "None"


def _greedy_matches(gt_boxes: list[Box], pred_boxes: list[Box], threshold: float) -> set[int]:
    """Indices of the predictions taken by the GT boxes walked in order (see the module docstring)."""
    used: set[int] = set()
    for gt in gt_boxes:
        best_iou, best = 0.0, -1
        for i, pred in enumerate(pred_boxes):
            if i in used:
                continue
            iou = box_iou(gt, pred)
            if iou > best_iou and iou >= threshold:
                best_iou, best = iou, i
        if best != -1:
            used.add(best)
    return used


def _ignored_by_crowd(preds: dict[str, list[Any]], matched: set[tuple[str, int]],
                      crowd: dict[str, list[Any]], threshold: float) -> int:
    """Unmatched predictions that cover a crowd region of their category (COCOeval ignores them)."""
    ignored = 0
    for category, regions in crowd.items():
        for i, pred in enumerate(p for p in preds.get(category, []) if _is_box(p)):
            if (category, i) not in matched and any(_crowd_coverage(pred, r) >= threshold for r in regions):
                ignored += 1
    return ignored


def match_boxes(gt: BoxesByCategory, pred: BoxesByCategory, threshold: float,
                crowd: BoxesByCategory | None = None) -> ImageScore:
    """Score one image's predicted boxes against its GT boxes at one IoU threshold.

    Args:
        gt: category -> xyxy pixel boxes of the GT objects (crowd regions excluded).
        pred: category -> predicted xyxy pixel boxes (``None`` entries are not predictions).
        threshold: the IoU a match needs (inclusive).
        crowd: category -> xyxy pixel boxes of crowd regions (COCO ``iscrowd``), or ``None``.
    """
    gt_n, pred_n, crowd_n = _normalised(gt), _normalised(pred), _normalised(crowd)
    n_gt = sum(len(v) for v in gt_n.values())
    all_gt = [box for boxes in gt_n.values() for box in boxes]
    pooled = [(c, i, box) for c in gt_n for i, box in enumerate(b for b in pred_n.get(c, []) if _is_box(b))]
    taken = _greedy_matches(all_gt, [box for _, _, box in pooled], threshold)
    matched = {(pooled[j][0], pooled[j][1]) for j in taken}
    n_pred = sum(1 for boxes in pred_n.values() for b in boxes if _is_box(b))
    n_pred -= _ignored_by_crowd(pred_n, matched, crowd_n, threshold)
    if not gt_n:
        score = 1.0 if n_pred == 0 else 0.0
        return ImageScore(score, score, n_gt, n_pred, 0)
    if n_pred == 0:
        return ImageScore(0.0, 0.0, n_gt, n_pred, 0)
    m = len(taken)
    return ImageScore(m / n_pred, m / n_gt if n_gt else 0.0, n_gt, n_pred, m)


def point_in_box(point: Sequence[float], box: Box) -> bool:
    """Whether ``point`` lies in ``box`` (xyxy, corners in any order, inclusive bounds)."""
    x0, x1 = min(box[0], box[2]), max(box[0], box[2])
    y0, y1 = min(box[1], box[3]), max(box[1], box[3])
    return x0 <= point[0] <= x1 and y0 <= point[1] <= y1


def point_in_mask(point: Sequence[float], mask: np.ndarray) -> bool:
    """Whether pixel ``(int(y), int(x))`` of the ``(H, W)`` bitmap is set (the original's test)."""
    x, y = int(point[0]), int(point[1])
    if x < 0 or y < 0 or y >= mask.shape[0] or x >= mask.shape[1]:
        return False
    return bool(mask[y, x])


def match_points(gt: Mapping[str, Sequence[Any]], pred: Mapping[str, Sequence[Sequence[float]]],
                 inside: Any) -> ImageScore:
    """Score one image's predicted points against GT regions (masks or boxes).

    Args:
        gt: category -> GT regions (a decoded ``(H, W)`` bitmap or an xyxy box each).
        pred: category -> predicted ``(x, y)`` pixel points.
        inside: ``inside(point, region) -> bool``, e.g. :func:`point_in_mask` or :func:`point_in_box`.
    """
    gt_l = {k.lower(): list(v) for k, v in gt.items()}
    pred_l = {k.lower(): list(v) for k, v in pred.items()}
    n_gt = sum(len(v) for v in gt_l.values())
    n_pred = sum(len(v) for v in pred_l.values())
    if n_gt == 0 or n_pred == 0:
        score = 1.0 if n_gt == 0 and n_pred == 0 else 0.0
        return ImageScore(score, score, n_gt, n_pred, 0)
    flat_pred = [(c, p) for c, points in pred_l.items() for p in points]
    used: set[int] = set()
    for category, regions in gt_l.items():
        for region in regions:
            hit = next((j for j, (c, p) in enumerate(flat_pred)
                        if j not in used and c == category and inside(p, region)), None)
            if hit is not None:
                used.add(hit)
    return ImageScore(len(used) / n_pred, len(used) / n_gt, n_gt, n_pred, len(used))


def summarise_scores(scores: Sequence[ImageScore], prefix: str) -> dict[str, float]:
    """``{prefix}_precision``, ``_recall`` and ``_f1`` of per-image scores: the means of the
    images' precision and recall, and the F1 of those two means."""
    if not scores:
        return {f"{prefix}_precision": 0.0, f"{prefix}_recall": 0.0, f"{prefix}_f1": 0.0}
    precision = mean(s.precision for s in scores)
    recall = mean(s.recall for s in scores)
    return {f"{prefix}_precision": precision, f"{prefix}_recall": recall, f"{prefix}_f1": f1(precision, recall)}


def summarise_box_protocol(scores_by_threshold: Mapping[float, Sequence[ImageScore]]) -> dict[str, float]:
    """Split metrics from per-image box scores at each threshold: P/R/F1 per threshold
    (``box_f1@0.5`` ...), ``box_mean_precision``, ``box_mean_recall`` and ``box_mean_f1``
    (means over the thresholds)."""
    out: dict[str, float] = {}
    per_threshold = []
    for threshold in sorted(scores_by_threshold):
        summary = summarise_scores(scores_by_threshold[threshold], "box")
        per_threshold.append(summary)
        out.update({f"{k}@{threshold:g}": v for k, v in summary.items()})
    for name in ("precision", "recall", "f1"):
        values = [s[f"box_{name}"] for s in per_threshold]
        out[f"box_mean_{name}"] = mean(values) if values else 0.0
    return out
