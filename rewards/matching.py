"""Shared by the task rewards: one-to-one soft F1 over a weight matrix, OCR text keys and edit distance."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dataset.grammar import ParsedGroup
from rewards.assignment import max_weight_matching
from rewards.registry import RewardResult, empty_case, f1_result


def soft_f1(weights: np.ndarray, num_pred: int, num_gt: int, **details: float) -> RewardResult:
    """F1 of ``P = S / num_pred`` and ``R = S / num_gt``, where ``S`` is the largest total weight of a
    one-to-one assignment in ``weights`` ``(num_pred, num_gt)`` (each weight in ``[0, 1]``); the empty
    cases as everywhere (nothing on both sides: 1; one side empty: 0)."""
    edge = empty_case(num_gt, num_pred)
    if edge is not None:
        return RewardResult(edge.score, edge.precision, edge.recall, {**edge.details, **details})
    matched = 0.0
    if weights.size:
        rows, cols = max_weight_matching(weights)
        matched = float(weights[rows, cols].sum())
    return f1_result(matched / num_pred, matched / num_gt, num_gt=num_gt, num_pred=num_pred, matched=matched,
                     **details)


def text_key(text: str) -> str:
    """The official metric's OCR name normalisation: lower-cased, spaces and underscores deleted."""
    return text.lower().replace(" ", "").replace("_", "")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute, each 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def text_weights(pred_texts: Sequence[str], gt_texts: Sequence[str], similarity: str) -> np.ndarray:
    """``(n_pred, n_gt)`` text factor: ``"exact"`` 1 where the :func:`text_key` s are equal, else 0;
    ``"ned"`` 1 - normalised edit distance of the keys (distance / longer length)."""
    keys = {t: text_key(t) for t in {*pred_texts, *gt_texts}}
    pred_keys, gt_keys = [keys[t] for t in pred_texts], [keys[t] for t in gt_texts]
    if similarity == "exact":
        ids = {k: i for i, k in enumerate(set(keys.values()))}
        pred_ids = np.array([ids[k] for k in pred_keys], dtype=np.int64)
        gt_ids = np.array([ids[k] for k in gt_keys], dtype=np.int64)
        return (pred_ids[:, None] == gt_ids[None, :]).astype(np.float64)
    out = np.zeros((len(pred_keys), len(gt_keys)))
    for i, p in enumerate(pred_keys):
        for j, g in enumerate(gt_keys):
            longest = max(len(p), len(g))
            out[i, j] = 1.0 - edit_distance(p, g) / longest if longest else 1.0
    return out


def phrase_items(groups: Sequence[ParsedGroup], kind: str) -> tuple[list[str], list[list[int]], int]:
    """The items of ``kind`` in answer order: one phrase per item, each item's bins, and how many items
    of other kinds there are (well-formed groups are read without building their items)."""
    phrases: list[str] = []
    bins: list[list[int]] = []
    num_other = 0
    for group in groups:
        if group.uniform is not None:
            group_kind, flat = group.uniform
            size = 4 if group_kind == "box" else 2
            if group_kind != kind:
                num_other += len(flat) // size
                continue
            items = [flat[i:i + size] for i in range(0, len(flat), size)]
        else:
            items = [list(item.bins) for item in group.items if item.kind == kind]
            num_other += len(group.items) - len(items)
        phrases.extend([group.phrase] * len(items))
        bins.extend(items)
    return phrases, bins, num_other


def phrase_flat_bins(groups: Sequence[ParsedGroup], kind: str) -> tuple[list[str], list[int], int]:
    """:func:`phrase_items` for boxes or points, with the bins of all items in one flat list (4 or 2 per
    item): one ``extend`` per well-formed group."""
    size = 4 if kind == "box" else 2
    phrases: list[str] = []
    flat: list[int] = []
    num_other = 0
    for group in groups:
        if group.uniform is not None:
            group_kind, bins = group.uniform
            if group_kind != kind:
                num_other += len(bins) // (4 if group_kind == "box" else 2)
                continue
        else:
            bins = [b for item in group.items if item.kind == kind for b in item.bins]
            num_other += len(group.items) - len(bins) // size
        phrases.extend([group.phrase] * (len(bins) // size))
        flat.extend(bins)
    return phrases, flat, num_other
