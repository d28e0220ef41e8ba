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
from rewards.debug_log import append_records, debug_enabled, debug_log_path, format_record
from rewards.ground_truth import GroundTruth, parse_ground_truth
from rewards.registry import RewardResult, get_reward
from rewards.visualize import save_comparison

END_OF_TEXT = "<|endoftext|>"


def format_ok(text: str, groups: list[ParsedGroup], gt: GroundTruth) -> float:
    """1.0 for a parsable answer or a blank one where nothing is expected; see the module docstring."""
    if groups:
        return 1.0
    blank = isinstance(text, str) and not text.split(IM_END, 1)[0].replace(END_OF_TEXT, "").strip()
    return 1.0 if blank and gt.is_empty else 0.0


def score_parsed(
    prediction: str, groups: list[ParsedGroup], gt: GroundTruth,
    reward_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[RewardResult, dict[str, float]]:
    """The reward's result and the returned row for one prediction and its parsed ``groups``."""
    reward = get_reward(gt.reward_name)
    # A reward marked ``reads_text`` (keypoints: a JSON answer, not phrase groups) gets the raw text.
    answer = prediction if getattr(reward, "reads_text", False) else groups
    result = reward(answer, gt, **dict((reward_options or {}).get(gt.reward_name, {})))
    row = {
        "overall": float(result.score),
        gt.reward_name: float(result.score),
        "precision": float(result.precision),
        "recall": float(result.recall),
        "format_ok": float(result.details.get("format_ok", format_ok(prediction, groups, gt))),
    }
    return result, row


def validate_all(ground_truths: Sequence[Mapping[str, Any]]) -> list[GroundTruth]:
    """Every ground truth validated, each distinct object once (the rollouts of a prompt share one)."""
    # Keyed by id(): ground_truths holds every dict for the whole call, so no id is reused meanwhile.
    validated: dict[int, GroundTruth] = {}
    out = []
    for raw in ground_truths:
        gt = validated.get(id(raw))
        if gt is None:
            gt = validated[id(raw)] = parse_ground_truth(raw)
        out.append(gt)
    return out


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

    All ground truths are validated first; one passed several times as the same object is validated once.
    """
    if len(predicts) != len(ground_truths):
        raise ValueError(f"{len(predicts)} predictions but {len(ground_truths)} ground truths")
    if images is not None and len(images) != len(predicts):
        raise ValueError(f"{len(images)} images but {len(predicts)} predictions")
    for name in reward_options or {}:
        get_reward(name)  # a typo in the options fails now, naming the known rewards
    env = os.environ if env is None else env
    debug, visualize_dir = debug_enabled(env), env.get("LOG_VISUALIZE_PATH", "")
    # Stage by stage over the whole batch (validate, parse, score): faster than sample by sample.
    gts = validate_all(ground_truths)
    answers = [parse_answer(text) for text in predicts]
    rows, records = [], []
    for index, (text, groups, gt) in enumerate(zip(predicts, answers, gts)):
        result, row = score_parsed(text, groups, gt, reward_options)
        rows.append(row)
        if debug:
            records.append(format_record(text, gt, result, row["format_ok"]))
        if visualize_dir and images is not None and images[index] is not None:
            save_comparison(visualize_dir, images[index], gt, groups, result.score, index, text=text)
    if records:
        append_records(debug_log_path(env, log_dir), records)
    return rows
