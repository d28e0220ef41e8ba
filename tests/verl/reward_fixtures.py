"""Reward functions for GRPO tests: cheap, varied scores so advantages are non-zero on a random model."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any


def varied_reward(predicts: Sequence[str], ground_truths: Sequence[Any], **_: Any) -> list[dict[str, float]]:
    """A deterministic pseudo-random score in [0, 1) per response text (crc32), plus the real schema check."""
    for gt in ground_truths:
        assert {"reward_name", "dataset_name", "image_size", "answer"} <= set(gt)
    return [{"overall": (zlib.crc32(p.encode()) % 1000) / 1000.0, "length": float(len(p))} for p in predicts]


def flaky_reward(predicts: Sequence[str], ground_truths: Sequence[Any], **_: Any) -> list[dict[str, float]]:
    """Like ``varied_reward`` but raises for responses whose crc32 is even (exercises per-sample fallback)."""
    if any(zlib.crc32(p.encode()) % 2 == 0 for p in predicts):
        raise ValueError("flaky reward: even crc")
    return varied_reward(predicts, ground_truths)


_COORDINATE = re.compile(r"<(\d{1,3})>")


def first_bin_below_500(predicts: Sequence[str], ground_truths: Sequence[Any], **_: Any) -> list[dict[str, float]]:
    """1 when the response's first coordinate token ``<N>`` has ``N < 500``, else 0 (also without any): a reward
    even a random test-size policy earns about half the time and can learn to earn always."""
    scores = []
    for text in predicts:
        match = _COORDINATE.search(text)
        scores.append({"overall": float(match is not None and int(match.group(1)) < 500)})
    return scores
