"""``ocr_box_iou``: OCR with boxes, a one-to-one soft F1 whose pairs need the text to match.

A prediction is one item of a group whose phrase is the predicted text; a GT instance is one box of
the ground truth's phrase (its transcription). The weight of a (prediction, GT) pair is
``IoU × text factor``; the assignment is one-to-one with the largest total weight, then
``P = S / n_pred``, ``R = S / n_gt``, reward = F1.

* Text factor ``text_sim="exact"`` (default): 1 when the texts are equal after the official metric's
  normalisation (lower case, spaces and ``_`` deleted), else 0. ``text_sim="ned"``: 1 - normalised
  edit distance of the normalised texts (denser, not the metric).
* Items of another kind (points; polygons in the box task) count as predictions of weight 0.
* Don't-care regions (``ground_truth["ignore"]``, ``###`` text): an unmatched prediction whose box
  lies on one (intersection / its area >= 0.5) is not counted.
* Both sides empty: 1; one side empty: 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dataset.grammar import ParsedGroup, dequantize
from rewards.assignment import max_weight_matching
from rewards.box_iou import pairwise_iou
from rewards.ground_truth import GroundTruth, GroundTruthError
from rewards.matching import phrase_flat_bins, text_weights
from rewards.registry import RewardResult, empty_case, f1_result, register_reward

TEXT_SIMILARITIES = ("exact", "ned")
IGNORE_COVERAGE = 0.5


def gt_instances(gt: GroundTruth, key: str) -> tuple[list[str], list[Any]]:
    """One text per GT instance and its geometry list entry ``key`` (``boxes`` or ``polygons``) of the raw
    ground truth; polygons fall back to the box's four corners."""
    texts: list[str] = []
    shapes: list[Any] = []
    for phrase, targets in gt.answer.items():
        raw = gt.raw.get("answer", {}).get(phrase, {})
        items = raw.get(key) if key in raw else None
        if items is None:
            items = [[x0, y0, x1, y0, x1, y1, x0, y1] for x0, y0, x1, y1 in targets.boxes.tolist()] \
                if key == "polygons" else targets.boxes.tolist()
        if not isinstance(items, list):
            raise GroundTruthError(f"answer[{phrase!r}][{key!r}] must be a list")
        texts.extend([phrase] * len(items))
        shapes.extend(items)
    return texts, shapes


def ignore_boxes(gt: GroundTruth) -> np.ndarray:
    """``(n, 4)`` xyxy boxes of the don't-care regions (``ground_truth["ignore"]["boxes"]``)."""
    boxes = (gt.raw.get("ignore") or {}).get("boxes") or []
    try:
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    except ValueError as exc:
        raise GroundTruthError(f"ground truth 'ignore' boxes must be [x0, y0, x1, y1] lists: {exc}") from None


def on_ignored(pred_boxes: np.ndarray, ignored: np.ndarray) -> np.ndarray:
    """``(n,)`` whether each prediction box lies on a don't-care box (intersection / its area >= 0.5)."""
    if not len(ignored) or not len(pred_boxes):
        return np.zeros(len(pred_boxes), dtype=bool)
    a, b = pred_boxes[:, None, :], ignored[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    area = (pred_boxes[:, 2] - pred_boxes[:, 0]) * (pred_boxes[:, 3] - pred_boxes[:, 1])
    cover = np.divide(iw * ih, area[:, None], out=np.zeros_like(iw), where=area[:, None] > 0)
    return (cover >= IGNORE_COVERAGE).any(axis=1)


def text_matched_f1(pred_texts: Sequence[str], pred_boxes: np.ndarray, num_other: int, gt_texts: Sequence[str],
                    geometry_iou: Callable[[np.ndarray], np.ndarray], ignored: np.ndarray, text_sim: str) -> RewardResult:
    """The F1 shared by the OCR rewards: ``geometry_iou(candidates)`` gives ``(n_pred, n_gt)`` IoUs of the
    predictions that have geometry of the task's kind (``num_other`` more predictions have weight 0),
    needed only where the boolean ``candidates`` (text factor > 0) is set; ``pred_boxes`` are their hull
    boxes, for the don't-care test."""
    if text_sim not in TEXT_SIMILARITIES:
        raise ValueError(f"text_sim must be one of {TEXT_SIMILARITIES}, got {text_sim!r}")
    num_pred, num_gt = len(pred_texts) + num_other, len(gt_texts)
    edge = empty_case(num_gt, num_pred)
    if edge is not None and not (num_gt == 0 and len(ignored)):
        return edge
    weights = np.zeros((len(pred_texts), num_gt))
    if len(pred_texts) and num_gt:
        factor = text_weights(pred_texts, gt_texts, text_sim)
        candidates = factor > 0
        if candidates.any():
            weights = geometry_iou(candidates) * factor
    rows, cols = max_weight_matching(weights) if weights.size else (np.zeros(0, int), np.zeros(0, int))
    matched = float(weights[rows, cols].sum())
    unmatched = np.ones(len(pred_texts), dtype=bool)
    unmatched[rows] = False
    dropped = int((unmatched & on_ignored(pred_boxes, ignored)).sum())
    num_pred -= dropped
    edge = empty_case(num_gt, num_pred)
    if edge is not None:
        return edge
    return f1_result(matched / num_pred, matched / num_gt, num_gt=num_gt, num_pred=num_pred,
                     matched=matched, ignored=dropped)


def _ordered(boxes: np.ndarray) -> np.ndarray:
    return np.sort(boxes.reshape(-1, 2, 2), axis=1).reshape(-1, 4)


@register_reward("ocr_box_iou")
def ocr_box_iou_reward(groups: list[ParsedGroup], gt: GroundTruth, text_sim: str = "exact") -> RewardResult:
    """Score an OCR box answer; see the module docstring."""
    texts, bins, num_other = phrase_flat_bins(groups, "box")
    sides = np.array([gt.width, gt.height, gt.width, gt.height], dtype=np.float64)
    preds = _ordered(dequantize(np.array(bins, dtype=np.float64).reshape(-1, 4), sides))
    gt_texts = [p for p, t in gt.answer.items() for _ in range(len(t.boxes))]
    refs = _ordered(np.concatenate([t.boxes for t in gt.answer.values()])) if gt.answer else np.zeros((0, 4))
    return text_matched_f1(texts, preds, num_other, gt_texts, lambda _: pairwise_iou(preds, refs),
                           ignore_boxes(gt), text_sim)
