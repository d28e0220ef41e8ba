"""Turn parsed answer groups into per-phrase pixel arrays (dequantised with ``bin / 999 * side``)."""

from __future__ import annotations

from itertools import accumulate, chain

import numpy as np

from dataset.grammar import ParsedGroup, dequantize, dequantize_point


def phrase_bins(groups: list[ParsedGroup], kind: str, size: int) -> dict[str, list[int]]:
    """Phrase (first-seen order) -> the bins of all its items of ``kind``, concatenated (``size`` per item).

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
    return per_phrase


def bin_array(per_phrase: dict[str, list[int]], size: int) -> tuple[list[str], list[int], np.ndarray]:
    """:func:`phrase_bins`' result as phrases, item counts and one ``(n, size)`` float64 array."""
    counts = [len(b) // size for b in per_phrase.values()]
    every = list(chain.from_iterable(per_phrase.values()))
    return list(per_phrase), counts, np.array(every, dtype=np.float64).reshape(-1, size)


def split_rows(phrases: list[str], counts: list[int], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Phrase -> its ``counts[i]`` consecutive rows of ``rows`` (views, no copies)."""
    ends = list(accumulate(counts))
    return {p: rows[end - n:end] for p, n, end in zip(phrases, counts, ends)}


def corner_ordered(boxes: np.ndarray) -> np.ndarray:
    """``(n, 4)`` xyxy boxes with x0 <= x1 and y0 <= y1 (one sort of each corner pair)."""
    return np.sort(boxes.reshape(-1, 2, 2), axis=1).reshape(-1, 4)


def predicted_box_array(groups: list[ParsedGroup], width: float, height: float) -> tuple[list[str], list[int],
                                                                                        np.ndarray]:
    """Phrases in first-seen order, their box counts, and all their pixel boxes as one ``(n, 4)`` array
    (corners ordered); :func:`predicted_boxes` splits it per phrase."""
    phrases, counts, bins = bin_array(phrase_bins(groups, "box", 4), 4)
    # The codec's dequantize on arrays: one formula for training, rewards and drawing.
    sides = np.array([width, height, width, height], dtype=np.float64)
    return phrases, counts, corner_ordered(dequantize(bins, sides))


def predicted_boxes(groups: list[ParsedGroup], width: float, height: float) -> dict[str, np.ndarray]:
    """Phrase -> ``(n, 4)`` xyxy pixel boxes, corners ordered so x0 <= x1 and y0 <= y1.

    Every phrase the model named gets an entry, possibly empty (``None`` answers); a phrase
    written twice has its items merged.
    """
    return split_rows(*predicted_box_array(groups, width, height))


def predicted_points(groups: list[ParsedGroup], width: float, height: float) -> dict[str, np.ndarray]:
    """Phrase -> ``(n, 2)`` (x, y) pixel points; every named phrase gets an entry."""
    phrases, counts, bins = bin_array(phrase_bins(groups, "point", 2), 2)
    x, y = dequantize_point(bins.T, width, height)
    return split_rows(phrases, counts, np.stack([x, y], 1))


def count(arrays: dict[str, np.ndarray]) -> int:
    """Total number of rows over all phrases."""
    return sum(len(a) for a in arrays.values())
