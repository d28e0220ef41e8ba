"""``gui_hit``: did the answer hit the GUI element's box?

An item hits when it is a point inside the GT box (bounds inclusive) or a box whose centre is
inside it (the official ``calculate_gui_metrics`` rule; names and polygons are ignored). The GT box is
the first box of the ground truth's first phrase.

* ``mode="first"`` (default): only the first item of the answer counts: 1 if it hits, else 0.
* ``mode="any"``: 1 if any item hits (the official metric; spraying many items games it), or, with
  ``length_penalty=True``, the share of items that hit.
* ``iou_weight`` (w in [0, 1]): ``(1 - w)·hit + w·IoU(first box, GT)``, a dense signal for boxes.

No item scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dataset.grammar import ParsedGroup, dequantize, dequantize_box, dequantize_point
from rewards.ground_truth import GroundTruth, GroundTruthError
from rewards.matching import phrase_flat_bins
from rewards.registry import RewardResult, register_reward

MODES = ("first", "any")


def gt_box(gt: GroundTruth) -> np.ndarray:
    """The element's xyxy box (corners ordered)."""
    for targets in gt.answer.values():
        if len(targets.boxes):
            x0, y0, x1, y1 = targets.boxes[0]
            return np.array([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)])
    raise GroundTruthError(f"reward 'gui_hit' needs a box in the ground truth of {gt.dataset_name!r}")


def _centre(bins: Sequence[int], width: float, height: float) -> tuple[float, float]:
    if len(bins) == 2:
        return dequantize_point(bins, width, height)
    x0, y0, x1, y1 = dequantize_box(bins, width, height)
    return (x0 + x1) / 2, (y0 + y1) / 2


def item_centres(groups: list[ParsedGroup], width: float, height: float) -> np.ndarray:
    """``(n, 2)`` pixel centres of every point and box item (order not kept: for the any-item rule)."""
    _, points, _ = phrase_flat_bins(groups, "point")
    _, boxes, _ = phrase_flat_bins(groups, "box")
    p = np.array(points, dtype=np.float64).reshape(-1, 2)
    b = np.array(boxes, dtype=np.float64).reshape(-1, 2, 2).mean(axis=1)
    return dequantize(np.concatenate([p, b]), np.array([width, height], dtype=np.float64))


def first_item(groups: list[ParsedGroup]) -> tuple[int, ...] | None:
    """The bins of the answer's first point or box item."""
    for group in groups:
        for item in group.items:
            if item.kind in ("point", "box"):
                return item.bins
    return None


def _iou(bins: tuple[int, ...], box: np.ndarray, width: float, height: float) -> float:
    if len(bins) != 4:
        return 0.0
    x0, y0, x1, y1 = dequantize_box(bins, width, height)
    x0, x1, y0, y1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    iw, ih = min(x1, box[2]) - max(x0, box[0]), min(y1, box[3]) - max(y0, box[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = (x1 - x0) * (y1 - y0) + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return inter / union if union > 0 else 0.0


@register_reward("gui_hit")
def gui_hit_reward(groups: list[ParsedGroup], gt: GroundTruth, mode: str = "first", length_penalty: bool = False,
                   iou_weight: float = 0.0) -> RewardResult:
    """Score a GUI grounding or pointing answer; see the module docstring."""
    if mode not in MODES:
        raise ValueError(f"gui_hit mode must be one of {MODES}, got {mode!r}")
    box = gt_box(gt)
    first = first_item(groups)
    if first is None:
        return RewardResult(0.0, 0.0, 0.0, {"num_pred": 0.0})
    if mode == "first":
        cx, cy = _centre(first, gt.width, gt.height)
        hit = float(box[0] <= cx <= box[2] and box[1] <= cy <= box[3])
    else:
        centres = item_centres(groups, gt.width, gt.height)
        hits = ((centres[:, 0] >= box[0]) & (centres[:, 0] <= box[2]) & (centres[:, 1] >= box[1])
                & (centres[:, 1] <= box[3]))
        hit = float(hits.mean()) if length_penalty else float(hits.any())
    score = (1.0 - iou_weight) * hit + iou_weight * _iou(first, box, gt.width, gt.height) if iou_weight else hit
    return RewardResult(score, hit, hit, {"hit": hit})
