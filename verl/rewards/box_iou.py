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

import numpy as np

from dataset.grammar import ParsedGroup
from verl.rewards.assignment import max_weight_matching
from verl.rewards.ground_truth import GroundTruth
from verl.rewards.predictions import corner_ordered, count, predicted_box_array, split_rows
from verl.rewards.registry import RewardResult, empty_case, f1_result, register_reward

MATCHINGS = ("best", "one_to_one")


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` ``(n, 4)`` with every box in ``b`` ``(m, 4)`` (xyxy, ordered corners).

    No +1 pixel convention; 0 where the union is 0. Returns ``(n, m)``.
    """
    ax0, ay0, ax1, ay1 = a.T[:, :, None]
    bx0, by0, bx1, by1 = b.T[:, None, :]
    # In-place steps: at tens of boxes the cost is numpy calls and temporaries, not arithmetic.
    inter = np.minimum(ax1, bx1)
    inter -= np.maximum(ax0, bx0)
    np.maximum(inter, 0.0, out=inter)
    ih = np.minimum(ay1, by1)
    ih -= np.maximum(ay0, by0)
    np.maximum(ih, 0.0, out=ih)
    inter *= ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0)
    union -= inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@register_reward("box_iou")
def box_iou_reward(groups: list[ParsedGroup], gt: GroundTruth, matching: str = "best") -> RewardResult:
    """Score parsed ``groups`` against ``gt``'s boxes; see the module docstring for the definition."""
    if matching not in MATCHINGS:
        raise ValueError(f"box_iou matching must be one of {MATCHINGS}, got {matching!r}")
    gt_boxes = {p: corner_ordered(b) for p, b in gt.targets("boxes").items()}
    phrases, counts, boxes = predicted_box_array(groups, gt.width, gt.height)
    keep = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) > 0
    if not keep.all():  # drop zero-area predictions, once for all phrases
        counts = np.bincount(np.repeat(np.arange(len(phrases)), counts)[keep], minlength=len(phrases)).tolist()
        boxes = boxes[keep]
    preds = split_rows(phrases, counts, boxes)
    num_gt, num_pred = count(gt_boxes), count(preds)
    edge = empty_case(num_gt, num_pred)
    if edge is not None:
        return edge
    precision_sum = recall_sum = 0.0
    for phrase, pred in preds.items():
        ref = gt_boxes.get(phrase)
        if ref is None or len(ref) == 0 or len(pred) == 0:
            continue
        iou = pairwise_iou(pred, ref)
        if matching == "best":
            precision_sum += float(iou.max(axis=1).sum())
            recall_sum += float(iou.max(axis=0).sum())
        else:
            rows, cols = max_weight_matching(iou)
            matched = float(iou[rows, cols].sum())
            precision_sum += matched
            recall_sum += matched
    return f1_result(precision_sum / num_pred, recall_sum / num_gt, num_gt=num_gt, num_pred=num_pred)
