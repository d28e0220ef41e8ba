"""Rewards: unknown names and broken ground truths fail loudly; malformed predictions score 0."""

from __future__ import annotations

import math
from typing import Any

import pytest

from rewards import GroundTruthError, UnknownRewardError, known_rewards
from verl.configs.reward_func import compute_score


def _gt(**changes: Any) -> dict[str, Any]:
    gt: dict[str, Any] = {"reward_name": "box_iou", "dataset_name": "d", "image_size": [100, 100],
                          "answer": {"cat": {"boxes": [[0, 0, 10, 10]], "points": [[5, 5]],
                                              "masks": [[[0, 0, 10, 0, 10, 10, 0, 10]]]}}}
    gt.update(changes)
    return {k: v for k, v in gt.items() if v is not None}


def test_unknown_reward_lists_known_names() -> None:
    with pytest.raises(UnknownRewardError) as info:
        compute_score(["x"], [_gt(reward_name="box_iuo")])
    assert "box_iuo" in str(info.value)
    for name in known_rewards():
        assert name in str(info.value)


@pytest.mark.parametrize("changes, fragment", [
    ({"answer": None}, "'answer'"),
    ({"image_size": None}, "'image_size'"),
    ({"reward_name": None}, "'reward_name'"),
    ({"image_size": [0, 10]}, "'image_size'"),
    ({"answer": {"cat": {"boxes": [[1, 2, 3]]}}}, "answer['cat']['boxes'][0]"),
    ({"reward_name": "point_in_mask", "answer": {"cat": {"boxes": [[0, 0, 9, 9]]}}}, "answer['cat']['masks']"),
], ids=["no answer", "no image_size", "no reward_name", "zero image_size", "short GT box", "mask reward, no masks"])
def test_broken_ground_truth_names_the_key(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(GroundTruthError) as info:
        compute_score(["x"], [_gt(**changes)])
    assert fragment in str(info.value)


# (An unterminated last box, "...<|box_start|><1><2><3><4>", is parsed leniently as a box: not malformed.)
MALFORMED = [
    "", "garbage", "\x00\xff", "<|object_ref_start|>", "<|box_start|>" * 500,
    "<|object_ref_start|>cat<|object_ref_end|><|box_start|><1><2><3><|box_end|>",
    "<|object_ref_start|>cat<|object_ref_end|><|box_start|><a><b><c><d><|box_end|>",
    "<|object_ref_start|>dog<|object_ref_end|><|box_start|><1><2><3><4><|box_end|>",
]


@pytest.mark.parametrize("reward_name", ["box_iou", "point_in_box", "point_in_mask"])
def test_malformed_predictions_score_zero(reward_name: str) -> None:
    scores = compute_score(MALFORMED, [_gt(reward_name=reward_name)] * len(MALFORMED))
    for text, score in zip(MALFORMED, scores):
        assert math.isfinite(score["overall"]) and score["overall"] == 0.0, (text, score)
