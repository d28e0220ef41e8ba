"""``box_iou``: F1 of IoU-weighted precision and recall between predicted and GT boxes.

Definition (the original definition, with the training codec's ``/999`` instead of the original's ``/1000``):

* predicted boxes get their corners ordered; zero-area predictions are dropped, as in the original;
* ``precision = sum over predictions of the best IoU with a GT box of the same phrase / N_pred``;
* ``recall = sum over GT boxes of the best IoU with a prediction of the same phrase / N_gt``;
  sums and counts are pooled over all phrases, so a prediction for a phrase the GT does not
  have, or for a negative phrase, adds 0 to precision's numerator and 1 to its denominator;
* ``F1 = 2PR / (P + R)``; nothing expected and nothing predicted -> 1.0; only one side empty -> 0.0.

``matching="best"`` (default) is the original: a well-placed box predicted twice counts twice.
``matching="one_to_one"`` pairs each prediction with at most one GT box (the assignment with the
largest total IoU), so duplicates add only to precision's denominator.
"""

from __future__ import annotations

from itertools import accumulate

import numpy as np

from dataset.grammar import ParsedGroup, dequantize
from rewards.assignment import max_weight_matching
from rewards.ground_truth import GroundTruth
from rewards.predictions import bin_array, count, phrase_bins
from rewards.registry import RewardResult, empty_case, f1_result, register_reward

MATCHINGS = ("best", "one_to_one")
# Up to this many same-phrase (prediction, GT) pairs plain Python is faster than numpy's per-call cost.
PYTHON_MAX_PAIRS = 160
_SMALLEST = np.finfo(np.float64).smallest_subnormal


def _area(planes: np.ndarray) -> np.ndarray:
    """Areas from ``(4, ...)`` corner planes (x0, y0, x1, y1)."""
    return (planes[2] - planes[0]) * (planes[3] - planes[1])


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas from corner planes: ``a`` ``(4, ..., n, 1)``, ``b`` ``(4, ..., 1, m)`` (x0, y0,
    x1, y1, corners ordered); returns ``(..., n, m)``."""
    # x and y in the same calls, in place: at tens of boxes the cost is numpy calls and temporaries.
    low = np.maximum(a[:2], b[:2])
    sides = np.minimum(a[2:], b[2:])
    sides -= low
    np.maximum(sides, 0.0, out=sides)
    return np.multiply(sides[0], sides[1], out=low[0])


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` ``(n, 4)`` with every box in ``b`` ``(m, 4)`` (xyxy, ordered corners).

    No +1 pixel convention; 0 where the union is 0. Returns ``(n, m)``.
    """
    a, b = a.T[:, :, None], b.T[:, None, :]
    inter = _intersection(a, b)
    union = _area(a) + _area(b)
    union -= inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _ordered_planes(boxes: np.ndarray) -> np.ndarray:
    """``(4, n)`` planes x0, y0, x1, y1 of ``(4, n)`` corner planes, with x0 <= x1 and y0 <= y1."""
    out = np.empty_like(boxes)
    np.minimum(boxes[:2], boxes[2:], out=out[:2])
    np.maximum(boxes[:2], boxes[2:], out=out[2:])
    return out


def _padded_iou(preds: list[np.ndarray], refs: list[np.ndarray]) -> np.ndarray:
    """``(k, n, m)``: :func:`pairwise_iou` of the ``(4, n_i)`` planes ``preds[i]`` with ``refs[i]``,
    zero-padded to the largest block. A padded all-zero box overlaps nothing: its IoU is 0.

    Finite boxes, predictions of positive area: a union is 0 only for a padded prediction, whose
    intersections are 0, so its area raised to the smallest float makes those IoUs 0 without a
    masked divide (a real area is never below it).
    """
    a = np.zeros((4, len(preds), max(p.shape[1] for p in preds), 1))
    b = np.zeros((4, len(refs), 1, max(r.shape[1] for r in refs)))
    for i, (pred, ref) in enumerate(zip(preds, refs)):
        a[:, i, :pred.shape[1], 0] = pred
        b[:, i, 0, :ref.shape[1]] = ref
    inter = _intersection(a, b)
    union = np.maximum(_area(a), _SMALLEST) + _area(b)
    union -= inter
    return np.divide(inter, union, out=inter)


def _numpy_sums(bins: dict[str, list[int]], gt_boxes: dict[str, np.ndarray], gt: GroundTruth,
                matching: str) -> tuple[float, float, int]:
    """``(precision numerator, recall numerator, number of predictions)``, all phrases in one IoU array."""
    phrases, counts, flat = bin_array(bins, 4)
    sides = np.array([[gt.width], [gt.height], [gt.width], [gt.height]], dtype=np.float64)
    boxes = _ordered_planes(dequantize(flat.T, sides))
    keep = (boxes[2] - boxes[0]) * (boxes[3] - boxes[1]) > 0
    if not keep.all():  # drop zero-area predictions, once for all phrases
        counts = np.bincount(np.repeat(np.arange(len(phrases)), counts)[keep], minlength=len(phrases)).tolist()
        boxes = boxes[:, keep]
    preds, refs, start = [], [], 0
    for phrase, n in zip(phrases, counts):
        ref = gt_boxes.get(phrase)
        if n and ref is not None and len(ref):
            preds.append(boxes[:, start:start + n])
            refs.append(ref)
        start += n
    if not preds:
        return 0.0, 0.0, boxes.shape[1]
    ref_planes = _ordered_planes(np.concatenate(refs).T)
    ends = list(accumulate(map(len, refs)))
    refs = [ref_planes[:, end - len(ref):end] for ref, end in zip(refs, ends)]
    iou = _padded_iou(preds, refs)
    if matching == "best":  # fmax: max without NaN checks (IoUs here are finite), so faster
        return (float(np.fmax.reduce(iou, axis=2).sum()), float(np.fmax.reduce(iou, axis=1).sum()),
                boxes.shape[1])
    matched = 0.0
    for block, pred, ref in zip(iou, preds, refs):
        block = block[:pred.shape[1], :ref.shape[1]]
        rows, cols = max_weight_matching(block)
        matched += float(block[rows, cols].sum())
    return matched, matched, boxes.shape[1]


def _ordered_with_area(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float, float]:
    x0, x1 = (x0, x1) if x0 <= x1 else (x1, x0)
    y0, y1 = (y0, y1) if y0 <= y1 else (y1, y0)
    return x0, y0, x1, y1, (x1 - x0) * (y1 - y0)


def _iou_rows(preds: list[tuple[float, ...]], refs: list[tuple[float, ...]]) -> list[list[float]]:
    """:func:`pairwise_iou` in plain Python (the same operations in the same order) on boxes with
    their areas; every prediction has positive area, so a positive intersection has a positive union."""
    rows = []
    for px0, py0, px1, py1, area in preds:
        row = []
        for gx0, gy0, gx1, gy1, ref_area in refs:
            iw = (px1 if px1 < gx1 else gx1) - (px0 if px0 > gx0 else gx0)
            ih = (py1 if py1 < gy1 else gy1) - (py0 if py0 > gy0 else gy0)
            if iw > 0 and ih > 0:
                inter = iw * ih
                row.append(inter / (area + ref_area - inter))
            else:
                row.append(0.0)
        rows.append(row)
    return rows


def _python_sums(bins: dict[str, list[int]], gt_boxes: dict[str, np.ndarray], gt: GroundTruth,
                 matching: str) -> tuple[float, float, int]:
    """:func:`_numpy_sums` in plain Python, for few pairs."""
    precision_sum = recall_sum = 0.0
    num_pred = 0
    w, h = gt.width, gt.height
    for phrase, flat in bins.items():
        it = iter(flat)
        boxes = [_ordered_with_area(dequantize(x0, w), dequantize(y0, h), dequantize(x1, w), dequantize(y1, h))
                 for x0, y0, x1, y1 in zip(it, it, it, it)]
        preds = [b for b in boxes if b[4] > 0]
        num_pred += len(preds)
        ref = gt_boxes.get(phrase)
        if not preds or ref is None or not len(ref):
            continue
        iou = _iou_rows(preds, [_ordered_with_area(*r) for r in ref.tolist()])
        if matching == "best":
            precision_sum += sum(map(max, iou))
            recall_sum += sum(map(max, zip(*iou)))
        else:
            block = np.array(iou)
            rows, cols = max_weight_matching(block)
            matched = float(block[rows, cols].sum())
            precision_sum += matched
            recall_sum += matched
    return precision_sum, recall_sum, num_pred


@register_reward("box_iou")
def box_iou_reward(groups: list[ParsedGroup], gt: GroundTruth, matching: str = "best") -> RewardResult:
    """Score parsed ``groups`` against ``gt``'s boxes; see the module docstring for the definition."""
    if matching not in MATCHINGS:
        raise ValueError(f"box_iou matching must be one of {MATCHINGS}, got {matching!r}")
    gt_boxes = gt.targets("boxes")
    bins = phrase_bins(groups, "box", 4)
    pairs = sum(len(flat) // 4 * len(gt_boxes.get(phrase, ())) for phrase, flat in bins.items())
    sums = _python_sums if pairs <= PYTHON_MAX_PAIRS else _numpy_sums
    precision_sum, recall_sum, num_pred = sums(bins, gt_boxes, gt, matching)
    num_gt = count(gt_boxes)
    edge = empty_case(num_gt, num_pred)
    if edge is not None:
        return edge
    return f1_result(precision_sum / num_pred, recall_sum / num_gt, num_gt=num_gt, num_pred=num_pred)
