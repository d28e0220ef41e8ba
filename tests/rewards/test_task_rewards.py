"""The task rewards, scored through the registry (``score_batch``) on hand-computed cases.

On the 999 x 999 image a bin equals a pixel, so every expected value below is worked out on paper.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from dataset.grammar import KeypointInstance, compose_keypoint_answer
from rewards import score_batch
from rewards.matching import edit_distance

from .reward_helpers import answer, make_gt


def score(prediction: str, gt: dict[str, Any], **options: Any) -> dict[str, float]:
    (row,) = score_batch([prediction], [gt], reward_options={gt["reward_name"]: options} if options else None)
    return row


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


# ------------------------------------------------------------------ visual prompting

VP_GT = make_gt({"object_1": {"boxes": [[0, 0, 10, 10], [100, 100, 110, 110], [200, 200, 210, 210],
                                        [300, 300, 310, 310]]}}, "vp_box_iou")


def test_vp_copying_the_exemplars_scores_recall_k_over_n() -> None:
    copied = answer(("object_1", [(0, 0, 10, 10)]))
    assert score(copied, VP_GT)["overall"] == pytest.approx(f1(1.0, 0.25))  # 0.4
    everything = answer(("object_1", [(0, 0, 10, 10), (100, 100, 110, 110), (200, 200, 210, 210), (300, 300, 310, 310)]))
    assert score(everything, VP_GT)["overall"] == pytest.approx(1.0)


def test_vp_duplicates_other_phrases_and_the_count_term() -> None:
    dup = answer(("object_1", [(0, 0, 10, 10), (0, 0, 10, 10)]))
    assert score(dup, VP_GT)["overall"] == pytest.approx(f1(0.5, 0.25))
    other = answer(("pigeon", [(0, 0, 10, 10)]))
    assert score(other, VP_GT)["overall"] == 0.0
    assert score(other, VP_GT, phrase_agnostic=True)["overall"] == pytest.approx(0.4)
    half = answer(("object_1", [(0, 0, 10, 5)]))  # IoU 0.5 with the first box
    assert score(half, VP_GT)["recall"] == pytest.approx(0.5 / 4)
    # count term: |1 - 4| / 4 * 0.2 = 0.15 off the F1 of 0.4
    assert score(answer(("object_1", [(0, 0, 10, 10)])), VP_GT, count_weight=0.2)["overall"] == pytest.approx(0.25)


# ------------------------------------------------------------------ OCR boxes

OCR_GT = {**make_gt({"Hello": {"boxes": [[0, 0, 100, 50]]}, "Rachel,": {"boxes": [[200, 0, 300, 50]]}}, "ocr_box_iou"),
          "ignore": {"boxes": [[500, 500, 600, 600]], "polygons": []}}


def test_ocr_box_needs_the_text_after_the_metric_normalisation() -> None:
    right = answer(("hel lo", [(0, 0, 100, 50)]), ("Rachel,", [(200, 0, 300, 50)]))
    assert score(right, OCR_GT)["overall"] == pytest.approx(1.0)
    wrong_text = answer(("Hullo", [(0, 0, 100, 50)]), ("Rachel,", [(200, 0, 300, 50)]))
    assert score(wrong_text, OCR_GT)["overall"] == pytest.approx(0.5)
    swapped = answer(("Rachel,", [(0, 0, 100, 50)]), ("Hello", [(200, 0, 300, 50)]))
    assert score(swapped, OCR_GT)["overall"] == 0.0


def test_ocr_box_edit_distance_option_and_dont_care_regions() -> None:
    near = answer(("Hullo", [(0, 0, 100, 50)]))
    # P = R·2 ... weight = 1 - 1/5 = 0.8: P = 0.8 / 1, R = 0.8 / 2
    assert score(near, OCR_GT, text_sim="ned")["overall"] == pytest.approx(f1(0.8, 0.4))
    on_dont_care = answer(("Hello", [(0, 0, 100, 50)]), ("###", [(510, 510, 590, 590)]))
    assert score(on_dont_care, OCR_GT)["overall"] == pytest.approx(f1(1.0, 0.5))
    assert edit_distance("kitten", "sitting") == 3


@pytest.mark.parametrize("text", [
    "<|object_ref_start|>a<b<|object_ref_end|><|box_start|><0><0><100><50><|box_end|>",  # "<" in the text
    "<|object_ref_start|>Hello<|object_ref_end|><|box_start|><0><0><100>",                # a missing box end
    "<|object_ref_start|>Hello<|object_ref_end|><|box_start|><0><0><100><50><7><|box_end|>",  # odd bin count
    "", "None", "<|object_ref_start|><|object_ref_end|><|box_start|>None<|box_end|>",
])
def test_malformed_ocr_answers_get_a_score(text: str) -> None:
    assert 0.0 <= score(text, OCR_GT)["overall"] <= 1.0


# ------------------------------------------------------------------ OCR polygons

POLY_GT = make_gt({"Hi": {"boxes": [[0, 0, 200, 200]], "polygons": [[0, 0, 200, 0, 200, 200, 0, 200]]}}, "polygon_iou")


def test_polygon_iou_hand_values() -> None:
    same = answer(("Hi", [(0, 0, 200, 0, 200, 200, 0, 200)]))
    assert score(same, POLY_GT)["overall"] == pytest.approx(1.0)
    shifted = answer(("hi", [(100, 100, 300, 100, 300, 300, 100, 300)]))  # overlap 100², union 7·100²
    assert score(shifted, POLY_GT)["overall"] == pytest.approx(1 / 7)
    bowtie = answer(("Hi", [(0, 0, 200, 200, 200, 0, 0, 200)]))  # self-intersecting: 0
    assert score(bowtie, POLY_GT)["overall"] == 0.0
    as_box = answer(("Hi", [(0, 0, 200, 200)]))  # a box in a polygon answer: a prediction of weight 0
    assert score(as_box, POLY_GT)["overall"] == 0.0
    both = answer(("Hi", [(0, 0, 200, 0, 200, 200, 0, 200), (0, 0, 200, 200)]))
    assert score(both, POLY_GT)["overall"] == pytest.approx(f1(0.5, 1.0))
    assert score(answer(("Bye", [(0, 0, 200, 0, 200, 200, 0, 200)])), POLY_GT, text_match=False)["overall"] == 1.0


def test_polygon_malformed_answers_get_a_score() -> None:
    for text in ["<|object_ref_start|>Hi<|object_ref_end|><|box_start|><0><0><200><0><200><200><0><|box_end|>",
                 "<|object_ref_start|>Hi<|object_ref_end|><|box_start|><0><0><0><0><0><0><|box_end|>",
                 "<|object_ref_start|>Hi<|object_ref_end|><|box_start|><0><0><200><0><200>"]:
        assert score(text, POLY_GT)["overall"] == 0.0


# ------------------------------------------------------------------ keypoints

NAMES = ["nose", "left eye"]
KP_GT = {**make_gt({"person": {"boxes": [[0, 0, 100, 100]], "keypoints": [{"nose": [50, 50, 2], "left eye": [60, 40, 1]}]}},
                   "keypoint_oks"), "keypoint_names": NAMES}


def kp_answer(*instances: tuple[tuple[int, int, int, int], dict[str, tuple[int, int] | None]]) -> str:
    return compose_keypoint_answer(KeypointInstance("person", b, k) for b, k in instances) + "<|im_end|>"


def test_oks_exact_and_unvisible_joints() -> None:
    exact = kp_answer(((0, 0, 100, 100), {"nose": (50, 50), "left eye": (60, 40)}))
    assert score(exact, KP_GT)["overall"] == pytest.approx(1.0)
    half = kp_answer(((0, 0, 100, 100), {"nose": (50, 50), "left eye": None}))  # unvisible joint: 0, not skipped
    assert score(half, KP_GT)["overall"] == pytest.approx(0.5)
    missing = kp_answer(((0, 0, 100, 100), {"nose": (50, 50)}))
    assert score(missing, KP_GT)["overall"] == pytest.approx(0.5)


def test_oks_distance_and_extra_instances() -> None:
    # nose 5 px off: exp(-25 / (2 * 0.025² * 10000)) = exp(-2)
    off = kp_answer(((0, 0, 100, 100), {"nose": (55, 50), "left eye": (60, 40)}))
    assert score(off, KP_GT)["overall"] == pytest.approx((math.exp(-2) + 1) / 2)
    two = kp_answer(((0, 0, 100, 100), {"nose": (50, 50), "left eye": (60, 40)}),
                    ((0, 0, 100, 100), {"nose": (50, 50), "left eye": (60, 40)}))
    assert score(two, KP_GT)["overall"] == pytest.approx(f1(0.5, 1.0))  # one-to-one: the copy scores 0
    assert score(off, KP_GT, sigma=[0.05, 0.025])["overall"] == pytest.approx((math.exp(-0.5) + 1) / 2)


def test_oks_unlabelled_joints_option() -> None:
    gt = {**KP_GT, "answer": {"person": {"boxes": [[0, 0, 100, 100]],
                                         "keypoints": [{"nose": [50, 50, 2], "left eye": [0, 0, 0]}]}}}
    guessed = kp_answer(((0, 0, 100, 100), {"nose": (50, 50), "left eye": (60, 40)}))
    assert score(guessed, gt)["overall"] == pytest.approx(1.0)  # v = 0 is ignored by default
    assert score(guessed, gt, penalise_unlabelled=True)["overall"] == pytest.approx(0.5)
    declined = kp_answer(((0, 0, 100, 100), {"nose": (50, 50), "left eye": None}))
    assert score(declined, gt, penalise_unlabelled=True)["overall"] == pytest.approx(1.0)


@pytest.mark.parametrize("text", ["```json\n{\"person1\": {\"bbox\": \" <0> <0> <100>", "", "None",
                                  "```json\n[]\n```", '{"person1": {"bbox": "<0><0><100>", "keypoints": {}}}'])
def test_malformed_keypoint_answers_score_zero(text: str) -> None:
    row = score(text, KP_GT)
    assert row["overall"] == 0.0 and row["format_ok"] == 0.0


def test_no_gt_instance() -> None:
    empty = {**make_gt({"person": {"boxes": [], "keypoints": []}}, "keypoint_oks"), "keypoint_names": NAMES}
    assert score("```json\n{}\n```", empty)["overall"] == 1.0
    assert score(kp_answer(((0, 0, 9, 9), {"nose": (1, 1)})), empty)["overall"] == 0.0


# ------------------------------------------------------------------ GUI and hallucination

GUI_GT = make_gt({"play": {"boxes": [[100, 100, 200, 200]], "points": [[150, 150]]}}, "gui_hit")


def test_gui_first_item_and_any_item() -> None:
    assert score(answer(("play", [(150, 150)])), GUI_GT)["overall"] == 1.0
    assert score(answer(("play", [(190, 190, 210, 210)])), GUI_GT)["overall"] == 1.0  # centre (200, 200): inclusive
    sprayed = answer(("play", [(0, 0), (150, 150), (900, 900), (5, 5)]))
    assert score(sprayed, GUI_GT)["overall"] == 0.0
    assert score(sprayed, GUI_GT, mode="any")["overall"] == 1.0
    assert score(sprayed, GUI_GT, mode="any", length_penalty=True)["overall"] == 0.25
    # half weight on IoU: box (100, 100, 200, 150) hits (centre (150, 125)) with IoU 0.5 -> 0.75
    assert score(answer(("play", [(100, 100, 200, 150)])), GUI_GT, iou_weight=0.5)["overall"] == pytest.approx(0.75)
    assert score("garbage <1>", GUI_GT)["overall"] == 0.0


def test_hallucination_is_one_iff_nothing_is_answered() -> None:
    gt = make_gt({"unicorn": {"boxes": []}}, "hallucination")
    assert score(answer(("unicorn", None)), gt)["overall"] == 1.0
    assert score("", gt)["overall"] == 1.0
    assert score(answer(("unicorn", [(1, 2, 3, 4)])), gt)["overall"] == 0.0
    assert score(answer(("unicorn", None), ("horse", [(1, 2)])), gt)["overall"] == 0.0


# ------------------------------------------------------------------ never an exception

PIECES = ["<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|im_end|>", ",", ", ",
          "<0>", "<999>", "<12>", "<1000>", "< 5 >", "None", "Hi", "a<b", "```json\n", "\n```", "{", "}", '"person1"',
          ': {"bbox": " <1> <2> <30> <40> ", "keypoints": {"nose": " <5> <6> "', '"unvisible"', ":", "[", "]"]
TASK_GTS = {"vp_box_iou": VP_GT, "ocr_box_iou": OCR_GT, "polygon_iou": POLY_GT, "keypoint_oks": KP_GT,
            "gui_hit": GUI_GT, "hallucination": make_gt({"unicorn": {"boxes": []}}, "hallucination")}


@pytest.mark.parametrize("reward", sorted(TASK_GTS))
def test_random_token_soup_always_scores_in_range(reward: str) -> None:
    import random

    rng = random.Random(reward)
    texts = ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 30))) for _ in range(300)]
    for row in score_batch(texts, [TASK_GTS[reward]] * len(texts)):
        assert 0.0 <= row["overall"] <= 1.0 and math.isfinite(row["overall"])
