"""Rex-Omni protocol metrics on crafted images; every expected value is worked out by hand."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

from rewards.detection_metrics import (
    IOU_THRESHOLDS,
    ImageScore,
    box_iou,
    match_boxes,
    match_points,
    point_in_box,
    point_in_mask,
    summarise_box_protocol,
    summarise_scores,
)

A = [0, 0, 10, 10]      # area 100
A_SHIFT = [0, 0, 10, 8]  # inside A: IoU 80/100 = 0.8
B = [20, 20, 30, 30]
FAR = [50, 50, 60, 60]


def test_thresholds_are_the_ten_coco_steps() -> None:
    assert IOU_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_box_iou_by_hand() -> None:
    assert box_iou(A, A_SHIFT) == pytest.approx(0.8)
    assert box_iou(A, [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou(A, [10, 0, 20, 10]) == 0.0  # touching edges


def test_perfect_image() -> None:
    s = match_boxes({"cat": [A], "dog": [B]}, {"cat": [A], "dog": [B]}, 0.95)
    assert (s.precision, s.recall, s.n_gt, s.n_pred) == (1.0, 1.0, 2, 2)


def test_duplicate_prediction_costs_precision_only() -> None:
    s = match_boxes({"cat": [A]}, {"cat": [A, A]}, 0.5)
    assert (s.precision, s.recall) == (0.5, 1.0)
    assert s.f1 == pytest.approx(2 * 0.5 / 1.5)


def test_miss_costs_recall_only() -> None:
    s = match_boxes({"cat": [A, B]}, {"cat": [A]}, 0.5)
    assert (s.precision, s.recall) == (1.0, 0.5)


def test_threshold_is_inclusive_and_strictness_matters() -> None:
    assert match_boxes({"cat": [A]}, {"cat": [A_SHIFT]}, 0.8).n_matched == 1  # IoU exactly 0.8
    assert match_boxes({"cat": [A]}, {"cat": [A_SHIFT]}, 0.85).n_matched == 0


def test_absent_category_counts_against_precision() -> None:
    s = match_boxes({"cat": [A]}, {"cat": [A], "zebra": [FAR]}, 0.5)
    assert (s.precision, s.recall, s.n_pred) == (0.5, 1.0, 2)


def test_wrong_present_category_still_matches_because_pooled() -> None:
    # The cat box is named "dog"; "dog" is in the GT, so the pooled walk lets the cat GT take it,
    # and the dog GT (box B) finds nothing: 1 match of 2 GT, 1 of 1 prediction.
    s = match_boxes({"cat": [A], "dog": [B]}, {"dog": [A]}, 0.5)
    assert (s.precision, s.recall) == (1.0, 0.5)


def test_wrong_absent_category_never_matches() -> None:
    s = match_boxes({"cat": [A]}, {"bird": [A]}, 0.5)
    assert (s.precision, s.recall) == (0.0, 0.0)


def test_gt_walk_takes_highest_iou_in_order() -> None:
    # GT 1 (A) prefers the exact copy over A_SHIFT; GT 2 (A_SHIFT) then takes A_SHIFT.
    s = match_boxes({"cat": [A, A_SHIFT]}, {"cat": [A_SHIFT, A]}, 0.5)
    assert s.n_matched == 2
    # GT order decides who gets a shared box: A comes first and takes A_SHIFT (IoU 0.8), so the
    # A_SHIFT GT, which would have matched it at IoU 1, is missed.
    s = match_boxes({"cat": [A, A_SHIFT]}, {"cat": [A_SHIFT, FAR]}, 0.5)
    assert (s.n_matched, s.precision, s.recall) == (1, 0.5, 0.5)


def test_empty_image_cases() -> None:
    assert match_boxes({}, {}, 0.5) == ImageScore(1.0, 1.0, 0, 0, 0)
    assert match_boxes({}, {"cat": [A]}, 0.5) == ImageScore(0.0, 0.0, 0, 1, 0)
    assert match_boxes({"cat": [A]}, {}, 0.5) == ImageScore(0.0, 0.0, 1, 0, 0)
    assert match_boxes({"cat": [A]}, {"cat": [None, "None"]}, 0.5).n_pred == 0


def test_category_names_compare_normalised() -> None:
    s = match_boxes({"Traffic Light": [A]}, {"traffic_light": [A]}, 0.5)
    assert (s.precision, s.recall) == (1.0, 1.0)


def test_names_that_normalise_alike_keep_the_last_list_as_the_original() -> None:
    # The original rebuilds each dict by normalised key, so of "Car" and "CAR" only the later list is
    # scored; the earlier one's boxes are neither matches nor predictions. Kept, to compare with
    # published numbers (docs/evaluation.md, "Names").
    assert match_boxes({"car": [A]}, {"Car": [A], "CAR": [FAR]}, 0.5) == ImageScore(0.0, 0.0, 1, 1, 0)
    assert match_boxes({"car": [A]}, {"CAR": [FAR], "Car": [A]}, 0.5) == ImageScore(1.0, 1.0, 1, 1, 1)
    # The same on the GT side: "dog_2" replaces "dog 2".
    assert match_boxes({"dog 2": [A], "dog_2": [FAR]}, {"dog2": [A]}, 0.5) == ImageScore(0.0, 0.0, 1, 1, 0)


def test_crowd_region_ignores_unmatched_predictions_inside_it() -> None:
    crowd = {"person": [[0, 0, 100, 100]]}
    # One person GT matched; two more boxes lie inside the crowd: ignored, so P = 1/1.
    s = match_boxes({"person": [A]}, {"person": [A, B, FAR]}, 0.5, crowd=crowd)
    assert (s.precision, s.recall, s.n_pred) == (1.0, 1.0, 1)
    # Without the crowd region the same predictions give P = 1/3.
    assert match_boxes({"person": [A]}, {"person": [A, B, FAR]}, 0.5).precision == pytest.approx(1 / 3)
    # A box half outside the crowd region covers it by 0.5: ignored at 0.5, counted at 0.55.
    half = {"person": [[95, 0, 105, 10]]}
    assert match_boxes({}, half, 0.5, crowd=crowd) == ImageScore(1.0, 1.0, 0, 0, 0)
    assert match_boxes({}, half, 0.55, crowd=crowd).n_pred == 1


def test_crowd_is_per_category() -> None:
    s = match_boxes({"person": [A]}, {"person": [A], "car": [B]}, 0.5, crowd={"person": [[0, 0, 100, 100]]})
    assert (s.precision, s.n_pred) == (0.5, 2)


def test_points_in_mask_and_box() -> None:
    mask = np.zeros((20, 20), dtype=np.uint8)
    mask[2:5, 2:5] = 1
    assert point_in_mask((2.0, 2.0), mask) and point_in_mask((4.9, 4.9), mask)
    assert not point_in_mask((5.0, 3.0), mask) and not point_in_mask((25, 3), mask)
    assert point_in_box((10, 10), [10, 0, 0, 10]) and not point_in_box((10.01, 5), A)


def test_point_matching_is_per_category_and_one_to_one() -> None:
    gt = {"cat": [A, B], "dog": [FAR]}
    # cat: two points in A (one used, one spare), none in B; dog: the dog point is in FAR,
    # and a "cat" point in FAR does not count for the dog.
    pred = {"cat": [(1, 1), (2, 2), (55, 55)], "dog": [(55, 55)]}
    s = match_points(gt, pred, point_in_box)
    assert (s.n_matched, s.precision, s.recall) == (2, 0.5, 2 / 3)
    assert match_points({}, {}, point_in_box) == ImageScore(1.0, 1.0, 0, 0, 0)
    assert match_points({"cat": []}, {"cat": [(1, 1)]}, point_in_box).precision == 0.0


def test_averaging_is_over_images_then_f1_of_means() -> None:
    images = [ImageScore(1.0, 0.5, 2, 1, 1), ImageScore(0.5, 1.0, 1, 2, 1), ImageScore(0.0, 0.0, 1, 1, 0)]
    out = summarise_scores(images, "box")
    assert out["box_precision"] == pytest.approx(0.5) and out["box_recall"] == pytest.approx(0.5)
    assert out["box_f1"] == pytest.approx(0.5)  # not the mean of per-image F1s (2/3 + 2/3 + 0) / 3


def test_box_protocol_reports_each_threshold_and_the_mean() -> None:
    # One image, prediction A_SHIFT for GT A (IoU 0.8): matched at 0.5..0.8 (7 thresholds), not above.
    scores = {t: [match_boxes({"cat": [A]}, {"cat": [A_SHIFT]}, t)] for t in IOU_THRESHOLDS}
    out = summarise_box_protocol(scores)
    assert out["box_f1@0.5"] == 1.0 and out["box_f1@0.8"] == 1.0 and out["box_f1@0.85"] == 0.0
    assert out["box_f1@0.95"] == 0.0
    assert out["box_mean_f1"] == pytest.approx(0.7)


def _original_functions(path: str) -> dict:
    """``calculate_detection_metrics`` and friends from Rex-Omni's ``other_metric.py`` (without its
    shapely/tqdm imports, which these functions do not use)."""
    import ast

    from pycocotools import mask as coco_mask

    wanted = {"calculate_iou", "calculate_detection_metrics", "calculate_pointing_metrics", "is_point_in_mask",
              "decode_rle"}
    tree = ast.parse(Path(path).read_text())
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    namespace: dict = {"np": np, "coco_mask": coco_mask}
    exec(compile(ast.Module(body=body, type_ignores=[]), path, "exec"), namespace)
    return namespace


@pytest.mark.skipif(not os.environ.get("REX_OMNI_OTHER_METRIC"),
                    reason="set REX_OMNI_OTHER_METRIC to Rex-Omni's evaluation/metrics/other_metric.py to compare")
def test_agrees_with_the_original_on_random_images() -> None:
    original = _original_functions(os.environ["REX_OMNI_OTHER_METRIC"])
    rng = random.Random(0)

    def box() -> list[int]:
        x, y = rng.randint(0, 50), rng.randint(0, 50)
        return [x, y, x + rng.randint(1, 30), y + rng.randint(1, 30)]

    for _ in range(2000):
        gt = {c: [box() for _ in range(rng.randint(0, 3))] for c in rng.sample("abc", rng.randint(0, 3))}
        pred = {c: [[v + rng.randint(-3, 3) for v in rng.choice(gt[c])] if gt.get(c) and rng.random() < 0.7
                    else box() for _ in range(rng.randint(0, 3))] for c in rng.sample("abc", rng.randint(0, 3))}
        for t in IOU_THRESHOLDS:
            recall, precision, _, _ = original["calculate_detection_metrics"](gt, pred, t)
            ours = match_boxes(gt, pred, t)
            assert (ours.recall, ours.precision) == pytest.approx((recall, precision)), (gt, pred, t)
