"""``point_in_mask``: like ``point_in_box`` but a prediction must fall on a pixel of the GT mask.

GT masks may be COCO RLE dicts (``{"size": [H, W], "counts": str | bytes | list[int]}``,
compressed or not) or polygons (``[[x0, y0, x1, y1, ...], ...]`` or one flat list) in pixels of
the ``W x H`` image. Each mask is decoded once per sample and looked up at every prediction.
A point at ``(x, y)`` tests pixel ``(floor(y), floor(x))``; the far edge ``x == W`` (bin 999)
belongs to the last column, and points outside ``[0, W] x [0, H]`` never count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from dataset.grammar import ParsedGroup
from verl.rewards.ground_truth import GroundTruth, GroundTruthError
from verl.rewards.points import point_match_result
from verl.rewards.predictions import count, predicted_points
from verl.rewards.registry import RewardResult, register_reward


def _polygons(mask: list[Any]) -> list[list[float]]:
    polys = mask if mask and isinstance(mask[0], (list, tuple)) else [mask]
    for poly in polys:
        if len(poly) < 6 or len(poly) % 2 or not all(isinstance(v, (int, float)) for v in poly):
            raise GroundTruthError(f"a polygon mask needs an even number (>= 6) of coordinates, got {poly!r}")
    return [[float(v) for v in poly] for poly in polys]


def decode_mask(mask: Any, width: int, height: int) -> np.ndarray:
    """Decode one GT mask (RLE dict or polygons) into an ``(height, width)`` bool array."""
    if isinstance(mask, Mapping):
        if "counts" not in mask or "size" not in mask:
            raise GroundTruthError(f"an RLE mask needs 'size' and 'counts', got keys {sorted(mask)}")
        if list(mask["size"]) != [height, width]:
            raise GroundTruthError(f"RLE mask size {list(mask['size'])} != image [H, W] {[height, width]}")
        rle = dict(mask)
        if isinstance(rle["counts"], list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(rle, height, width)
        elif isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
        return mask_utils.decode(rle).astype(bool)
    if isinstance(mask, (list, tuple)):
        rles = mask_utils.frPyObjects(_polygons(list(mask)), height, width)
        return mask_utils.decode(mask_utils.merge(rles)).astype(bool)
    raise GroundTruthError(f"a mask must be an RLE dict or polygons, got {type(mask).__name__}")


def points_in_masks(masks: list[Any], points: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(n_masks, n_points)`` bool: point ``j`` (pixels) lies on mask ``i``."""
    x, y = points[:, 0], points[:, 1]
    valid = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
    cols = np.clip(np.floor(np.where(valid, x, 0)), 0, width - 1).astype(np.int64)
    rows = np.clip(np.floor(np.where(valid, y, 0)), 0, height - 1).astype(np.int64)
    inside = np.zeros((len(masks), len(points)), dtype=bool)
    for i, mask in enumerate(masks):
        inside[i] = valid & decode_mask(mask, width, height)[rows, cols]
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
