"""``vp_box_iou``: visual prompting, a one-to-one box F1 over the group named by the prompt's key.

The ground truth holds one phrase, the prompt's JSON key (``object_1`` or the category), with every
box of the category. Predictions are the boxes of the groups with that phrase (other groups are
ignored, as the evaluation keeps only ``extracted_predictions[key]``; ``phrase_agnostic=True`` pools
every group). Each prediction pairs with at most one GT box (largest total IoU), so a model that
copies only the ``k`` exemplars scores recall ``k/N``, and repeating a box adds only to precision's
denominator. ``count_weight`` (λ >= 0) subtracts ``λ·|n_pred - n_gt| / max(n_gt, 1)``, floored at 0.
"""

from __future__ import annotations

import numpy as np

from dataset.grammar import ParsedGroup, dequantize_box
from rewards.box_iou import pairwise_iou
from rewards.ground_truth import GroundTruth
from rewards.matching import soft_f1
from rewards.registry import RewardResult, register_reward


def predicted_key_boxes(groups: list[ParsedGroup], keys: set[str] | None, width: float,
                        height: float) -> np.ndarray:
    """``(n, 4)`` pixel boxes (corners ordered) of the groups whose phrase is in ``keys`` (``None``: all)."""
    bins = [b for g in groups if keys is None or g.phrase in keys for b in g.of_kind("box")]
    if not bins:
        return np.zeros((0, 4))
    boxes = np.array([dequantize_box(b, width, height) for b in bins], dtype=np.float64)
    return np.sort(boxes.reshape(-1, 2, 2), axis=1).reshape(-1, 4)


@register_reward("vp_box_iou")
def vp_box_iou_reward(groups: list[ParsedGroup], gt: GroundTruth, phrase_agnostic: bool = False,
                      count_weight: float = 0.0) -> RewardResult:
    """Score a visual-prompt answer; see the module docstring."""
    targets = gt.targets("boxes")
    refs = np.concatenate([np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in targets.values()]) \
        if targets else np.zeros((0, 4))
    refs = np.sort(refs.reshape(-1, 2, 2), axis=1).reshape(-1, 4)
    preds = predicted_key_boxes(groups, None if phrase_agnostic else set(targets), gt.width, gt.height)
    result = soft_f1(pairwise_iou(preds, refs), len(preds), len(refs))
    if count_weight <= 0:
        return result
    penalty = count_weight * abs(len(preds) - len(refs)) / max(len(refs), 1)
    return RewardResult(max(result.score - penalty, 0.0), result.precision, result.recall,
                        {**result.details, "count_penalty": penalty})
