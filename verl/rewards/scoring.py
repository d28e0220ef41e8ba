"""Score a batch: validate ground truths, parse answers, dispatch by ``reward_name``, then log/draw.

Each sample yields ``{"overall", "<reward_name>", "precision", "recall", "format_ok"}`` (floats).
``format_ok`` is 1.0 when ``parse_answer`` found at least one phrase group, or when the answer is
blank (nothing but whitespace before ``<|im_end|>``/``<|endoftext|>``) and the ground truth has
no objects at all; otherwise 0.0. It is a diagnostic and does not change ``overall``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image

from dataset.grammar import IM_END, ParsedGroup, parse_answer
from verl.rewards.debug_log import append_records, debug_enabled, debug_log_path, format_record
from verl.rewards.ground_truth import GroundTruth, parse_ground_truth
from verl.rewards.registry import RewardResult, get_reward
from verl.rewards.visualize import save_comparison

END_OF_TEXT = "<|endoftext|>"


def format_ok(text: str, groups: list[ParsedGroup], gt: GroundTruth) -> float:
    """1.0 for a parsable answer or a blank one where nothing is expected; see the module docstring."""
    if groups:
        return 1.0
    blank = isinstance(text, str) and not text.split(IM_END, 1)[0].replace(END_OF_TEXT, "").strip()
    return 1.0 if blank and gt.is_empty else 0.0


def score_sample(
    prediction: str, gt: GroundTruth, reward_options: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[list[ParsedGroup], RewardResult, dict[str, float]]:
    """Parsed groups, the reward's result and the returned row for one prediction."""
    reward = get_reward(gt.reward_name)
    groups = parse_answer(prediction)
    result = reward(groups, gt, **dict((reward_options or {}).get(gt.reward_name, {})))
    row = {
        "overall": float(result.score),
        gt.reward_name: float(result.score),
        "precision": float(result.precision),
        "recall": float(result.recall),
        "format_ok": format_ok(prediction, groups, gt),
    }
    return groups, result, row


def score_batch(
    predicts: Sequence[str],
    ground_truths: Sequence[Mapping[str, Any]],
    *,
    reward_options: Mapping[str, Mapping[str, Any]] | None = None,
    images: Sequence[Image.Image | None] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[dict[str, float]]:
    """Score ``predicts[i]`` against ``ground_truths[i]``; see :func:`verl.configs.reward_func.compute_score`.

    A ground truth passed several times as the same object (the rollouts of one prompt) is validated once.
    """
    if len(predicts) != len(ground_truths):
        raise ValueError(f"{len(predicts)} predictions but {len(ground_truths)} ground truths")
    if images is not None and len(images) != len(predicts):
        raise ValueError(f"{len(images)} images but {len(predicts)} predictions")
    for name in reward_options or {}:
        get_reward(name)  # a typo in the options fails now, naming the known rewards
    env = os.environ if env is None else env
    debug, visualize_dir = debug_enabled(env), env.get("LOG_VISUALIZE_PATH", "")
    # Keyed by id(): ground_truths holds every dict for the whole call, so no id is reused meanwhile.
    validated: dict[int, GroundTruth] = {}
    rows, records = [], []
    for index, (text, raw_gt) in enumerate(zip(predicts, ground_truths)):
        gt = validated.get(id(raw_gt))
        if gt is None:
            gt = validated[id(raw_gt)] = parse_ground_truth(raw_gt)
        groups, result, row = score_sample(text, gt, reward_options)
        rows.append(row)
        if debug:
            records.append(format_record(text, gt, result, row["format_ok"]))
        if visualize_dir and images is not None and images[index] is not None:
            save_comparison(visualize_dir, images[index], gt, groups, result.score, index)
    if records:
        append_records(debug_log_path(env, log_dir), records)
    return rows
