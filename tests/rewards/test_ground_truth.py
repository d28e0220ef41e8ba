"""Ground-truth schema validation: errors name the key."""

from __future__ import annotations

import numpy as np
import pytest

from rewards import GroundTruthError, parse_ground_truth

VALID = {"reward_name": "box_iou", "image_size": [640, 480], "answer": {"dog": {"boxes": [[1, 2, 3, 4]]}}}


@pytest.mark.parametrize("key", ["reward_name", "image_size", "answer"])
def test_missing_key_is_named(key: str) -> None:
    broken = {k: v for k, v in VALID.items() if k != key}
    with pytest.raises(GroundTruthError, match=repr(key)):
        parse_ground_truth(broken)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ({"dog": [[1, 2, 3, 4]]}, r"answer\['dog'\] must be a dict"),
        ({"dog": {"boxes": [[1, 2, 3]]}}, r"answer\['dog'\]\['boxes'\]\[0\]"),
        ({"dog": {"boxes": [[1, 2, 3, 4], [1, 2]]}}, r"\['boxes'\]\[1\]"),
        ({"dog": {"boxes": [[1, 2, 3, None]]}}, "finite"),
        ({"dog": {"points": [[1, float("nan")]]}}, r"\['points'\]\[0\]"),
        ({"dog": {"masks": "x"}}, r"\['masks'\] must be a list"),
    ],
)
def test_bad_objects_are_named(answer: dict, fragment: str) -> None:
    with pytest.raises(GroundTruthError, match=fragment):
        parse_ground_truth({**VALID, "answer": answer})


def test_bad_image_size_and_defaults() -> None:
    with pytest.raises(GroundTruthError, match="image_size"):
        parse_ground_truth({**VALID, "image_size": [0, 10]})
    gt = parse_ground_truth({**VALID, "answer": {"dog": {"boxes": [[1, 2, 3, 4]]}, "cat": {}}})
    assert gt.dataset_name == "unknown" and (gt.width, gt.height) == (640, 480)
    assert np.array_equal(gt.answer["dog"].boxes, [[1, 2, 3, 4]]) and gt.answer["cat"].is_negative
    assert not gt.is_empty


def test_phrases_converted_together_keep_their_own_objects() -> None:
    gt = parse_ground_truth({**VALID, "answer": {
        "dog": {"boxes": [[1, 2, 3, 4], (5.5, 6, 7, 8)], "points": [[1, 2]]},
        "cat": {"boxes": [], "points": [[3.5, 4]]},
        "cow": {"boxes": [[9, 10, 11, 12]]},
    }})
    assert gt.answer["dog"].boxes.tolist() == [[1.0, 2.0, 3.0, 4.0], [5.5, 6.0, 7.0, 8.0]]
    assert gt.answer["cat"].boxes.shape == (0, 4) and gt.answer["cat"].points.tolist() == [[3.5, 4.0]]
    assert gt.answer["cow"].boxes.tolist() == [[9.0, 10.0, 11.0, 12.0]] and gt.answer["cow"].points.shape == (0, 2)
    assert all(t.boxes.dtype == np.float64 and not t.boxes.flags.writeable for t in gt.answer.values())
    # An empty box list written as [[]] is accepted by the item-by-item path, read-only as well.
    odd = parse_ground_truth({**VALID, "answer": {"dog": {"boxes": [[]]}, "cat": {"boxes": [[1, 2, 3, 4]]}}})
    assert odd.answer["dog"].boxes.shape == (0, 4) and odd.answer["cat"].boxes.tolist() == [[1.0, 2.0, 3.0, 4.0]]
    assert not (odd.answer["cat"].boxes.flags.writeable or odd.answer["cat"].points.flags.writeable)


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        # A bad phrase is named even when the other phrases are fine.
        ({"dog": {"boxes": [[1.5, 2, 3, 4]]}, "cat": {"boxes": [[True, False, True, True]]}}, r"\['cat'\]\['boxes'\]\[0\]"),
        ({"dog": {"boxes": [[1.5, 2, 3, 4]]}, "cat": {"boxes": [[1, 2, 3, "4"]]}}, r"\['cat'\]\['boxes'\]\[0\]"),
        ({"dog": {"boxes": [[1.5, 2, 3, 4]]}, "cat": {"points": [[1, 2, 3]]}}, r"\['cat'\]\['points'\]\[0\]"),
        ({"dog": {"boxes": [[1.5, 2, 3, 4]]}, "cat": {"boxes": [[1, 2, 3, float("inf")]]}}, "finite"),
        ({"dog": {"boxes": [[10**30, 2, 3, 4]]}}, r"\['dog'\]\['boxes'\]"),
    ],
)
def test_bad_objects_beside_good_ones_are_named(answer: dict, fragment: str) -> None:
    with pytest.raises(GroundTruthError, match=fragment):
        parse_ground_truth({**VALID, "answer": answer})
