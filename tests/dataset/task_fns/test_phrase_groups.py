"""Phrases that clean to the same text are one group: asked once, answered once, objects merged."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from dataset.annotations import ObjectAnnotation
from dataset.grammar import parse_answer
from dataset.task_fns import GroundingTaskFn, PointingTaskFn, clean_category_name

_WORDS = ("tree", "red circle", "Dog", "dog", "traffic light")
# Dirt that cleaning removes: surrounding/inner whitespace, underscores for spaces, commas, "/..." tails.
_dirty_phrase = st.builds(
    lambda word, left, right, sep, tail: left + word.replace(" ", sep) + right + tail,
    st.sampled_from(_WORDS),
    st.sampled_from(["", " ", "  ", "_", "\t", "__ "]),
    st.sampled_from(["", " ", "_", "  _", ","]),
    st.sampled_from([" ", "_", "__", " _ ", "  ", ","]),
    st.sampled_from(["", "/synonym", "_/x"]),
)
_object = st.tuples(_dirty_phrase, st.integers(0, 80), st.integers(0, 80), st.booleans())


def _objects(specs: list[tuple[str, int, int, bool]]) -> list[ObjectAnnotation]:
    objects = []
    for phrase, x, y, negative in specs:
        if negative:
            objects.append(ObjectAnnotation(phrase))
        else:
            objects.append(ObjectAnnotation(phrase, box=(x, y, x + 10, y + 10), point=(x + 5, y + 5)))
    return objects


@settings(max_examples=150, deadline=None)
@given(st.lists(_object, min_size=1, max_size=8), st.lists(_dirty_phrase, max_size=5),
       st.sampled_from([GroundingTaskFn, PointingTaskFn]), st.integers(0, 2**16))
def test_no_question_or_answer_repeats_a_phrase(specs, extra, task_cls, seed) -> None:
    sample = task_cls(["Find [OBJ]."], extra_categories=extra, max_negatives=None)(
        _objects(specs), 100, 100, random.Random(seed))
    asked = sample.question[len("Find "):-1].split(", ")
    answered = [group.phrase for group in parse_answer(sample.answer)]
    assert len(asked) == len(set(asked)), sample.question
    assert answered == asked
    assert list(sample.ground_truth) == asked
    # Every present object of a cleaned phrase lands in that phrase's single group.
    present = [clean_category_name(p) for p, _, _, negative in specs if not negative]
    for phrase in set(present):
        assert len(sample.ground_truth[phrase]["boxes"]) == present.count(phrase)


def test_whitespace_and_underscore_variants_make_one_group() -> None:
    objects = [ObjectAnnotation("tree", box=(0, 0, 10, 10)), ObjectAnnotation("tree_", box=(20, 0, 30, 10)),
               ObjectAnnotation(" tree ", box=(40, 0, 50, 10)), ObjectAnnotation("  red circle  ", box=(0, 20, 9, 29)),
               ObjectAnnotation("red__circle", box=(20, 20, 29, 29))]
    sample = GroundingTaskFn(["[OBJ]"])(objects, 100, 100, random.Random(0))
    assert sorted(sample.question.split(", ")) == ["red circle", "tree"]
    assert len(sample.ground_truth["tree"]["boxes"]) == 3
    assert len(sample.ground_truth["red circle"]["boxes"]) == 2
