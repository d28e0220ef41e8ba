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

from dataset.grammar import MAX_BIN, ParsedGroup, dequantize_box, dequantize_point
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


def hit_counts(groups: list[ParsedGroup], box: np.ndarray, width: float, height: float,
               stop_at_first: bool) -> tuple[int, int]:
    """``(hits, items)`` over every point and box item (box items by their centre); with ``stop_at_first``
    the walk ends at the first hit. Plain Python over each group's flat bins: one GT box, tens of items,
    where numpy's per-call cost is larger than the loop."""
    x0, y0, x1, y1 = (float(v) for v in box)
    hits = items = 0
    for kind, size in (("point", 2), ("box", 4)):
        _, flat, _ = phrase_flat_bins(groups, kind)
        for i in range(0, len(flat), size):
            # The codec's bin / 999 * side, written out (same floats as dequantize).
            if size == 2:
                cx, cy = flat[i] / MAX_BIN * width, flat[i + 1] / MAX_BIN * height
            else:
                cx = (flat[i] / MAX_BIN * width + flat[i + 2] / MAX_BIN * width) / 2
                cy = (flat[i + 1] / MAX_BIN * height + flat[i + 3] / MAX_BIN * height) / 2
            items += 1
            if x0 <= cx <= x1 and y0 <= cy <= y1:
                hits += 1
                if stop_at_first:
                    return hits, items
    return hits, items


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
        hits, items = hit_counts(groups, box, gt.width, gt.height, stop_at_first=not length_penalty)
        hit = hits / items if length_penalty else float(hits > 0)
    score = (1.0 - iou_weight) * hit + iou_weight * _iou(first, box, gt.width, gt.height) if iou_weight else hit
    return RewardResult(score, hit, hit, {"hit": hit})
