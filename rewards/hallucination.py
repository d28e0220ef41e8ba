"""``hallucination``: 1 iff the answer names no object (every group ``None``, or no group at all).

For negative-only samples (the asked phrases are absent): the official metric's ``Halluc_Acc``.
Items of any kind count; a malformed item that the parser drops does not.
"""

from __future__ import annotations

from dataset.grammar import ParsedGroup
from rewards.ground_truth import GroundTruth
from rewards.registry import RewardResult, register_reward


@register_reward("hallucination")
def hallucination_reward(groups: list[ParsedGroup], gt: GroundTruth) -> RewardResult:
    """1.0 when no group holds an item, else 0.0 (precision and recall equal the score)."""
    num_items = sum(len(g.items) for g in groups)
    score = 1.0 if num_items == 0 else 0.0
    return RewardResult(score, score, score, {"num_pred": float(num_items), "format_ok": 1.0})
