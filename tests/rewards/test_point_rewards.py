"""point_in_box and point_in_mask: the original definition, edge cases, negatives, mask formats."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from reward_helpers import answer, make_gt

from rewards import GroundTruthError
from rewards import masks as masks_module
from verl.configs.reward_func import compute_score

BOX_A, BOX_B = [100, 100, 300, 300], [500, 500, 700, 700]


def score(text: str, gt: dict, **options: object) -> dict[str, float]:
    opts = {gt["reward_name"]: options} if options else None
    return compute_score([text], [gt], reward_options=opts)[0]


def box_gt(answer_: dict) -> dict:
    return make_gt(answer_, reward_name="point_in_box")


def test_greedy_example_two_points_in_one_box() -> None:
    gt = box_gt({"dog": {"boxes": [BOX_A, BOX_B], "points": [[200, 200], [600, 600]]}})
    row = score(answer(("dog", [(150, 150), (250, 250)])), gt)
    assert (row["precision"], row["recall"], row["overall"]) == pytest.approx((0.5, 0.5, 0.5))


def test_bounds_are_inclusive_and_class_must_match() -> None:
    gt = box_gt({"dog": {"boxes": [BOX_A]}})
    assert score(answer(("dog", [(300, 300)])), gt)["overall"] == 1.0
    assert score(answer(("dog", [(301, 300)])), gt)["overall"] == 0.0
    assert score(answer(("cat", [(200, 200)])), gt)["overall"] == 0.0


def test_point_edge_cases() -> None:
    negative = box_gt({"dog": {"boxes": []}})
    assert score(answer(("dog", None)), negative)["overall"] == 1.0
    assert score(answer(("dog", [(1, 1)])), negative)["overall"] == 0.0
    assert score(answer(("dog", None)), box_gt({"dog": {"boxes": [BOX_A]}}))["overall"] == 0.0


def test_negatives_and_unknown_phrases_are_false_positives() -> None:
    gt = box_gt({"dog": {"boxes": [BOX_A]}, "cat": {"boxes": []}})
    assert score(answer(("dog", [(200, 200)]), ("cat", None)), gt)["overall"] == 1.0
    row = score(answer(("dog", [(200, 200)]), ("cat", [(600, 600)]), ("owl", [(5, 5)])), gt)
    assert (row["precision"], row["recall"]) == pytest.approx((1 / 3, 1.0))


def test_point_box_count_mismatch_is_not_dropped() -> None:
    # The original dropped "dog" (2 points, 1 box) and returned 1.0 for an empty answer.
    gt = box_gt({"dog": {"boxes": [BOX_A], "points": [[1, 1], [2, 2]]}})
    assert score(answer(("dog", None)), gt)["overall"] == 0.0


def test_phrase_without_the_needed_kind_raises() -> None:
    with pytest.raises(GroundTruthError, match="'boxes'"):
        score(answer(("dog", [(1, 1)])), box_gt({"dog": {"points": [[1, 1]]}}))


def test_greedy_depends_on_order_maximum_does_not() -> None:
    big, small = [0, 0, 400, 400], [0, 0, 100, 100]
    gt = box_gt({"dog": {"boxes": [big, small]}})
    text = answer(("dog", [(50, 50), (300, 300)]))  # (50, 50) lies in both boxes
    assert score(text, gt)["overall"] == pytest.approx(0.5)
    assert score(text, gt, matching="maximum")["overall"] == pytest.approx(1.0)


def _rle(bits: np.ndarray, as_str: bool = True) -> dict:
    rle = mask_utils.encode(np.asfortranarray(bits.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode() if as_str else rle["counts"]}


def _uncompressed(bits: np.ndarray) -> dict:
    flat = bits.astype(np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(np.concatenate([[0], flat, [2]])))  # run boundaries, starting with 0s
    return {"size": list(bits.shape), "counts": np.diff(np.concatenate([[0], change])).tolist()}


@pytest.mark.parametrize("kind", ["str", "bytes", "uncompressed", "polygon"])
def test_point_in_mask_formats(kind: str) -> None:
    width, height = 999, 500
    bits = np.zeros((height, width), dtype=bool)
    bits[100:200, 300:400] = True
    mask = {"str": lambda: _rle(bits), "bytes": lambda: _rle(bits, as_str=False),
            "uncompressed": lambda: _uncompressed(bits),
            "polygon": lambda: [[300, 100, 400, 100, 400, 200, 300, 200]]}[kind]()
    gt = make_gt({"dog": {"masks": [mask]}}, reward_name="point_in_mask", size=(width, height))
    y_bin = round(150 / height * 999)
    assert score(answer(("dog", [(350, y_bin)])), gt)["overall"] == 1.0
    assert score(answer(("dog", [(10, y_bin)])), gt)["overall"] == 0.0


def test_far_edge_bin_999_hits_the_last_pixel() -> None:
    bits = np.zeros((50, 40), dtype=bool)
    bits[-1, -1] = True
    gt = make_gt({"dog": {"masks": [_rle(bits)]}}, reward_name="point_in_mask", size=(40, 50))
    assert score(answer(("dog", [(999, 999)])), gt)["overall"] == 1.0
    assert score(answer(("dog", [(0, 0)])), gt)["overall"] == 0.0


def test_each_mask_is_decoded_once_per_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = masks_module.mask_runs
    monkeypatch.setattr(masks_module, "mask_runs", lambda *a: calls.append(1) or real(*a))
    bits = np.zeros((100, 100), dtype=bool)
    gt = make_gt({"dog": {"masks": [_rle(bits), _rle(bits)]}}, reward_name="point_in_mask", size=(100, 100))
    score(answer(("dog", [(i, i) for i in range(0, 999, 10)])), gt)
    assert len(calls) == 2


def test_mask_of_the_wrong_size_raises() -> None:
    gt = make_gt({"dog": {"masks": [_rle(np.zeros((10, 10), dtype=bool))]}}, reward_name="point_in_mask", size=(20, 10))
    with pytest.raises(GroundTruthError, match="size"):
        score(answer(("dog", [(1, 1)])), gt)
