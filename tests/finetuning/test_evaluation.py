"""Evaluation scoring: detection F1 counts and the summary (pure parts)."""

from __future__ import annotations

import json
from pathlib import Path

from dataset.grammar import parse_answer
from finetuning.evaluation import clean_output, detection_counts, summarise, write_json_atomic

GT = {"reward_name": "box_iou", "dataset_name": "t", "image_size": [999, 999],
      "answer": {"cat": {"boxes": [[0, 0, 100, 100], [200, 200, 300, 300]], "points": [], "masks": []},
                 "dog": {"boxes": [], "points": [], "masks": []}}}


def test_detection_counts_match_one_to_one_at_iou_half() -> None:
    text = ("<|object_ref_start|>cat<|object_ref_end|><|box_start|><0><0><100><100>,<0><0><100><100>,"
            "<600><600><700><700><|box_end|>")
    assert detection_counts(parse_answer(text), GT, "grounding") == (1, 3, 2)  # the duplicate is a FP


def test_points_inside_boxes() -> None:
    text = "<|object_ref_start|>cat<|object_ref_end|><|box_start|><50><50>,<250><250><|box_end|>"
    assert detection_counts(parse_answer(text), GT, "pointing") == (2, 2, 2)


def test_summary_and_atomic_write(tmp_path: Path) -> None:
    records = [{"tp": 1, "n_pred": 3, "n_gt": 2, "reward": 0.5, "parsed": True},
               {"tp": 0, "n_pred": 0, "n_gt": 1, "reward": 0.0, "parsed": False}]
    metrics = summarise(records, "grounding")
    assert metrics["box_f1@0.5"] == 2 * 1 / (3 + 3) and metrics["parse_rate"] == 0.5
    write_json_atomic(tmp_path / "m.json", metrics)
    assert json.loads((tmp_path / "m.json").read_text()) == metrics
    assert clean_output("abc<|im_end|>\nxyz") == "abc"
