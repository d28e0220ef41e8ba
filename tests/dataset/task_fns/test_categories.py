"""Category-name cleaning (the original rule)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataset.annotations import ObjectAnnotation
from dataset.grammar import parse_answer
from dataset.task_fns import GroundingTaskFn, clean_category_name


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("traffic_light/signal", "traffic light"),
        ("person", "person"),
        ("hot,dog", "hotdog"),
        ("a_b_c", "a b c"),
        ("x/y/z", "x"),
        ("  cup  ", "cup"),
        ("tree_", "tree"),  # the original kept "tree "; stripped so it matches the parsed phrase
        ("/only_after", ""),
        ("_,_", ""),
    ],
)
def test_clean_category_name(raw: str, clean: str) -> None:
    assert clean_category_name(raw) == clean


def test_clean_category_name_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        clean_category_name(None)  # type: ignore[arg-type]


@given(st.text())
def test_clean_is_idempotent_and_removes_separators(raw: str) -> None:
    clean = clean_category_name(raw)
    assert clean_category_name(clean) == clean
    assert not {"/", "_", ","} & set(clean)


def test_trailing_underscore_phrase_matches_its_parsed_answer() -> None:
    # Why the strip: the parser strips phrases, so the ground-truth key must be stripped too.
    sample = GroundingTaskFn(["[OBJ]"])([ObjectAnnotation("tree_", box=(0, 0, 10, 10))], 20, 20, random.Random(0))
    assert [g.phrase for g in parse_answer(sample.answer)] == list(sample.ground_truth) == ["tree"]
