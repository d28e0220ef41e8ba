"""Bad annotations and task-function inputs: AnnotationError naming the key and entry, or a counted drop."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from dataset.annotations import AnnotationError, ObjectAnnotation, parse_annotation
from dataset.task_fns import EmptySampleError, GroundingTaskFn, PointingTaskFn

PROMPTS = ["Detect [OBJ]."]

# annotation -> fragments the AnnotationError message must contain
BAD_ANNOTATIONS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "bbox wrong length": ({"boxes": [{"bbox": [1, 2, 3], "phrase": "a"}]}, ("boxes[0]", "'bbox'", "4 numbers")),
    "bbox NaN": ({"boxes": [{"bbox": [1, 2, math.nan, 4], "phrase": "a"}]}, ("boxes[0]", "non-finite")),
    "bbox infinite": ({"boxes": [{"bbox": [1, 2, math.inf, 4], "phrase": "a"}]}, ("boxes[0]", "non-finite")),
    "bbox with a string": ({"boxes": [{"bbox": [1, "2", 3, 4], "phrase": "a"}]}, ("boxes[0]", "only numbers")),
    "bbox with a bool": ({"boxes": [{"bbox": [1, True, 3, 4], "phrase": "a"}]}, ("boxes[0]", "only numbers")),
    "point wrong length": ({"points": [{"point": [1, 2, 3], "phrase": "a"}]}, ("points[0]", "'point'")),
    "phrase not a string": ({"boxes": [{"bbox": [1, 2, 3, 4], "phrase": 12}]}, ("boxes[0]", "'phrase' must be a string")),
    "phrase missing": ({"boxes": [{"bbox": [1, 2, 3, 4]}]}, ("boxes[0]", "missing 'phrase'")),
    "bbox key missing": ({"boxes": [{"phrase": "a"}]}, ("boxes[0]", "missing 'bbox'")),
    "boxes not a list": ({"boxes": {"bbox": [1, 2, 3, 4]}}, ("'boxes' must be a list",)),
    "entry not an object": ({"boxes": [{"bbox": [1, 2, 3, 4], "phrase": "a"}, "b"]}, ("boxes[1]", "must be an object")),
    "RLE mask without counts": ({"points": [{"point": [1, 2], "phrase": "a", "mask": {"size": [4, 4]}}]},
                                ("points[0]", "'counts'")),
    "polygon mask too short": ({"points": [{"point": [1, 2], "phrase": "a", "mask": [[1, 2, 3, 4]]}]},
                               ("points[0]", "polygon")),
}


@pytest.mark.parametrize("case", list(BAD_ANNOTATIONS))
def test_bad_annotation_names_key_and_entry(case: str) -> None:
    ann, fragments = BAD_ANNOTATIONS[case]
    with pytest.raises(AnnotationError) as info:
        parse_annotation(ann)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_annotation_not_an_object() -> None:
    with pytest.raises(AnnotationError, match="JSON object"):
        parse_annotation([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize("task_cls", [GroundingTaskFn, PointingTaskFn])
def test_empty_phrase_after_cleaning_is_dropped_and_counted(task_cls: type) -> None:
    objects = [ObjectAnnotation("/only a slash", box=(1, 1, 9, 9), point=(5, 5)),
               ObjectAnnotation("cat", box=(2, 2, 8, 8), point=(4, 4))]
    sample = task_cls(PROMPTS)(objects, 20, 20, random.Random(0))
    assert sample.num_dropped == 1
    assert list(sample.ground_truth) == ["cat"]


@pytest.mark.parametrize("objects", [
    [ObjectAnnotation(" , ", box=(1, 1, 9, 9))],  # empty after cleaning
    [ObjectAnnotation("cat", box=(5, 5, 5, 9))],  # zero-width box
    [ObjectAnnotation("cat", box=(30, 30, 40, 40))],  # entirely outside a 20x20 image
    [ObjectAnnotation("cat", point=(3, 3))],  # no box for a grounding task
    [],
], ids=["empty phrase", "zero-area box", "box outside image", "no box", "no objects"])
def test_nothing_usable_raises_empty_sample(objects: list[ObjectAnnotation]) -> None:
    with pytest.raises(EmptySampleError, match="no usable objects"):
        GroundingTaskFn(PROMPTS)(objects, 20, 20, random.Random(0))


@pytest.mark.parametrize("prompts, match", [
    (["Detect things."], r"without \[OBJ\]"),
    ([], "non-empty list"),
    ("Detect [OBJ].", "non-empty list"),
])
def test_bad_task_prompts(prompts: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GroundingTaskFn(prompts)


def test_non_string_category_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        GroundingTaskFn(PROMPTS)([ObjectAnnotation(7, box=(1, 1, 5, 5))], 20, 20, random.Random(0))  # type: ignore[arg-type]
