"""GRPO reward math: pure functions of (parsed answer, validated ground truth) -> score.

Importing the package registers the built-in rewards ``box_iou``, ``point_in_box`` and
``point_in_mask``, and the task rewards ``vp_box_iou``, ``keypoint_oks``, ``ocr_box_iou``,
``polygon_iou``, ``gui_hit`` and ``hallucination`` (``docs/tasks.md``); see :mod:`rewards.registry` for adding your own.
"""

# Importing these modules registers their rewards.
from rewards import (  # noqa: F401
    box_iou,
    gui,
    hallucination,
    keypoint_oks,
    masks,
    ocr,
    points,
    polygon_iou,
    visual_prompt,
)
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
