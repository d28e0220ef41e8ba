"""Coordinate codec and answer grammar: hand-computed goldens plus property tests."""

from __future__ import annotations

import gc
import math
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataset.grammar import (
    BOX_END,
    BOX_START,
    IM_END,
    MAX_BIN,
    OBJ_END,
    OBJ_START,
    compose_answer,
    compose_group,
    dequantize,
    dequantize_box,
    dequantize_point,
    format_bins,
    parse_answer,
    parse_items,
    quantize,
    quantize_box,
    quantize_point,
)

W, H = 640, 480


# --- quantiser -------------------------------------------------------------


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ([10, 20, 100, 200], "<15><41><156><416>"),
        ([0, 0, 640, 480], "<0><0><999><999>"),
        ([639.9, 479.9, 640, 480], "<998><998><999><999>"),
        ([-50, -1, 1000, 481], "<0><0><999><999>"),  # clamped to the image
    ],
)
def test_quantize_box_golden(box: list[float], expected: str) -> None:
    assert format_bins(quantize_box(box, W, H)) == expected


def test_quantize_clamps_and_rejects_bad_input() -> None:
    assert quantize(700, W) == MAX_BIN
    assert quantize(-3, W) == 0
    assert quantize_point((320, 240), W, H) == (499, 499)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            quantize(bad, W)
    with pytest.raises(ValueError):
        quantize(1, 0)


def test_dequantize_uses_999_scale() -> None:
    assert dequantize(999, W) == W
    assert dequantize_box((0, 0, 999, 999), W, H) == (0, 0, W, H)
    assert dequantize_point((999, 0), W, H) == (W, 0)


# --- answer string --------------------------------------------

WORKED_ANSWER = (
    "<|object_ref_start|>cat toy<|object_ref_end|><|box_start|><7><10><78><104><|box_end|>, "
    "<|object_ref_start|>dog<|object_ref_end|><|box_start|>None<|box_end|>, "
    "<|object_ref_start|>person<|object_ref_end|><|box_start|><0><0><999><999>,<15><41><156><416><|box_end|>"
)


def test_compose_worked_example() -> None:
    groups = [
        ("cat toy", [(7, 10, 78, 104)]),
        ("dog", None),
        ("person", [quantize_box([0, 0, 640, 480], W, H), quantize_box([10, 20, 100, 200], W, H)]),
    ]
    assert compose_answer(groups) == WORKED_ANSWER


def test_compose_negative_and_empty_items() -> None:
    expected = f"{OBJ_START}car{OBJ_END}{BOX_START}None{BOX_END}"
    assert compose_group("car", None) == expected
    assert compose_group("car", []) == expected


def test_parse_worked_example() -> None:
    groups = parse_answer(WORKED_ANSWER)
    assert [g.phrase for g in groups] == ["cat toy", "dog", "person"]
    assert [g.negative for g in groups] == [False, True, False]
    assert groups[2].of_kind("box") == [(0, 0, 999, 999), (15, 41, 156, 416)]
    assert groups[1].items == []


# --- parser --------------------------------------------------------------------


def test_parse_items_chunk_kinds() -> None:
    items = parse_items(
        "<1><2>,<1><2><3><4>,<1><2><3><4><5><6>,<1><2><3><4><5><6><7><8>,<1>,<1><2><3>,<1><2><3><4><5>,"
    )
    assert [(i.kind, len(i.bins)) for i in items] == [
        ("point", 2),
        ("box", 4),
        ("polygon", 6),
        ("polygon", 8),
    ]


def test_parse_tolerates_spaces_inside_bin_tokens() -> None:
    # Larger Qwen2.5-VL models write "< 740 >"; the original reward removed those spaces too.
    groups = parse_answer(f"{OBJ_START}a{OBJ_END}{BOX_START}< 740 ><12 > < 3><4>,<5>< 6 >{BOX_END}")
    assert groups[0].items == [("box", (740, 12, 3, 4)), ("point", (5, 6))]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<1><2><3><4>,<5><6><7><8>", [("box", (1, 2, 3, 4)), ("box", (5, 6, 7, 8))]),  # the fast path
        ("<1><2>,<3><4>", [("point", (1, 2)), ("point", (3, 4))]),
        ("<0015><2><3><4>", [("box", (15, 2, 3, 4))]),  # leading zeros: the general path
        ("<1234><2><3><4>", [("box", (999, 2, 3, 4))]),  # over 999 clamps
        ("<1><><3><4>", []),  # an empty bin: 3 numbers, dropped
        ("<1><2><3><4>,", [("box", (1, 2, 3, 4))]),  # trailing comma
        ("<1><2><3><4>5", [("box", (1, 2, 3, 4))]),  # stray digits outside a bin
    ],
)
def test_parse_items_well_formed_and_odd_bodies(body: str, expected: list) -> None:
    assert [(i.kind, i.bins) for i in parse_items(body)] == expected
    group = parse_answer(f"{OBJ_START}a{OBJ_END}{BOX_START}{body}{BOX_END}")[0]
    assert [(i.kind, i.bins) for i in group.items] == expected
    assert group.flat_bins("box") == [b for kind, bins in expected if kind == "box" for b in bins]


def _reference_items(body: str) -> list[tuple[str, tuple[int, ...]]]:
    """The released parser's rule, written independently: split at commas, classify by bin count."""
    out = []
    for chunk in body.split(","):
        bins = tuple(min(int(d), MAX_BIN) for d in re.findall(r"<\s*(\d+)\s*>", chunk))
        kind = {2: "point", 4: "box"}.get(len(bins), "polygon" if len(bins) > 4 and len(bins) % 2 == 0 else None)
        if kind:
            out.append((kind, bins))
    return out


@given(st.text(alphabet="<>,0123 ", max_size=60) | st.lists(
    st.lists(st.integers(0, 999), min_size=2, max_size=4), max_size=5).map(
    lambda items: ",".join(format_bins(i) for i in items)))
def test_parse_items_matches_the_reference_rule(body: str) -> None:
    assert [(i.kind, i.bins) for i in parse_items(body)] == _reference_items(body)


def test_parse_without_final_box_end() -> None:
    text = f"{OBJ_START}a{OBJ_END}{BOX_START}<1><2><3><4>{BOX_END}, {OBJ_START}b{OBJ_END}{BOX_START}<5><6>,<7><8>"
    groups = parse_answer(text)
    assert [g.phrase for g in groups] == ["a", "b"]
    assert groups[1].of_kind("point") == [(5, 6), (7, 8)]


def test_parse_truncated_last_item_counts_complete_bins_only() -> None:
    # As the released parser: a chunk is classified by its complete ``<n>`` tokens.
    groups = parse_answer(f"{OBJ_START}a{OBJ_END}{BOX_START}<1><2><3><4>,<5><6><7><8")
    assert [item.bins for item in groups[0].items] == [(1, 2, 3, 4)]
    groups = parse_answer(f"{OBJ_START}a{OBJ_END}{BOX_START}<1><2><3><4>,<5><6><7")
    assert groups[0].of_kind("point") == [(5, 6)]


def test_parse_stops_at_im_end_and_tolerates_whitespace() -> None:
    text = f"{OBJ_START} a {OBJ_END}\n {BOX_START}<1><2>{BOX_END}{IM_END}{OBJ_START}b{OBJ_END}{BOX_START}<3><4>{BOX_END}"
    groups = parse_answer(text)
    assert [(g.phrase, g.of_kind("point")) for g in groups] == [("a", [(1, 2)])]


def test_parse_clamps_out_of_range_bins() -> None:
    groups = parse_answer(f"{OBJ_START}a{OBJ_END}{BOX_START}<1234><{'9' * 5000}>{BOX_END}")
    assert groups[0].of_kind("point") == [(MAX_BIN, MAX_BIN)]


def test_parse_non_string_returns_empty() -> None:
    assert parse_answer(None) == []  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------

_bins = st.integers(0, MAX_BIN)
_box_bins = st.tuples(_bins, _bins, _bins, _bins)
_point_bins = st.tuples(_bins, _bins)
_phrases = st.text("abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789-'./()&", min_size=1, max_size=20).filter(
    lambda p: p == p.strip() and p != ""
)
_groups = st.lists(
    st.tuples(
        _phrases,
        st.one_of(st.none(), st.lists(_box_bins, max_size=5), st.lists(_point_bins, max_size=5)),
    ),
    max_size=6,
)


@given(_groups)
def test_compose_parse_round_trip(groups: list[tuple[str, list[tuple[int, ...]] | None]]) -> None:
    parsed = parse_answer(compose_answer(groups))
    assert [g.phrase for g in parsed] == [p for p, _ in groups]
    for group, (_, items) in zip(parsed, groups):
        assert group.negative == (not items)
        assert [item.bins for item in group.items] == list(items or [])
        assert all(item.kind == ("box" if len(item.bins) == 4 else "point") for item in group.items)


@given(
    length=st.floats(1, 20000, allow_nan=False),
    fraction=st.floats(0, 1, allow_nan=False),
)
def test_quantize_dequantize_error_within_one_bin(length: float, fraction: float) -> None:
    coord = fraction * length
    bin_index = quantize(coord, length)
    assert 0 <= bin_index <= MAX_BIN
    assert abs(dequantize(bin_index, length) - coord) <= length / MAX_BIN * (1 + 1e-9)


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(1, 5000))
def test_quantize_always_in_range(coord: float, length: int) -> None:
    assert 0 <= quantize(coord, length) <= MAX_BIN


_TOKENS = [
    OBJ_START,
    OBJ_END,
    BOX_START,
    BOX_END,
    IM_END,
    "None",
    "<",
    ">",
    "<12>",
    "<9999999>",
    "7",
    ",",
    ", ",
    " ",
    "\n",
    "a",
    "|",
]


@given(st.text())
def test_parse_never_raises_on_text(text: str) -> None:
    for group in parse_answer(text):
        assert all(0 <= b <= MAX_BIN for item in group.items for b in item.bins)


@settings(max_examples=300)
@given(st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join))
def test_parse_never_raises_on_token_soup(text: str) -> None:
    for group in parse_answer(text):
        assert isinstance(group.phrase, str)
        assert all(item.kind in {"box", "point", "polygon"} for item in group.items)


# --- linear time ------------------------------------------------------------------------------

_ADVERSARIAL_UNITS = {
    "starts": OBJ_START,
    "unclosed_groups": f"{OBJ_START}a{OBJ_END}{BOX_START}<1><2>,",
    "no_box_start": f"{OBJ_START}a{OBJ_END} ",
    "ends_only": OBJ_END + BOX_END,
    "open_bins": "<1",
    "angles": "<",
    "digits_commas": "<123>,",
    "mixed": f"{OBJ_START}{BOX_START}<1>,{OBJ_END}<",
}


def _adversarial(unit: str, size: int) -> str:
    # A valid prefix makes the parser enter the group/body paths before the repeated unit.
    prefix = f"{OBJ_START}x{OBJ_END}{BOX_START}"
    return prefix + unit * (size // len(unit))


def _best_time(text: str, repeats: int = 5) -> float:
    """Best CPU time of several runs with the GC paused: steady on a busy machine, unlike wall time."""
    best = math.inf
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.process_time()
            parse_answer(text)
            best = min(best, time.process_time() - start)
    finally:
        gc.enable()
    return best


@pytest.mark.parametrize("unit", list(_ADVERSARIAL_UNITS.values()), ids=list(_ADVERSARIAL_UNITS))
def test_parse_is_linear(unit: str) -> None:
    small, large = _adversarial(unit, 10_000), _adversarial(unit, 100_000)
    # 10x the input may cost up to ~30x the time (cache and allocator effects measured at ~10-25x);
    # a quadratic parser costs ~100x on every attempt. Retries only absorb noise from a busy machine;
    # the 1e-4 floor keeps a tiny small-input time from making the ratio meaningless.
    best_large, best_ratio = math.inf, math.inf
    for _ in range(5):
        large_time, small_time = _best_time(large), max(_best_time(small), 1e-4)
        best_large, best_ratio = min(best_large, large_time), min(best_ratio, large_time / small_time)
        if best_large < 0.05 and best_ratio < 30:
            return
    pytest.fail(f"100 KB parse took {best_large * 1000:.1f} ms; 10x input cost {best_ratio:.1f}x time")
