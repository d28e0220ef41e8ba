"""Tests for dataset/annotations.py."""

from __future__ import annotations

import dataclasses

import pytest

from dataset.annotations import AnnotationError, ObjectAnnotation, parse_annotation

RLE = {"size": [4, 4], "counts": "04<0"}


def test_boxes_schema_with_caption_point_and_mask() -> None:
    ann = {"boxes": [
        {"bbox": [1, 2, 3, 4], "phrase": "cat", "mask": RLE},
        {"bbox": [0.5, 0, 9, 9.5], "caption": "a dog", "point": [3, 4]},
    ]}
    assert parse_annotation(ann) == [
        ObjectAnnotation("cat", (1.0, 2.0, 3.0, 4.0), None, RLE),
        ObjectAnnotation("a dog", (0.5, 0.0, 9.0, 9.5), (3.0, 4.0), None),
    ]


def test_points_schema_with_optional_bbox_and_polygon_mask() -> None:
    poly = [[0, 0, 4, 0, 4, 4]]
    ann = {"points": [{"point": [5, 6], "phrase": "p", "bbox": [1, 1, 2, 2], "mask": poly}]}
    assert parse_annotation(ann) == [ObjectAnnotation("p", (1.0, 1.0, 2.0, 2.0), (5.0, 6.0), poly)]


def test_both_keys_boxes_first_and_negatives() -> None:
    ann = {
        "points": [{"point": None, "phrase": "ghost", "mask": RLE}, {"point": [1, 1], "phrase": "dot"}],
        "boxes": [{"bbox": None, "phrase": "car"}],
    }
    objs = parse_annotation(ann)
    assert [o.phrase for o in objs] == ["car", "ghost", "dot"]
    assert objs[0].is_negative and objs[1].is_negative and not objs[2].is_negative
    assert objs[1].mask is None  # a negative carries no geometry at all


def test_xywh_is_converted_to_xyxy() -> None:
    ann = {"boxes": [{"bbox": [10, 20, 5, 6], "phrase": "a"}], "points": [{"point": [1, 2], "phrase": "b",
                                                                          "bbox": [0, 0, 2, 2]}]}
    objs = parse_annotation(ann, box_format="xywh")
    assert objs[0].box == (10.0, 20.0, 15.0, 26.0) and objs[1].box == (0.0, 0.0, 2.0, 2.0)


def test_no_known_keys_gives_empty_list() -> None:
    assert parse_annotation({}) == [] and parse_annotation({"other": 1}) == []
    assert parse_annotation({"boxes": []}) == []


def test_object_annotation_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ObjectAnnotation("a").phrase = "b"  # type: ignore[misc]


@pytest.mark.parametrize(
    "ann, reason",
    [
        ([1, 2], "annotation must be a JSON object"),
        ({"boxes": {"bbox": [1, 2, 3, 4]}}, "'boxes' must be a list"),
        ({"boxes": ["x"]}, r"boxes\[0\]: entry must be an object"),
        ({"boxes": [{"bbox": [1, 2, 3]}]}, r"boxes\[0\]: missing 'phrase'"),
        ({"boxes": [{"bbox": [1, 2, 3, 4], "phrase": 3}]}, "'phrase' must be a string"),
        ({"boxes": [{"phrase": "a"}]}, "missing 'bbox'"),
        ({"boxes": [{"bbox": [1, 2, 3], "phrase": "a"}]}, "'bbox' must be a list of 4 numbers"),
        ({"boxes": [{"bbox": "1,2,3,4", "phrase": "a"}]}, "'bbox' must be a list of 4 numbers"),
        ({"boxes": [{"bbox": [1, 2, "3", 4], "phrase": "a"}]}, "only numbers"),
        ({"boxes": [{"bbox": [1, 2, True, 4], "phrase": "a"}]}, "only numbers"),
        ({"boxes": [{"bbox": [1, 2, float("nan"), 4], "phrase": "a"}]}, "non-finite"),
        ({"points": [{"point": [1, float("inf")], "phrase": "a"}]}, r"points\[0\]: 'point' contains a non-finite"),
        ({"points": [{"point": [1, 2, 3], "phrase": "a"}]}, "'point' must be a list of 2 numbers"),
        ({"points": [{"point": [1, 2]}]}, "missing 'phrase'"),
        ({"points": [{"point": [1, 2], "phrase": "a", "mask": "rle"}]}, "'mask' must be an RLE dict"),
        ({"points": [{"point": [1, 2], "phrase": "a", "mask": {"counts": "x"}}]}, "needs 'counts' and 'size'"),
        ({"points": [{"point": [1, 2], "phrase": "a", "mask": [[1, 2, 3]]}]}, "polygon"),
    ],
)
def test_invalid_annotations_raise_with_reason(ann, reason: str) -> None:
    with pytest.raises(AnnotationError, match=reason):
        parse_annotation(ann)


def test_annotation_error_is_value_error_and_box_format_checked() -> None:
    assert issubclass(AnnotationError, ValueError)
    with pytest.raises(ValueError, match="box_format"):
        parse_annotation({}, box_format="cxcywh")
