"""``gui_hit``: did the answer hit the GUI element's box?

An item hits when it is a point inside the GT box (bounds inclusive) or a box whose centre is
inside it (the official ``calculate_gui_metrics`` rule; names and polygons are ignored). The GT box is
the first box of the ground truth's first phrase.

* ``mode="first"`` (default): only the first item of the answer counts: 1 if it hits, else 0.
* ``mode="any"``: 1 if any item hits (the official metric; spraying many items games it), or, with
  ``length_penalty=True``, the share of items that hit.
* ``iou_weight`` (w in [0, 1]): ``(1 - w)·hit + w·IoU(first box, GT)``, a dense signal for boxes.

No item scores 0.

Speed (``mode="any"``): the rule compares every item with one box, so its cost is the work per
item, which a per-item loop spends turning bins into pixels. A bin's pixel coordinate
(``bin / 999 * side``, the codec's floats) only grows with the bin, so the bins that can hit follow
from the GT box alone: a point's x bin lies within 2 bins of ``[x0, x1] / side * 999``, a box's two x
bins sum to within 2 of twice that. Each item costs one or two int comparisons with those bounds; only
near items are scored, by the rule itself with the codec's floats, so the score is the rule's exactly
(the floats err by far less than a bin; bins are 0..999). The GT box is read once per ground truth
(``GroundTruth.first_box``), and the hit and miss results are built once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dataset.grammar import MAX_BIN, ParsedGroup, dequantize_box, dequantize_point
from rewards.ground_truth import GroundTruth, GroundTruthError
from rewards.registry import RewardResult, register_reward

MODES = ("first", "any")
Box = tuple[float, float, float, float]
_NO_ITEM = RewardResult(0.0, 0.0, 0.0, {"num_pred": 0.0})
_HIT = RewardResult(1.0, 1.0, 1.0, {"hit": 1.0})
_MISS = RewardResult(0.0, 0.0, 0.0, {"hit": 0.0})


def flat_items(groups: Sequence[ParsedGroup]) -> tuple[list[int], list[int]]:
    """The bins of every point item (2 each) and every box item (4 each), each kind in one flat list
    (an answer of one well-formed group is returned as it is, not copied)."""
    if len(groups) == 1 and groups[0].uniform is not None:
        kind, bins = groups[0].uniform
        return (bins, []) if kind == "point" else ([], bins)
    points: list[int] = []
    boxes: list[int] = []
    for group in groups:
        if group.uniform is not None:
            kind, bins = group.uniform
            (points if kind == "point" else boxes).extend(bins)
            continue
        for item in group.items:
            if item.kind == "point":
                points.extend(item.bins)
            elif item.kind == "box":
                boxes.extend(item.bins)
    return points, boxes


def _point_hits(flat: list[int], box: Box, width: float, height: float, stop_at_first: bool) -> int:
    try:  # x bins 2 below x0's and 2 above x1's
        lowest, highest = math.floor(box[0] / width * MAX_BIN) - 2, math.ceil(box[2] / width * MAX_BIN) + 2
    except OverflowError:  # a GT coordinate near the float limit: every item is scored
        lowest, highest = -math.inf, math.inf
    hits = 0
    for i in range(0, len(flat), 2):
        # Near bins only, then the per-item rule with the codec's floats (as dequantize_point).
        if flat[i] >= lowest and flat[i] <= highest and box[0] <= flat[i] / MAX_BIN * width <= box[2] \
                and box[1] <= flat[i + 1] / MAX_BIN * height <= box[3]:
            hits += 1
            if stop_at_first:
                break
    return hits


def _box_hits(flat: list[int], box: Box, width: float, height: float, stop_at_first: bool) -> int:
    try:  # sums of a box's two x bins: 2 below twice x0's bin and 2 above twice x1's
        lowest = math.floor(box[0] / width * 2 * MAX_BIN) - 2
        highest = math.ceil(box[2] / width * 2 * MAX_BIN) + 2
    except OverflowError:
        lowest, highest = -math.inf, math.inf
    hits = 0
    for i in range(0, len(flat), 4):
        # Near sums only, then the per-item rule with the codec's floats (as dequantize_box, then the centre).
        if lowest <= flat[i] + flat[i + 2] <= highest:
            cx = (flat[i] / MAX_BIN * width + flat[i + 2] / MAX_BIN * width) / 2
            cy = (flat[i + 1] / MAX_BIN * height + flat[i + 3] / MAX_BIN * height) / 2
            if box[0] <= cx <= box[2] and box[1] <= cy <= box[3]:
                hits += 1
                if stop_at_first:
                    break
    return hits


def hit_count(groups: list[ParsedGroup], box: Box, width: float, height: float,
              stop_at_first: bool) -> tuple[int, int]:
    """``(hits, items)`` over every point and box item (box items by their centre); with
    ``stop_at_first`` the hits stop at 1."""
    points, boxes = flat_items(groups)
    hits = _point_hits(points, box, width, height, stop_at_first) if points else 0
    if boxes and not (hits and stop_at_first):
        hits += _box_hits(boxes, box, width, height, stop_at_first)
    return hits, len(points) // 2 + len(boxes) // 4


def first_item(groups: list[ParsedGroup]) -> tuple[int, ...] | None:
    """The bins of the answer's first point or box item."""
    for group in groups:
        if group.uniform is not None:
            kind, bins = group.uniform
            return tuple(bins[:4 if kind == "box" else 2])
        for item in group.items:
            if item.kind in ("point", "box"):
                return item.bins
    return None


def _centre(bins: Sequence[int], width: float, height: float) -> tuple[float, float]:
    if len(bins) == 2:
        return dequantize_point(bins, width, height)
    x0, y0, x1, y1 = dequantize_box(bins, width, height)
    return (x0 + x1) / 2, (y0 + y1) / 2


def _iou(bins: tuple[int, ...], box: Box, width: float, height: float) -> float:
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
    if mode != "first" and mode != "any":
        raise ValueError(f"gui_hit mode must be one of {MODES}, got {mode!r}")
    box = gt.first_box
    if box is None:
        raise GroundTruthError(f"reward 'gui_hit' needs a box in the ground truth of {gt.dataset_name!r}")
    first = first_item(groups) if mode == "first" or iou_weight else ()
    if first is None:
        return _NO_ITEM
    if mode == "first":
        cx, cy = _centre(first, gt.width, gt.height)
        hit = float(box[0] <= cx <= box[2] and box[1] <= cy <= box[3])
    else:
        hits, items = hit_count(groups, box, gt.width, gt.height, not length_penalty)
        if not items:
            return _NO_ITEM
        hit = hits / items if length_penalty else float(hits > 0)
    if iou_weight:
        score = (1.0 - iou_weight) * hit + iou_weight * _iou(first, box, gt.width, gt.height)
        return RewardResult(score, hit, hit, {"hit": hit})
    # Hit or miss: the two results are built once (frozen, and no caller changes their details).
    return _HIT if hit == 1.0 else _MISS if hit == 0.0 else RewardResult(hit, hit, hit, {"hit": hit})
