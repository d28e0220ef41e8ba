"""Run task functions written for the original Rex-Omni code.

The original called ``fn(example, ori_width, ori_height)`` with
``example["annotations"] = {"boxes": [[x0, y0, x1, y1], ...], "labels": [str, ...]}`` and read
``example["conversations"]`` (a human turn ``"<image>\\n" + question`` and a gpt turn with the
answer). Here task functions are called ``fn(objects, width, height, rng)`` and return a
``TaskSample``; ``accept_original_style`` wraps a three-argument callable so both shapes work.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable, Sequence
from typing import Any

from dataset.annotations import ObjectAnnotation
from dataset.grammar import parse_answer
from dataset.task_fns.base import EmptySampleError, TaskSample, phrase_geometry
from dataset.task_fns.categories import clean_category_name

__all__ = ["OriginalStyleTaskFn", "accept_original_style", "is_original_style"]

_IMAGE_PREFIX = "<image>\n"


def is_original_style(fn: Callable[..., Any]) -> bool:
    """True when ``fn`` takes exactly three positional arguments ``(example, width, height)``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: assume the current shape
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return False
    required = [p for p in positional if p.default is p.empty]
    return len(required) == 3 and len(positional) == 3


class OriginalStyleTaskFn:
    """Adapts an original-style ``fn(example, width, height)`` to ``fn(objects, width, height, rng)``.

    Only box objects reach it (the original had no points or null negatives). The ground truth
    holds, per phrase of the answer, the boxes whose cleaned phrase equals it, in file order. The
    wrapped function draws its own randomness (the original used the global ``random``), so its
    samples are not reproducible from ``rng``.
    """

    def __init__(self, fn: Callable[[dict[str, Any], int, int], dict[str, Any]]) -> None:
        self.fn = fn

    def __call__(self, objects: Sequence[ObjectAnnotation], width: int, height: int,
                 rng: random.Random) -> TaskSample:
        with_box = [obj for obj in objects if obj.box is not None]
        if not with_box:
            raise EmptySampleError(f"no box objects for an original-style task function ({len(objects)} objects)")
        example = {"annotations": {"boxes": [list(obj.box) for obj in with_box],  # type: ignore[arg-type]
                                   "labels": [obj.phrase for obj in with_box]}}
        turns = self.fn(example, width, height)["conversations"]
        question, answer = turns[0]["value"], turns[1]["value"]
        question = question[len(_IMAGE_PREFIX):] if question.startswith(_IMAGE_PREFIX) else question
        by_phrase: dict[str, list[ObjectAnnotation]] = {}
        for obj in with_box:
            by_phrase.setdefault(clean_category_name(obj.phrase), []).append(obj)
        ground_truth = {g.phrase: phrase_geometry(by_phrase.get(g.phrase, [])) for g in parse_answer(answer)}
        return TaskSample(question, answer, ground_truth, len(objects) - len(with_box))


def accept_original_style(fn: Any) -> Any:
    """``fn`` itself, or wrapped in ``OriginalStyleTaskFn`` when it has the original call shape."""
    return OriginalStyleTaskFn(fn) if callable(fn) and is_original_style(fn) else fn
