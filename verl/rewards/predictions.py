"""Turn parsed answer groups into per-phrase pixel arrays (dequantised with ``bin / 999 * side``)."""

from __future__ import annotations

import numpy as np

from dataset.grammar import ParsedGroup, dequantize_box, dequantize_point


def _bins(groups: list[ParsedGroup], kind: str, size: int) -> dict[str, np.ndarray]:
    per_phrase: dict[str, list[tuple[int, ...]]] = {}
    for group in groups:
        per_phrase.setdefault(group.phrase, []).extend(group.of_kind(kind))
    return {p: np.asarray(b, dtype=np.float64).reshape(-1, size) for p, b in per_phrase.items()}


def predicted_boxes(groups: list[ParsedGroup], width: float, height: float) -> dict[str, np.ndarray]:
    """Phrase -> ``(n, 4)`` xyxy pixel boxes, corners ordered so x0 <= x1 and y0 <= y1.

    Every phrase the model named gets an entry, possibly empty (``None`` answers); a phrase
    written twice has its items merged.
    """
    out = {}
    for phrase, bins in _bins(groups, "box", 4).items():
        if len(bins) == 0:
            out[phrase] = bins
            continue
        # dequantize_box works column-wise on arrays: one codec for training, rewards and drawing.
        x0, y0, x1, y1 = dequantize_box(bins.T, width, height)
        boxes = np.stack([np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1)], 1)
        out[phrase] = boxes.reshape(-1, 4)
    return out


def predicted_points(groups: list[ParsedGroup], width: float, height: float) -> dict[str, np.ndarray]:
    """Phrase -> ``(n, 2)`` (x, y) pixel points; every named phrase gets an entry."""
    out = {}
    for phrase, bins in _bins(groups, "point", 2).items():
        if len(bins) == 0:
            out[phrase] = bins
            continue
        x, y = dequantize_point(bins.T, width, height)
        out[phrase] = np.stack([x, y], 1).reshape(-1, 2)
    return out


def count(arrays: dict[str, np.ndarray]) -> int:
    """Total number of rows over all phrases."""
    return sum(len(a) for a in arrays.values())
