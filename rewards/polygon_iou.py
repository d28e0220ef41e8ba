"""``polygon_iou``: OCR with polygons, the ``ocr_box_iou`` F1 with exact polygon IoU as the geometry.

Predictions are the polygon items (``2k`` bins, k >= 3) of each text group; the IoU is
``dataset.polygons.pairwise_iou`` (exact, in pixels), 0 for an invalid polygon (self-intersecting,
zero area, repeated vertex), as the official metric's shapely test gives. A 4-bin item is a box to
every parser, so it counts as a prediction of weight 0, as do points. ``text_match=False`` drops the
text condition (pure polygon detection); ``text_sim`` and don't-care regions as in ``ocr_box_iou``.
"""

from __future__ import annotations

import numpy as np

from dataset.grammar import ParsedGroup, dequantize_polygon
from dataset.polygons import pairwise_iou
from rewards.ground_truth import GroundTruth
from rewards.ocr import gt_instances, ignore_boxes, text_matched_f1
from rewards.registry import RewardResult, register_reward


def hull_boxes(polygons: list[tuple[float, ...]]) -> np.ndarray:
    """``(n, 4)`` axis-aligned boxes around flat polygons."""
    return np.array([[min(p[0::2]), min(p[1::2]), max(p[0::2]), max(p[1::2])] for p in polygons],
                    dtype=np.float64).reshape(-1, 4)


@register_reward("polygon_iou")
def polygon_iou_reward(groups: list[ParsedGroup], gt: GroundTruth, text_sim: str = "exact",
                       text_match: bool = True) -> RewardResult:
    """Score an OCR polygon answer; see the module docstring."""
    texts, polygons, num_other = [], [], 0
    for group in groups:
        for item in group.items:
            if item.kind == "polygon":
                texts.append(group.phrase if text_match else "")
                polygons.append(dequantize_polygon(item.bins, gt.width, gt.height))
            else:
                num_other += 1
    gt_texts, gt_polygons = gt_instances(gt, "polygons")
    if not text_match:
        gt_texts = [""] * len(gt_texts)
    return text_matched_f1(texts, hull_boxes(polygons), num_other, gt_texts,
                           lambda: pairwise_iou(polygons, gt_polygons), ignore_boxes(gt), text_sim)
