"""``polygon_iou``: OCR with polygons, the ``ocr_box_iou`` F1 with exact polygon IoU as the geometry.

Predictions are the polygon items (``2k`` bins, k >= 3) of each text group; the IoU is
``dataset.polygons.paired_iou`` (exact, in pixels; computed only for pairs whose text matches and
whose hull boxes overlap, the others being 0), 0 for an invalid polygon (self-intersecting,
zero area, repeated vertex), as the official metric's shapely test gives. A 4-bin item is a box to
every parser, so it counts as a prediction of weight 0, as do points. ``text_match=False`` drops the
text condition (pure polygon detection); ``text_sim`` and don't-care regions as in ``ocr_box_iou``.
"""

from __future__ import annotations

import numpy as np

from dataset.grammar import ParsedGroup, dequantize_polygon
from dataset.polygons import paired_iou
from rewards.ground_truth import GroundTruth
from rewards.matching import phrase_items
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
    texts, bins, num_other = phrase_items(groups, "polygon")
    polygons = [dequantize_polygon(b, gt.width, gt.height) for b in bins]
    if not text_match:
        texts = [""] * len(texts)
    gt_texts, gt_polygons = gt_instances(gt, "polygons")
    if not text_match:
        gt_texts = [""] * len(gt_texts)
    hulls = hull_boxes(polygons)

    def iou(candidates: np.ndarray) -> np.ndarray:
        """Exact IoU only for pairs whose text matches and whose hull boxes overlap (else it is 0)."""
        refs = hull_boxes([tuple(p) for p in gt_polygons])
        a, b = hulls[:, None, :], refs[None, :, :]
        overlap = ((np.minimum(a[..., 2], b[..., 2]) > np.maximum(a[..., 0], b[..., 0]))
                   & (np.minimum(a[..., 3], b[..., 3]) > np.maximum(a[..., 1], b[..., 1])))
        rows, cols = np.nonzero(candidates & overlap)
        out = np.zeros(candidates.shape)
        out[rows, cols] = paired_iou(polygons, gt_polygons, rows, cols)
        return out

    return text_matched_f1(texts, hulls, num_other, gt_texts, iou, ignore_boxes(gt), text_sim)
