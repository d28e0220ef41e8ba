"""Validate the reward ground truth that the GRPO dataset attaches to every sample.

Schema (pixels of the original image, xyxy boxes, phrases already cleaned)::

    {"reward_name": "box_iou", "dataset_name": "coco", "image_size": [W, H],
     "answer": {"dog": {"boxes": [[x0, y0, x1, y1]], "points": [[x, y]], "masks": [rle_or_polygons]},
                "cat": {"boxes": [], "points": [], "masks": []}}}   # all-empty phrase: a negative

``dataset_name`` is only used in logs and defaults to ``"unknown"``; a phrase may omit any of
``boxes``/``points``/``masks`` (read as empty). Everything else is checked here, and a broken
sample raises :class:`GroundTruthError` naming the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate, chain
from typing import Any

import numpy as np

REQUIRED_KEYS = ("reward_name", "image_size", "answer")
TARGET_KINDS = ("boxes", "points", "masks")


class GroundTruthError(ValueError):
    """The ground-truth dict does not follow the reward schema."""


@dataclass(frozen=True)
class PhraseTargets:
    """Objects of one phrase: ``(n, 4)`` xyxy boxes and ``(n, 2)`` points in pixels (float64), raw masks."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    masks: list[Any] = field(default_factory=list)

    @property
    def is_negative(self) -> bool:
        """True when the phrase has no objects at all (the right answer is ``None``)."""
        return not (len(self.boxes) or len(self.points) or len(self.masks))


@dataclass(frozen=True)
class GroundTruth:
    """A validated ground truth; ``width``/``height`` in pixels."""

    reward_name: str
    dataset_name: str
    width: int
    height: int
    answer: dict[str, PhraseTargets]
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when no phrase has any object."""
        return all(t.is_negative for t in self.answer.values())

    @cached_property
    def first_box(self) -> tuple[float, float, float, float] | None:
        """The first box of the first phrase that has one, as xyxy pixels with ordered corners (``None``:
        no box). Read once per ground truth, which a prompt's rollouts share."""
        for targets in self.answer.values():
            if len(targets.boxes):
                x0, y0, x1, y1 = targets.boxes[0].tolist()
                return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)
        return None

    def targets(self, kind: str) -> dict[str, Any]:
        """Per phrase, the objects of ``kind`` (an array for boxes/points, a list for masks).

        A phrase that has objects but none of ``kind`` cannot be scored by that reward, so it
        raises instead of being silently dropped (the original dropped it).
        """
        out: dict[str, Any] = {}
        for phrase, t in self.answer.items():
            items = getattr(t, kind)
            if not len(items) and not t.is_negative:
                raise GroundTruthError(
                    f"reward {self.reward_name!r} needs answer[{phrase!r}][{kind!r}], "
                    f"but that phrase only has other kinds of objects"
                )
            out[phrase] = items
        return out


def _numbers(value: Any, length: int, where: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != length:
        raise GroundTruthError(f"{where} must be a list of {length} numbers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise GroundTruthError(f"{where} must hold finite numbers, got {value!r}")
        out.append(float(v))
    return tuple(out)


def _array(values: Any, size: int, where: str) -> np.ndarray:
    """``(n, size)`` float64 array; the fast path is one numpy call, the slow one finds the bad item."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):
        arr = None
    ok = arr is not None and (arr.size == 0 or (arr.dtype.kind in "iuf" and arr.ndim == 2 and arr.shape[1] == size))
    if ok and np.isfinite(arr).all():
        return arr.astype(np.float64).reshape(-1, size)
    for i, v in enumerate(values):  # raises with the index of the first bad entry
        _numbers(v, size, f"{where}[{i}]")
    raise GroundTruthError(f"{where} must be a list of {size}-number lists")


def _read_only(arr: np.ndarray) -> np.ndarray:
    # A validated ground truth is shared by the rollouts of one prompt, so nothing may edit it.
    arr.flags.writeable = False
    return arr


_EMPTY = {size: _read_only(np.zeros((0, size))) for size in (2, 4)}
_SEQUENCES = {list, tuple}
_FLOAT = {float}
_NUMBERS = {int, float}


def _numeric_rows(values: list[Any]) -> np.ndarray | None:
    """``values`` as a flat read-only float64 array when they are plain finite ints or floats, the ints
    small enough for numpy's integers (it reads larger ones as objects, which :func:`_array` refuses);
    else ``None``."""
    types = set(map(type, values))
    if types <= _FLOAT:
        flat = np.array(values, dtype=np.float64)
    elif types <= _NUMBERS:
        flat = np.array(values)
        if flat.dtype.kind != "i" and flat.dtype.kind != "f":
            return None
    else:
        return None
    return _read_only(flat.astype(np.float64, copy=False)) if np.isfinite(flat).all() else None


def _views(rows: np.ndarray, lists: list[Any]) -> list[np.ndarray]:
    """Consecutive row blocks of ``rows``, one per entry of ``lists``, as long as that entry."""
    return [rows[end - len(v):end] if v else _EMPTY[rows.shape[1]]
            for v, end in zip(lists, accumulate(map(len, lists)))]


def _stacked(boxes: list[Any], points: list[Any]) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """Per phrase, ``(n, 4)`` boxes and ``(n, 2)`` points (float64 views) from one conversion for all
    phrases; ``None`` when anything is unusual, and :func:`_array` then decides and names the bad item.

    Accepts only what :func:`_array` accepts: lists or tuples of 4 (2) plain finite numbers.
    """
    box_items, point_items = list(chain.from_iterable(boxes)), list(chain.from_iterable(points))
    items = box_items + point_items
    if not set(map(type, items)) <= _SEQUENCES:
        return None
    if (box_items and set(map(len, box_items)) != {4}) or (point_items and set(map(len, point_items)) != {2}):
        return None
    flat = _numeric_rows(list(chain.from_iterable(items))) if items else _EMPTY[4].reshape(-1)
    if flat is None:
        return None
    split = 4 * len(box_items)
    return _views(flat[:split].reshape(-1, 4), boxes), _views(flat[split:].reshape(-1, 2), points)


def _check_entry(phrase: str, entry: Any) -> Mapping[str, Any]:
    if not isinstance(entry, Mapping):
        raise GroundTruthError(f"answer[{phrase!r}] must be a dict with keys {TARGET_KINDS}, got {type(entry).__name__}")
    for kind in TARGET_KINDS:
        if not isinstance(entry.get(kind, []), (list, tuple)):
            raise GroundTruthError(f"answer[{phrase!r}][{kind!r}] must be a list")
    return entry


def _phrase_targets(phrase: str, entry: Mapping[str, Any]) -> PhraseTargets:
    """One phrase's targets, checked item by item (the path that names a bad item)."""
    where = f"answer[{phrase!r}]"
    boxes = _read_only(_array(entry.get("boxes", []), 4, f"{where}['boxes']"))
    points = _read_only(_array(entry.get("points", []), 2, f"{where}['points']"))
    return PhraseTargets(boxes=boxes, points=points, masks=list(entry.get("masks", [])))


def _answer_targets(answer: Mapping[Any, Any]) -> dict[str, PhraseTargets]:
    """Phrase -> targets; boxes and points of all phrases are converted at once when they are well formed."""
    entries = {str(p): _check_entry(str(p), e) for p, e in answer.items()}
    stacked = _stacked([e.get("boxes", []) for e in entries.values()], [e.get("points", []) for e in entries.values()])
    if stacked is None:
        return {p: _phrase_targets(p, e) for p, e in entries.items()}
    return {p: PhraseTargets(boxes=b, points=q, masks=list(e.get("masks", [])))
            for (p, e), b, q in zip(entries.items(), *stacked)}


def parse_ground_truth(gt: Mapping[str, Any]) -> GroundTruth:
    """Check ``gt`` against the schema and return a :class:`GroundTruth`."""
    if not isinstance(gt, Mapping):
        raise GroundTruthError(f"ground truth must be a dict, got {type(gt).__name__}")
    for key in REQUIRED_KEYS:
        if key not in gt:
            raise GroundTruthError(f"ground truth is missing key {key!r} (has {sorted(gt)})")
    if not isinstance(gt["reward_name"], str):
        raise GroundTruthError(f"ground truth 'reward_name' must be a string, got {gt['reward_name']!r}")
    width, height = _numbers(gt["image_size"], 2, "ground truth 'image_size' [W, H]")
    if width <= 0 or height <= 0:
        raise GroundTruthError(f"ground truth 'image_size' must be positive, got {gt['image_size']!r}")
    answer = gt["answer"]
    if not isinstance(answer, Mapping):
        raise GroundTruthError(f"ground truth 'answer' must be a dict phrase -> objects, got {answer!r}")
    return GroundTruth(
        reward_name=gt["reward_name"],
        dataset_name=str(gt.get("dataset_name", "unknown")),
        width=int(width),
        height=int(height),
        answer=_answer_targets(answer),
        raw=gt,
    )
