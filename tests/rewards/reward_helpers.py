"""Helpers shared by the reward tests (a plain module: a second conftest.py would shadow the others)."""

from __future__ import annotations

from typing import Any

from dataset.grammar import compose_answer


def make_gt(answer: dict[str, dict[str, list]], reward_name: str = "box_iou", size: tuple[int, int] = (999, 999)) -> dict[str, Any]:
    """A schema-valid ground truth; on the default 999x999 image a bin equals a pixel."""
    return {"reward_name": reward_name, "dataset_name": "test", "image_size": list(size), "answer": answer}


def answer(*groups: tuple[str, list[tuple[int, ...]] | None]) -> str:
    """Compose a model answer from ``(phrase, bins-or-None)`` groups."""
    return compose_answer(groups) + "<|im_end|>"
