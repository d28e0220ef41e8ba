"""dataset.grammar for the other tasks: the polygon codec and the keypoint JSON answer."""

from __future__ import annotations

import json

import pytest

from dataset.grammar import (
    KeypointInstance,
    compose_keypoint_answer,
    dequantize_polygon,
    parse_answer,
    parse_keypoint_answer,
    quantize_polygon,
)

ANSWER = '''```json
{
    "person1": {
        "bbox": " <398> <261> <742> <987> ",
        "keypoints": {
            "nose": " <540> <351> ",
            "right eye": "unvisible"
        }
    }
}
```<|im_end|>'''


def test_polygon_codec_round_trip_within_one_bin() -> None:
    bins = quantize_polygon([83.0, 610.0, 302.0, 588.0, 306.0, 688.0], 999, 1998)
    assert bins == (83, 305, 302, 294, 306, 344)
    assert dequantize_polygon(bins + (7,), 999, 1998) == pytest.approx((83, 610, 302, 588, 306, 688), abs=2.0)
    with pytest.raises(ValueError):
        quantize_polygon([1.0, 2.0, 3.0], 10, 10)


def test_polygon_answers_parse_as_polygons_and_odd_counts_are_dropped() -> None:
    (group,) = parse_answer("<|object_ref_start|>Hi<|object_ref_end|><|box_start|>"
                            "<1><2><3><4><5><6><7><8>,<1><2><3><4><5>,<9><9><|box_end|>")
    assert [(i.kind, len(i.bins)) for i in group.items] == [("polygon", 8), ("point", 2)]


def test_keypoint_answer_as_the_released_model_writes_it() -> None:
    (inst,) = parse_keypoint_answer(ANSWER)
    assert inst == KeypointInstance("person", (398, 261, 742, 987), {"nose": (540, 351), "right eye": None})


def test_compose_then_parse_gives_the_instances_back() -> None:
    instances = [KeypointInstance("cat", (1, 2, 3, 4), {"left eye": (5, 6), "nose": None}),
                 KeypointInstance("cat", (7, 8, 9, 10), {"left eye": None, "nose": (11, 12)})]
    text = compose_keypoint_answer(instances)
    assert '"cat2": {' in text and text.startswith("```json\n{\n    \"cat1\"")
    assert parse_keypoint_answer(text) == instances


@pytest.mark.parametrize("text", [
    ANSWER[:60], "no json here", "```json\n[1, 2]\n```", '{"person1": {"bbox": "<1><2><3>", "keypoints": {}}}',
    '{"person1": "x"}', None, "{" * 5000 + "}" * 5000,
])
def test_malformed_keypoint_answers_give_a_result(text: object) -> None:
    assert parse_keypoint_answer(text) == []  # type: ignore[arg-type]


def test_keypoint_values_that_are_not_two_bins_read_as_unvisible() -> None:
    text = '{"7": {"bbox": "<1><2><3><4>", "keypoints": {"a": null, "b": "<1>", "c": 3, "d": "<1> <2>"}}}'
    (inst,) = parse_keypoint_answer(text)
    assert inst.category == "keypoint_instance"
    assert inst.keypoints == {"a": None, "b": None, "c": None, "d": (1, 2)}


def test_keypoint_values_read_as_any_bin_reader_would() -> None:
    """Random strings of bin characters: a value is its bins iff it holds exactly two ``<N>`` tokens."""
    import random
    import re

    bins = re.compile(r"<\s*0*(\d{1,6})\d*\s*>")
    rng = random.Random(0)
    for _ in range(20000):
        value = "".join(rng.choice("<> 0123456789x,") for _ in range(rng.randint(0, 14)))
        found = tuple(min(int(d), 999) for d in bins.findall(value))
        text = '{"p1": {"bbox": " <1> <2> <3> <4> ", "keypoints": {"a": ' + json.dumps(value) + "}}}"
        (inst,) = parse_keypoint_answer(text)
        assert inst.keypoints["a"] == (found if len(found) == 2 else None), value
