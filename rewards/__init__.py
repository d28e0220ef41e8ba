"""GRPO reward math: pure functions of (parsed answer, validated ground truth) -> score.

Importing the package registers the built-in rewards ``box_iou``, ``point_in_box`` and
``point_in_mask``; see :mod:`rewards.registry` for adding your own.
"""

from rewards import box_iou, masks, points  # noqa: F401  (registers the built-ins)
from rewards.ground_truth import GroundTruth, GroundTruthError, PhraseTargets, parse_ground_truth
from rewards.registry import (
    RewardResult,
    UnknownRewardError,
    f1_result,
    get_reward,
    known_rewards,
    register_reward,
)
from rewards.scoring import score_batch

__all__ = [
    "GroundTruth",
    "GroundTruthError",
    "PhraseTargets",
    "RewardResult",
    "UnknownRewardError",
    "f1_result",
    "get_reward",
    "known_rewards",
    "parse_ground_truth",
    "register_reward",
    "score_batch",
]
