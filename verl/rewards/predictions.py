"""Turn parsed answer groups into per-phrase pixel arrays (dequantised with ``bin / 999 * side``)."""

from __future__ import annotations

from itertools import accumulate, chain

import numpy as np

from dataset.grammar import ParsedGroup, dequantize_box, dequantize_point


def _bins(groups: list[ParsedGroup], kind: str, size: int) -> tuple[list[str], list[int], np.ndarray]:
    """Phrases in first-seen order, their item counts and all their bins as one ``(n, size)`` array.

    As the original reward did, a run written without commas (parsed as a polygon) counts as
    consecutive boxes or points when its length allows.
    """
    per_phrase: dict[str, list[int]] = {}
    for group in groups:
        flat = per_phrase.setdefault(group.phrase, [])
        flat.extend(group.flat_bins(kind))
        for run in group.of_kind("polygon") if group.uniform is None else ():
            if len(run) % size == 0:
                flat.extend(run)
    counts = [len(b) // size for b in per_phrase.values()]
    every = list(chain.from_iterable(per_phrase.values()))
    return list(per_phrase), counts, np.array(every, dtype=np.float64).reshape(-1, size)


def _split(phrases: list[str], counts: list[int], rows: np.ndarray) -> dict[str, np.ndarray]:
    ends = list(accumulate(counts))
    return {p: rows[end - n:end] for p, n, end in zip(phrases, counts, ends)}


def predicted_boxes(groups: list[ParsedGroup], width: float, height: float) -> dict[str, np.ndarray]:
    """Phrase -> ``(n, 4)`` xyxy pixel boxes, corners ordered so x0 <= x1 and y0 <= y1.

    Every phrase the model named gets an entry, possibly empty (``None`` answers); a phrase
    written twice has its items merged.
    """
    phrases, counts, bins = _bins(groups, "box", 4)
    # dequantize_box works column-wise on arrays: one codec for training, rewards and drawing.
    x0, y0, x1, y1 = dequantize_box(bins.T, width, height)
    boxes = np.stack([np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1)], 1)
    return _split(phrases, counts, boxes)


def predicted_points(groups: list[ParsedGroup], width: float, height: float) -> dict[str, np.ndarray]:
    """Phrase -> ``(n, 2)`` (x, y) pixel points; every named phrase gets an entry."""
    phrases, counts, bins = _bins(groups, "point", 2)
    x, y = dequantize_point(bins.T, width, height)
    return _split(phrases, counts, np.stack([x, y], 1))


def count(arrays: dict[str, np.ndarray]) -> int:
    """Total number of rows over all phrases."""
    return sum(len(a) for a in arrays.values())
