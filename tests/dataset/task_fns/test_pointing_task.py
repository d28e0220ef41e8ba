"""PointingTaskFn: points instead of boxes; everything else is the shared PhraseTaskFn logic."""

from __future__ import annotations

import random

import pytest

from dataset.annotations import ObjectAnnotation
from dataset.grammar import parse_answer
from dataset.task_fns import EmptySampleError, PointingTaskFn
from dataset.task_fns.task_prompts import POINTING_TASK_PROMPTS

W, H = 640, 480


def make_fn(**kwargs: object) -> PointingTaskFn:
    return PointingTaskFn(POINTING_TASK_PROMPTS, 3136, 2007040, **kwargs)  # type: ignore[arg-type]


def test_single_point_answer() -> None:
    sample = make_fn()([ObjectAnnotation("person", point=(320, 240))], W, H, random.Random(0))
    assert sample.answer == "<|object_ref_start|>person<|object_ref_end|><|box_start|><499><499><|box_end|>"
    assert sample.ground_truth == {"person": {"boxes": [], "points": [[320.0, 240.0]], "masks": []}}


def test_points_sorted_and_negatives() -> None:
    objects = [
        ObjectAnnotation("a", point=(600, 10)),
        ObjectAnnotation("a", point=(10, 400)),
        ObjectAnnotation("a", point=(10, 100)),
        ObjectAnnotation("b"),
    ]
    sample = make_fn()(objects, W, H, random.Random(1))
    groups = {g.phrase: g for g in parse_answer(sample.answer)}
    # Sorted by x only; the two x=10 points keep file order (y 400 before y 100).
    assert groups["a"].of_kind("point") == [(15, 832), (15, 208), (936, 20)]
    assert [i.kind for i in groups["a"].items] == ["point"] * 3
    assert groups["b"].negative
    assert sample.ground_truth["a"]["points"] == [[10.0, 400.0], [10.0, 100.0], [600.0, 10.0]]


def test_ground_truth_carries_boxes_and_masks_for_point_rewards() -> None:
    rle = {"size": [H, W], "counts": "xyz"}
    objects = [
        ObjectAnnotation("a", box=(0, 0, 20, 20), point=(10, 10), mask=rle),
        ObjectAnnotation("a", box=(40, 0, 60, 20), point=(50, 10), mask=rle),
    ]
    gt = make_fn()(objects, W, H, random.Random(0)).ground_truth["a"]
    assert gt == {
        "boxes": [[0.0, 0.0, 20.0, 20.0], [40.0, 0.0, 60.0, 20.0]],
        "points": [[10.0, 10.0], [50.0, 10.0]],
        "masks": [rle, rle],
    }


def test_object_with_box_but_no_point_is_dropped_not_negative() -> None:
    objects = [ObjectAnnotation("a", box=(0, 0, 20, 20)), ObjectAnnotation("b", point=(5, 5))]
    sample = make_fn()(objects, W, H, random.Random(0))
    assert [g.phrase for g in parse_answer(sample.answer)] == ["b"]
    assert sample.num_dropped == 1
    with pytest.raises(EmptySampleError):
        make_fn()(objects[:1], W, H, random.Random(0))


def test_points_outside_the_image_are_clamped() -> None:
    sample = make_fn()([ObjectAnnotation("a", point=(-5, 900))], W, H, random.Random(0))
    assert parse_answer(sample.answer)[0].of_kind("point") == [(0, 999)]


def test_extra_negatives_and_determinism() -> None:
    fn = make_fn(extra_categories=["car", "dog", "bus", "cat"], max_negatives=2)
    objects = [ObjectAnnotation("dog", point=(5, 5))]
    sample = fn(objects, W, H, random.Random(4))
    negatives = [g.phrase for g in parse_answer(sample.answer) if g.negative]
    assert len(negatives) == 2 and "dog" not in negatives
    assert sample == fn(objects, W, H, random.Random(4))
    assert "[OBJ]" not in sample.question
