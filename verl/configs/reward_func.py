"""Reward entry point for the GRPO trainer (``reward_function: verl/configs/reward_func.py:compute_score``).

Only wiring: the math lives in :mod:`rewards`. Environment: ``DEBUG_MODE=true`` appends a
record per sample to ``$LOG_PATH`` (default ``<log_dir or $REWARD_LOG_DIR or cwd>/reward_debug.log``);
``LOG_VISUALIZE_PATH=<folder>`` saves GT-vs-prediction PNGs for samples whose image is passed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image

from rewards import score_batch


def compute_score(
    predicts: Sequence[str],
    ground_truths: Sequence[Mapping[str, Any]],
    *,
    reward_options: Mapping[str, Mapping[str, Any]] | None = None,
    images: Sequence[Image.Image | None] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> list[dict[str, float]]:
    """Score each decoded response against its ground truth (schema: :mod:`rewards.ground_truth`).

    Args:
        predicts: decoded responses, special tokens kept.
        ground_truths: one reward ground-truth dict per response; ``reward_name`` picks the reward.
        reward_options: per-reward keyword options, e.g. ``{"box_iou": {"matching": "one_to_one"}}``
            or ``{"point_in_box": {"matching": "maximum"}}``.
        images: optional PIL images (or None entries), used only for ``LOG_VISUALIZE_PATH``.
        log_dir: folder for the default debug log (else ``$REWARD_LOG_DIR``, else cwd).

    Returns:
        Per sample ``{"overall", "<reward_name>", "precision", "recall", "format_ok"}`` floats.

    Raises:
        GroundTruthError: a ground truth breaks the schema (the message names the key).
        UnknownRewardError: an unregistered ``reward_name``; the message lists the known ones.
    """
    return score_batch(predicts, ground_truths, reward_options=reward_options, images=images, log_dir=log_dir)
