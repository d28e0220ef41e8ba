"""``point_in_box``: F1 of one-to-one matches between predicted points and GT boxes of the same phrase.

As the original: a prediction matches a GT box of its phrase when it lies inside
(inclusive bounds); each GT box and each prediction is used at most once;
``precision = matched / N_pred``, ``recall = matched / N_gt``. Nothing expected and nothing
predicted -> 1.0; one side empty -> 0.0. GT points are not used. Unlike the original, a phrase is
never dropped because its point and box counts differ; a phrase with objects but no boxes raises.

``matching="greedy"`` (default, the original): GT boxes in order each take the first free
prediction inside them. Greedy can miss matches when GT boxes overlap and then depends on item
order; ``matching="maximum"`` finds the largest possible number of matches instead.
"""

from __future__ import annotations

import numpy as np

from dataset.grammar import ParsedGroup
from rewards.assignment import max_weight_matching
from rewards.ground_truth import GroundTruth
from rewards.predictions import count, predicted_points
from rewards.registry import RewardResult, empty_case, f1_result, register_reward

MATCHINGS = ("greedy", "maximum")


def points_in_boxes(boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``(n, m)`` bool: point ``j`` ``(x, y)`` lies inside box ``i`` (xyxy, any corner order, inclusive)."""
    x0 = np.minimum(boxes[:, 0], boxes[:, 2])[:, None]
    x1 = np.maximum(boxes[:, 0], boxes[:, 2])[:, None]
    y0 = np.minimum(boxes[:, 1], boxes[:, 3])[:, None]
    y1 = np.maximum(boxes[:, 1], boxes[:, 3])[:, None]
    x, y = points[None, :, 0], points[None, :, 1]
    return (x0 <= x) & (x <= x1) & (y0 <= y) & (y <= y1)


def count_matches(inside: np.ndarray, matching: str) -> int:
    """Number of one-to-one matches in an ``(n_gt, n_pred)`` bool matrix."""
    if matching == "maximum":
        return len(max_weight_matching(inside.astype(np.float64))[0])
    taken: set[int] = set()
    candidates: dict[int, list[int]] = {}
    for g, p in zip(*(idx.tolist() for idx in np.nonzero(inside))):  # row-major: GT order, then prediction order
        candidates.setdefault(g, []).append(p)
    for preds in candidates.values():
        free = next((p for p in preds if p not in taken), None)
        if free is not None:
            taken.add(free)
    return len(taken)


def point_match_result(
    inside: dict[str, np.ndarray], num_gt: int, num_pred: int, matching: str
) -> RewardResult:
    """F1 from per-phrase ``(n_gt, n_pred)`` inside matrices; phrases missing from ``inside`` match nothing."""
    if matching not in MATCHINGS:
        raise ValueError(f"point matching must be one of {MATCHINGS}, got {matching!r}")
    edge = empty_case(num_gt, num_pred)
    if edge is not None:
        return edge
    matched = sum(count_matches(m, matching) for m in inside.values())
    return f1_result(
        matched / num_pred, matched / num_gt, matched=matched, num_gt=num_gt, num_pred=num_pred
    )


@register_reward("point_in_box")
def point_in_box_reward(groups: list[ParsedGroup], gt: GroundTruth, matching: str = "greedy") -> RewardResult:
    """Score predicted points of ``groups`` against ``gt``'s boxes (pixels)."""
    gt_boxes = gt.targets("boxes")
    preds = predicted_points(groups, gt.width, gt.height)
    inside = {
        phrase: points_in_boxes(gt_boxes[phrase], pts)
        for phrase, pts in preds.items()
        if phrase in gt_boxes and len(gt_boxes[phrase]) and len(pts)
    }
    return point_match_result(inside, count(gt_boxes), count(preds), matching)
