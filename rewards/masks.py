"""``point_in_mask``: like ``point_in_box`` but a prediction must fall on a pixel of the GT mask.

GT masks are COCO RLE (compressed or not) or polygons, see :mod:`rewards.rle`. Each mask is
turned into run lengths once per sample and looked up at every prediction of its phrase. A point
``(x, y)`` tests pixel ``(floor(y), floor(x))``; the far edge ``x == W`` (bin 999) belongs to the
last column, and points outside ``[0, W] x [0, H]`` never count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dataset.grammar import ParsedGroup
from rewards.ground_truth import GroundTruth
from rewards.points import point_match_result
from rewards.predictions import count, predicted_points
from rewards.registry import RewardResult, register_reward
from rewards.rle import mask_runs, runs_contain


def points_in_masks(masks: list[Any], points: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(n_masks, n_points)`` bool: point ``j`` (pixels) lies on mask ``i``."""
    x, y = points[:, 0], points[:, 1]
    valid = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
    cols = np.clip(np.floor(np.where(valid, x, 0)), 0, width - 1).astype(np.int64)
    rows = np.clip(np.floor(np.where(valid, y, 0)), 0, height - 1).astype(np.int64)
    inside = np.zeros((len(masks), len(points)), dtype=bool)
    for i, mask in enumerate(masks):
        inside[i] = valid & runs_contain(mask_runs(mask, width, height), rows, cols, height)
    return inside


@register_reward("point_in_mask")
def point_in_mask_reward(groups: list[ParsedGroup], gt: GroundTruth, matching: str = "greedy") -> RewardResult:
    """Score predicted points of ``groups`` against ``gt``'s masks; matching as in ``point_in_box``."""
    gt_masks = gt.targets("masks")
    preds = predicted_points(groups, gt.width, gt.height)
    inside = {
        phrase: points_in_masks(gt_masks[phrase], pts, gt.width, gt.height)
        for phrase, pts in preds.items()
        if gt_masks.get(phrase) and len(pts)
    }
    return point_match_result(inside, count(gt_masks), count(preds), matching)
