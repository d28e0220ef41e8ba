"""GroundingTaskFn (and the shared PhraseTaskFn logic)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataset.annotations import ObjectAnnotation
from dataset.grammar import parse_answer, quantize_box
from dataset.task_fns import EmptySampleError, GroundingTaskFn, TaskSample, clean_category_name
from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY

W, H = 640, 480
EMPTY_GT = {"boxes": [], "points": [], "masks": []}


def make_fn(**kwargs: object) -> GroundingTaskFn:
    kwargs.setdefault("task_prompts", GROUNDING_SINGLE_REGION_STAGE_XYXY)
    return GroundingTaskFn(image_min_pixels=3136, image_max_pixels=2007040, **kwargs)  # type: ignore[arg-type]


def box(phrase: str, xyxy: tuple[float, float, float, float], **extra: object) -> ObjectAnnotation:
    return ObjectAnnotation(phrase=phrase, box=xyxy, **extra)  # type: ignore[arg-type]


def answer_groups(sample: TaskSample) -> dict[str, list[tuple[int, ...]] | None]:
    """Parsed answer: phrase -> item bins, None for a negative; order preserved."""
    return {g.phrase: None if g.negative else [i.bins for i in g.items] for g in parse_answer(sample.answer)}


OBJECTS = [
    box("person", (10, 20, 100, 200)),
    box("person", (0, 0, 640, 480)),
    box("cat_toy", (4.5, 4.9, 50, 50)),
    ObjectAnnotation(phrase="dog"),
]


def test_answer_groups_match_reference_grammar() -> None:
    sample = make_fn()(OBJECTS, W, H, random.Random(0))
    groups = set(sample.answer.split(", "))
    assert groups == {
        "<|object_ref_start|>cat toy<|object_ref_end|><|box_start|><7><10><78><104><|box_end|>",
        "<|object_ref_start|>dog<|object_ref_end|><|box_start|>None<|box_end|>",
        "<|object_ref_start|>person<|object_ref_end|><|box_start|><0><0><999><999>,<15><41><156><416><|box_end|>",
    }
    assert sample.num_dropped == 0


def test_question_is_a_template_with_obj_replaced_in_answer_order() -> None:
    for seed in range(20):
        sample = make_fn()(OBJECTS, W, H, random.Random(seed))
        joined = ", ".join(answer_groups(sample))
        assert sample.question in {t.replace("[OBJ]", joined) for t in GROUNDING_SINGLE_REGION_STAGE_XYXY}
        assert "[OBJ]" not in sample.question


def test_every_obj_placeholder_is_replaced() -> None:
    sample = make_fn(task_prompts=["Find [OBJ], i.e. [OBJ]."])(OBJECTS[:1], W, H, random.Random(0))
    assert sample.question == "Find person, i.e. person."


def test_conversations() -> None:
    sample = make_fn(task_prompts=["Detect [OBJ]."])(OBJECTS[:1], W, H, random.Random(0))
    assert sample.conversations == [
        {"from": "human", "value": "<image>\nDetect person."},
        {"from": "gpt", "value": sample.answer},
    ]


def test_null_entries_are_negatives_and_positive_wins() -> None:
    objects = [box("person", (10, 20, 100, 200)), ObjectAnnotation("car"), ObjectAnnotation("person")]
    sample = make_fn()(objects, W, H, random.Random(0))
    assert answer_groups(sample) in (
        {"person": [(15, 41, 156, 416)], "car": None},
        {"car": None, "person": [(15, 41, 156, 416)]},
    )
    assert sample.answer.count("person") == 1
    assert sample.ground_truth["car"] == EMPTY_GT
    assert sample.ground_truth["person"]["boxes"] == [[10.0, 20.0, 100.0, 200.0]]


def test_null_entry_of_a_present_but_dropped_phrase_is_not_a_negative() -> None:
    objects = [box("car", (10, 10, 5, 5)), ObjectAnnotation("car"), box("b", (1, 1, 9, 9))]
    sample = make_fn()(objects, W, H, random.Random(0))
    assert answer_groups(sample) == {"b": [quantize_box((1, 1, 9, 9), W, H)]}
    assert sample.num_dropped == 1


def test_only_negatives_is_a_valid_sample() -> None:
    sample = make_fn()([ObjectAnnotation("car")], W, H, random.Random(0))
    assert answer_groups(sample) == {"car": None}


def test_cleaned_names_agree_between_prompt_answer_and_ground_truth() -> None:
    objects = [
        box("traffic_light/signal", (10, 10, 20, 20)),
        box("traffic light", (30, 10, 40, 20)),
        box("hot,dog", (10, 10, 20, 20)),
        ObjectAnnotation("fire_hydrant"),
    ]
    sample = make_fn(task_prompts=["[OBJ]"])(objects, W, H, random.Random(3))
    phrases = list(answer_groups(sample))
    assert sorted(phrases) == ["fire hydrant", "hotdog", "traffic light"]
    assert list(sample.ground_truth) == phrases
    assert sample.question == ", ".join(phrases)
    assert len(sample.ground_truth["traffic light"]["boxes"]) == 2


def test_items_sorted_by_x0_only_keeping_file_order_on_ties() -> None:
    # As the original: a stable sort on the x0 bin, so equal x0 keeps the annotation order.
    objects = [
        box("a", (300, 10, 400, 50)),
        box("a", (100, 300, 200, 400)),
        box("a", (100, 100, 200, 200)),
        box("a", (5, 400, 50, 470)),
    ]
    sample = make_fn()(objects, W, H, random.Random(0))
    bins = answer_groups(sample)["a"]
    # Hand-computed: int(c / L * 999); the two x0=100 boxes stay in file order (y0 300 before 100).
    assert bins == [(7, 832, 78, 978), (156, 624, 312, 832), (156, 208, 312, 416), (468, 20, 624, 104)]
    # Ground truth follows answer order, in original pixels.
    assert sample.ground_truth["a"]["boxes"][:2] == [[5.0, 400.0, 50.0, 470.0], [100.0, 300.0, 200.0, 400.0]]


def test_degenerate_boxes_dropped_and_counted() -> None:
    objects = [
        box("a", (10, 10, 5, 20)),  # x1 < x0
        box("a", (10, 10, 10, 20)),  # zero width
        box("a", (10, 30, 20, 30)),  # zero height
        box("a", (700, 10, 800, 20)),  # entirely right of the image
        box("a", (-50, -50, -10, -10)),  # entirely above-left of the image
        box("b", (10, 10, 20, 20)),
    ]
    sample = make_fn()(objects, W, H, random.Random(0))
    assert answer_groups(sample) == {"b": [quantize_box((10, 10, 20, 20), W, H)]}
    assert sample.num_dropped == 5


def test_partly_outside_box_is_kept_and_clamped() -> None:
    sample = make_fn()([box("a", (-10, -10, 700, 500))], W, H, random.Random(0))
    assert answer_groups(sample) == {"a": [(0, 0, 999, 999)]}
    assert sample.ground_truth["a"]["boxes"] == [[-10.0, -10.0, 700.0, 500.0]]


@pytest.mark.parametrize(
    "objects",
    [
        [],
        [box("a", (10, 10, 5, 5))],
        [box("/a", (10, 10, 20, 20)), ObjectAnnotation("_,")],
        [ObjectAnnotation("a", point=(1, 2))],  # no box: not this task's geometry, and not a negative
    ],
)
def test_empty_sample_error(objects: list[ObjectAnnotation]) -> None:
    # Sampled negatives alone never make a sample: the annotation must contribute something.
    with pytest.raises(EmptySampleError):
        make_fn(extra_categories=["car"])(objects, W, H, random.Random(0))


def test_empty_phrases_and_missing_geometry_are_counted() -> None:
    objects = [box("/x", (10, 10, 20, 20)), ObjectAnnotation("a", point=(1, 2)), box("b", (1, 1, 9, 9))]
    assert make_fn()(objects, W, H, random.Random(0)).num_dropped == 2


EXTRA = ["car", "dog", "Cat", "bus", "traffic_light/x", "person", "bicycle", "a_b", "tree", "car"]


def negatives_of(sample: TaskSample) -> set[str]:
    return {p for p, items in answer_groups(sample).items() if items is None}


def test_extra_categories_sampled_up_to_max_negatives() -> None:
    fn = make_fn(extra_categories=EXTRA, max_negatives=3)
    objects = [box("person", (10, 20, 100, 200)), box("a_b", (0, 0, 5, 5)), box("tree", (9, 9, 9, 9))]
    vocabulary = {"car", "dog", "Cat", "bus", "traffic light", "bicycle"}  # cleaned, de-duplicated, absent
    seen = set()
    for seed in range(30):
        sample = fn(objects, W, H, random.Random(seed))
        negatives = negatives_of(sample)
        assert len(negatives) == 3
        assert negatives <= vocabulary  # never a positive, never a dropped-but-annotated phrase ("tree")
        assert all(sample.ground_truth[n] == EMPTY_GT for n in negatives)
        seen.add(frozenset(negatives))
    assert len(seen) > 1


def test_extra_categories_deterministic_given_seed() -> None:
    fn = make_fn(extra_categories=EXTRA, max_negatives=2)
    objects = [box("person", (10, 20, 100, 200))]
    assert fn(objects, W, H, random.Random(7)) == fn(objects, W, H, random.Random(7))


@pytest.mark.parametrize(("max_negatives", "expected"), [(None, 8), (0, 0), (100, 8)])
def test_max_negatives_bounds(max_negatives: int | None, expected: int) -> None:
    fn = make_fn(extra_categories=EXTRA, max_negatives=max_negatives)
    sample = fn([box("person", (10, 20, 100, 200))], W, H, random.Random(0))
    assert len(negatives_of(sample)) == expected


def test_null_negative_not_duplicated_by_extra_categories() -> None:
    fn = make_fn(extra_categories=["car"], max_negatives=None)
    sample = fn([box("person", (1, 1, 9, 9)), ObjectAnnotation("car")], W, H, random.Random(0))
    assert sample.answer.count("car") == 1


def test_deterministic_given_seed_and_varies_across_seeds() -> None:
    objects = [box(name, (10, 20, 100, 200)) for name in ("a", "b", "c", "d")]
    fn = make_fn(extra_categories=EXTRA)
    samples = [fn(objects, W, H, random.Random(seed)) for seed in range(10)]
    assert samples[0] == fn(objects, W, H, random.Random(0))
    assert len({s.question for s in samples}) > 1
    assert len({s.answer for s in samples}) > 1


def test_ground_truth_carries_points_and_masks_only_when_all_objects_have_them() -> None:
    rle = {"size": [480, 640], "counts": "abc"}
    objects = [
        box("a", (10, 10, 20, 20), point=(15, 15), mask=rle),
        box("a", (30, 10, 40, 20), point=(35, 15)),
        box("b", (10, 10, 20, 20), mask=rle),
    ]
    gt = make_fn()(objects, W, H, random.Random(0)).ground_truth
    assert gt["a"] == {
        "boxes": [[10.0, 10.0, 20.0, 20.0], [30.0, 10.0, 40.0, 20.0]],
        "points": [[15.0, 15.0], [35.0, 15.0]],
        "masks": [],
    }
    assert gt["b"] == {"boxes": [[10.0, 10.0, 20.0, 20.0]], "points": [], "masks": [rle]}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"task_prompts": []},
        {"task_prompts": "Detect [OBJ]."},
        {"task_prompts": ["Detect things."]},
        {"max_negatives": -1},
        {"max_negatives": 2.5},
        {"extra_categories": ["car", "/"]},
    ],
)
def test_constructor_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_fn(**kwargs)


def test_extra_categories_must_be_a_list() -> None:
    with pytest.raises(TypeError):
        make_fn(extra_categories="car")


_coord = st.floats(-50, 700, allow_nan=False)
_objects = st.lists(
    st.builds(
        ObjectAnnotation,
        phrase=st.sampled_from(["person", "traffic_light", "a/b", "dog", "_", "hot,dog"]),
        box=st.one_of(st.none(), st.tuples(_coord, _coord, _coord, _coord)),
    ),
    max_size=12,
)


@given(_objects, st.integers(0, 2**32))
def test_answer_parses_back_to_ground_truth(objects: list[ObjectAnnotation], seed: int) -> None:
    fn = make_fn(extra_categories=["car", "bus"], max_negatives=1)
    try:
        sample = fn(objects, W, H, random.Random(seed))
    except EmptySampleError:
        return
    groups = answer_groups(sample)
    assert list(groups) == list(sample.ground_truth)
    for phrase, bins in groups.items():
        expected = [quantize_box(b, W, H) for b in sample.ground_truth[phrase]["boxes"]]
        assert (bins or []) == expected
        assert bins is None or bins == sorted(bins, key=lambda b: b[0])  # x0 only; ties keep file order
    # Every object is exactly one of: a positive box, a null negative, or dropped.
    used = sum(len(gt["boxes"]) for gt in sample.ground_truth.values())
    null_negatives = sum(o.box is None and clean_category_name(o.phrase) != "" for o in objects)
    assert used + null_negatives + sample.num_dropped == len(objects)
