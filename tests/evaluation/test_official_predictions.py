"""Predictions JSONL in Rex-Omni's shape: built from answers, read back, scored by hand-known values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from dataset.grammar import compose_answer, parse_answer, quantize_box, quantize_point
from evaluation.official_predictions import (
    PredictionFileError,
    image_f1,
    official_record,
    read_predictions,
    score_records,
)

W = H = 999  # bins and pixels coincide up to the codec's rounding


def _rle(x0: int, y0: int, x1: int, y1: int) -> dict:
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": [H, W], "counts": rle["counts"].decode()}


ANSWER = {"cat": {"boxes": [[0, 0, 100, 100], [200, 200, 300, 300]], "points": [], "masks": []},
          "dog": {"boxes": [], "points": [], "masks": []}}  # dog: a negative


def test_detection_record_shape_and_scores() -> None:
    text = compose_answer([("cat", [quantize_box([0, 0, 100, 100], W, H)]), ("dog", [quantize_box([500, 500, 600, 600], W, H)])])
    record = official_record("a.jpg", "Detect cat, dog.", text, parse_answer(text), ANSWER, "grounding", [W, H], "toy")
    assert record["task_name"] == "detection" and record["gt"] == {"cat": [[0.0, 0.0, 100.0, 100.0],
                                                                          [200.0, 200.0, 300.0, 300.0]]}
    assert set(record["extracted_predictions"]) == {"cat", "dog"}
    # 1 of 2 cat boxes found; the dog box is a prediction for a category the GT lacks: P = 1/2, R = 1/2.
    assert image_f1(record) == pytest.approx(0.5)
    metrics = score_records([record])
    assert metrics["box_precision@0.5"] == pytest.approx(0.5) and metrics["box_recall@0.5"] == pytest.approx(0.5)
    assert metrics["box_num_images"] == 1


def test_negative_only_image_with_no_prediction_scores_one() -> None:
    record = official_record("b.jpg", "q", "", [], {"dog": ANSWER["dog"]}, "grounding", [W, H], "toy")
    assert record["gt"] == {} and score_records([record])["box_f1@0.5"] == 1.0


def test_pointing_record_scores_in_mask_and_in_box() -> None:
    # An L-shaped cat: the mask is the union of two bars, its box is their hull. The point at (80, 80)
    # is in the box but not on the mask; the point at (10, 10) is on both.
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[0:100, 0:20] = 1
    mask[0:20, 0:100] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    answer = {"cat": {"boxes": [[0, 0, 100, 100], [200, 200, 300, 300]], "points": [[5, 5], [250, 250]],
                      "masks": [{"size": [H, W], "counts": rle["counts"].decode()}, _rle(200, 200, 300, 300)]}}
    text = compose_answer([("cat", [quantize_point([80, 80], W, H), quantize_point([250, 250], W, H)])])
    record = official_record("c.jpg", "Point to cat.", text, parse_answer(text), answer, "pointing", [W, H], "toy")
    assert record["task_name"] == "pointing" and isinstance(record["gt"]["cat"][0]["counts"], str)
    metrics = score_records([record])
    assert metrics["point_in_mask_precision"] == 0.5 and metrics["point_in_mask_recall"] == 0.5
    assert metrics["point_in_box_f1"] == 1.0


def test_file_round_trip_and_the_original_defaults(tmp_path: Path) -> None:
    lines = [
        # No task_name: the original treats it as referring detection (categories ignored), so a
        # box named "kitty" still matches the "cat" GT.
        {"image_path": "x", "gt": {"cat": [[0, 0, 10, 10]]}, "extracted_predictions": {"kitty": [[0, 0, 10, 10]]}},
        # Letters-only names for COCO-style detection: "Traffic-Light" equals "traffic light".
        {"image_path": "y", "task_name": "common_object_detection", "gt": {"traffic light": [[0, 0, 10, 10]]},
         "extracted_predictions": {"Traffic-Light": [[0, 0, 10, 10]]}},
        # Crowd region of "person": the unmatched box inside it is ignored (P = 1 instead of 1/2).
        {"image_path": "z", "task_name": "detection", "gt": {"person": [[0, 0, 10, 10]]},
         "gt_crowd": {"person": [[20, 20, 90, 90]]}, "extracted_predictions": {"person": [[0, 0, 10, 10], [30, 30, 40, 40]]}},
    ]
    path = tmp_path / "answer.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + "\n")
    metrics = score_records(read_predictions(path))
    assert metrics["box_f1@0.95"] == 1.0 and metrics["box_mean_f1"] == 1.0 and metrics["box_num_images"] == 3


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "line 1: invalid JSON"),
    (json.dumps({"gt": [], "extracted_predictions": {}}), "line 1: 'gt' must be an object"),
    (json.dumps({"gt": {}, "extracted_predictions": {}, "task_name": "gui"}), r"'gt' must be a \[x0, y0, x1, y1\] list"),
])
def test_bad_prediction_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(PredictionFileError, match=message):
        read_predictions(path)
