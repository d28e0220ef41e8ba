"""box_iou: the original definition restated for /999 decoding, edge cases, negatives, one-to-one matching."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from reward_helpers import answer, make_gt

from bench.bench_rewards import loop_box_iou, make_sample, original_box_iou
from dataset.grammar import quantize_box
from verl.configs.reward_func import compute_score

A, B = [100, 100, 300, 300], [500, 500, 700, 800]


def score(text: str, gt: dict, **options: object) -> dict[str, float]:
    return compute_score([text], [gt], reward_options={"box_iou": options} if options else None)[0]


def test_worked_example_with_999_decoding() -> None:
    assert quantize_box([10, 20, 100, 200], 640, 480) == (15, 41, 156, 416)
    # By hand: bin / 999 * side.
    px0, py0, px1, py1 = 15 / 999 * 640, 41 / 999 * 480, 156 / 999 * 640, 416 / 999 * 480
    inter = (min(100, px1) - max(10, px0)) * (min(200, py1) - max(20, py0))
    union = (100 - 10) * (200 - 20) + (px1 - px0) * (py1 - py0) - inter
    expected = inter / union
    gt = make_gt({"dog": {"boxes": [[10, 20, 100, 200]]}}, size=(640, 480))
    row = score(answer(("dog", [(15, 41, 156, 416)])), gt)
    assert row["overall"] == pytest.approx(expected, abs=1e-12)
    assert row["overall"] == pytest.approx(0.9927, abs=1e-4)  # the /1000 original gave 0.9903
    assert row == {"overall": row["box_iou"], "box_iou": row["box_iou"], "precision": row["precision"],
                   "recall": row["recall"], "format_ok": 1.0}


def test_spaces_inside_bin_tokens_score_like_plain_tokens() -> None:
    gt = make_gt({"dog": {"boxes": [[10, 20, 100, 200]]}}, size=(640, 480))
    plain = score(answer(("dog", [(15, 41, 156, 416)])), gt)["overall"]
    spaced = "<|object_ref_start|>dog<|object_ref_end|><|box_start|>< 15 >< 41 > < 156 ><416 ><|box_end|>"
    assert score(spaced, gt)["overall"] == plain > 0.99


def test_boxes_written_without_commas_count_as_consecutive_boxes() -> None:
    # As the original reward: 8 bins without a comma are two boxes (chunked by 4).
    gt = make_gt({"dog": {"boxes": [[0, 0, 320, 240], [320, 240, 640, 480]]}}, size=(640, 480))
    run = "<|object_ref_start|>dog<|object_ref_end|><|box_start|><0><0><499><499><499><499><999><999><|box_end|>"
    row = score(run, gt)
    assert row["precision"] == row["recall"] == pytest.approx(1.0, abs=0.01)
    odd = run.replace("<999><999><|box_end|>", "<999><999><1><2><|box_end|>")  # 10 bins: not boxes
    assert score(odd, gt)["overall"] == 0.0


def test_empty_gt_and_no_prediction_is_one() -> None:
    gt = make_gt({"dog": {"boxes": [], "points": [], "masks": []}})
    assert score(answer(("dog", None)), gt)["overall"] == 1.0
    assert score("", make_gt({}))["overall"] == 1.0


def test_empty_gt_with_predictions_is_zero() -> None:
    gt = make_gt({"dog": {"boxes": []}})
    row = score(answer(("dog", [tuple(A)])), gt)
    assert (row["overall"], row["precision"]) == (0.0, 0.0)


def test_gt_without_predictions_is_zero() -> None:
    assert score(answer(("dog", None)), make_gt({"dog": {"boxes": [A]}}))["overall"] == 0.0


def test_duplicates_inflate_precision_in_the_original_matching() -> None:
    gt = make_gt({"dog": {"boxes": [A, B]}})
    row = score(answer(("dog", [tuple(A), tuple(A)])), gt)
    assert (row["precision"], row["recall"]) == pytest.approx((1.0, 0.5))
    assert row["overall"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)  # 0.667


def test_one_to_one_does_not_reward_duplicates() -> None:
    gt = make_gt({"dog": {"boxes": [A, B]}})
    row = score(answer(("dog", [tuple(A), tuple(A)])), gt, matching="one_to_one")
    assert (row["precision"], row["recall"], row["overall"]) == pytest.approx((0.5, 0.5, 0.5))


def test_objects_for_a_negative_phrase_are_false_positives() -> None:
    gt = make_gt({"dog": {"boxes": [A]}, "cat": {"boxes": []}})
    row = score(answer(("dog", [tuple(A)]), ("cat", [tuple(B)])), gt)
    assert (row["precision"], row["recall"]) == pytest.approx((0.5, 1.0))
    assert row["overall"] == pytest.approx(2 / 3)


def test_phrase_absent_from_gt_is_a_false_positive() -> None:
    gt = make_gt({"dog": {"boxes": [A]}})
    row = score(answer(("dog", [tuple(A)]), ("unicorn", [tuple(A)])), gt)
    assert row["overall"] == pytest.approx(2 / 3)


def test_negative_answered_none_is_correct_alongside_positives() -> None:
    gt = make_gt({"dog": {"boxes": [A]}, "cat": {"boxes": []}})
    assert score(answer(("dog", [tuple(A)]), ("cat", None)), gt)["overall"] == pytest.approx(1.0)


def test_wrong_class_scores_zero_and_zero_area_boxes_are_dropped() -> None:
    gt = make_gt({"dog": {"boxes": [A]}})
    assert score(answer(("cat", [tuple(A)])), gt)["overall"] == 0.0
    assert score(answer(("dog", [tuple(A), (5, 5, 5, 90)])), gt)["precision"] == pytest.approx(1.0)


def test_swapped_corners_are_ordered() -> None:
    gt = make_gt({"dog": {"boxes": [A]}})
    assert score(answer(("dog", [(300, 300, 100, 100)])), gt)["overall"] == pytest.approx(1.0)


def test_unknown_matching_is_an_error() -> None:
    with pytest.raises(ValueError, match="one_to_one"):
        score(answer(("dog", [tuple(A)])), make_gt({"dog": {"boxes": [A]}}), matching="hungry")


def test_vectorised_equals_loop_reference() -> None:
    rng = random.Random(0)
    for n in (0, 1, 3, 10, 40):
        for _ in range(10):
            text, gt = make_sample("box_iou", n, rng)
            row = score(text, gt)
            f1, p, r = loop_box_iou(text, gt)
            assert abs(row["overall"] - f1) <= 1e-9 and abs(row["precision"] - p) <= 1e-9
            assert abs(row["recall"] - r) <= 1e-9


def test_bench_reimplementation_of_the_original_agrees_up_to_its_1000_decoding() -> None:
    # The benchmark's baseline must score like ours; only bin/1000 vs bin/999 separates them.
    rng = random.Random(5)
    for n in (1, 10, 100):
        text, gt = make_sample("box_iou", n, rng)
        assert abs(score(text, gt)["overall"] - original_box_iou(text, gt)) < 0.01
    gt = make_gt({"dog": {"boxes": [[0, 0, 320, 240], [320, 240, 640, 480]]}}, size=(640, 480))
    run = "<|object_ref_start|>dog<|object_ref_end|><|box_start|>< 0 ><0><499><499><499><499><999><999><|box_end|>"
    assert abs(score(run, gt)["overall"] - original_box_iou(run, gt)) < 0.01


def _brute_one_to_one(pred: list[list[int]], ref: list[list[int]]) -> float:
    from rewards.box_iou import pairwise_iou

    iou = pairwise_iou(np.asarray(pred, float), np.asarray(ref, float))
    k = min(iou.shape)
    best = max(sum(iou[i, j] for i, j in zip(rows, cols))
               for rows in itertools.combinations(range(iou.shape[0]), k)
               for cols in itertools.permutations(range(iou.shape[1]), k))
    return 2 * (best / len(pred)) * (best / len(ref)) / (best / len(pred) + best / len(ref)) if best else 0.0


def test_one_to_one_matches_brute_force() -> None:
    rng = random.Random(1)
    for _ in range(60):
        def box() -> list[int]:
            x, y = rng.randrange(0, 600), rng.randrange(0, 600)
            return [x, y, x + rng.randrange(50, 300), y + rng.randrange(50, 300)]
        ref = [box() for _ in range(rng.randrange(1, 5))]
        pred = [box() for _ in range(rng.randrange(1, 5))] + [ref[0]] * rng.randrange(0, 3)
        got = score(answer(("dog", [tuple(b) for b in pred])), make_gt({"dog": {"boxes": ref}}), matching="one_to_one")
        assert got["overall"] == pytest.approx(_brute_one_to_one(pred, ref), abs=1e-9)
