"""Category-name cleaning (the original rule)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataset.task_fns import clean_category_name


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("traffic_light/signal", "traffic light"),
        ("person", "person"),
        ("hot,dog", "hotdog"),
        ("a_b_c", "a b c"),
        ("x/y/z", "x"),
        ("  cup  ", "cup"),
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
