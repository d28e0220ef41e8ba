"""rewards.task_metrics: the official polygon, keypoint, GUI, hallucination and visual-prompt numbers, by hand."""

from __future__ import annotations

import pytest

from rewards.task_metrics import (
    duplicate_ratio,
    evaluation_parser_split,
    gui_correct,
    keypoint_image,
    match_polygons,
    oks,
    summarise_task_lines,
)

SQUARE = [0, 0, 200, 0, 200, 200, 0, 200]
SHIFTED = [100, 100, 300, 100, 300, 300, 100, 300]  # IoU 1/7 with SQUARE


def test_polygon_matching_pools_gt_names_and_counts_every_prediction() -> None:
    score = match_polygons({"Hello World": [SQUARE]}, {"hello_world": [SQUARE], "other": [SHIFTED]}, 0.5)
    assert (score.precision, score.recall) == (0.5, 1.0)
    assert match_polygons({"a": [SQUARE]}, {"a": [SHIFTED]}, 0.5).recall == 0.0
    assert match_polygons({"a": [SQUARE]}, {"a": [SHIFTED]}, 0.1).recall == 1.0  # 1/7 >= 0.1
    assert match_polygons({"a": [SQUARE]}, {"a": [[0, 0, 200, 200]]}, 0.1).recall == 0.0  # 4 numbers: IoU 0
    bowtie = [0, 0, 200, 200, 200, 0, 0, 200]
    assert match_polygons({"a": [SQUARE]}, {"a": [bowtie]}, 0.1).recall == 0.0
    assert match_polygons({}, {}, 0.5).f1 == 1.0 and match_polygons({}, {"a": [SQUARE]}, 0.5).f1 == 0.0


def test_evaluation_parser_splits_down_sloping_quads() -> None:
    assert evaluation_parser_split([83, 305, 302, 294, 306, 344, 87, 358]) == [[83, 305, 302, 294, 306, 344, 87, 358]]
    assert evaluation_parser_split([0, 0, 10, 5, 10, 15, 0, 10]) == [[0, 0, 10, 5], [10, 15, 0, 10]]
    assert evaluation_parser_split([1, 2, 3, 4, 5]) == [[1, 2, 3, 4], [5]]


def test_oks_skips_missing_joints_and_scores_unvisible_zero() -> None:
    box = [0, 0, 100, 100]
    assert oks(box, {"a": [50, 50], "b": [10, 10]}, {"a": [50, 50]}) == 1.0  # missing: skipped, as the original
    assert oks(box, {"a": [50, 50], "b": [10, 10]}, {"a": [50, 50], "b": "unvisible"}) == 0.5  # original crashes
    assert oks(box, {"a": [50, 50]}, {"a": [55, 50]}) == pytest.approx(0.1353352832, rel=1e-6)  # exp(-2)
    assert oks([0, 0, 0, 10], {"a": [0, 0]}, {"a": [0, 0]}) == 0.0


def test_keypoint_ap_is_best_match_recall() -> None:
    gt = {"person": [{"bbox": [0, 0, 100, 100], "keypoints": {"a": [50, 50]}},
                     {"bbox": [0, 0, 100, 100], "keypoints": {"a": [10, 10]}},
                     {"bbox": [0, 0, 1, 1], "keypoints": {}}]}  # no keypoints: dropped
    pred = {"person": [{"bbox": [0, 0, 1, 1], "keypoints": {"a": [50, 50]}}]}
    image = keypoint_image(gt, pred)
    assert image["ap"][0.5] == 0.5 and image["num_gt"] == 2 and image["avg_oks"] == 1.0
    assert keypoint_image({}, pred)["ap"][0.95] == 1.0 and keypoint_image(gt, {})["ap"][0.5] == 0.0


def test_gui_any_item_and_duplicates() -> None:
    assert gui_correct([10, 10, 20, 20], {"x": [[0, 0], [20, 20]]})
    assert gui_correct([10, 10, 20, 20], {"x": [[0, 0, 30, 30]]})  # centre (15, 15)
    assert not gui_correct([10, 10, 20, 20], {"x": [[0, 0, 10, 10]]}) and not gui_correct([], {"x": [[15, 15]]})
    assert duplicate_ratio([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]]) == pytest.approx(1 / 3)


def test_summary_of_mixed_lines() -> None:
    lines = [
        {"task_name": "gui", "gt": [10, 10, 20, 20], "extracted_predictions": {"x": [[15, 15]]}},
        {"task_name": "gui", "gt": [10, 10, 20, 20], "extracted_predictions": {}},
        {"task_name": "hallucination", "gt": {}, "extracted_predictions": {"cat": []}},
        {"task_name": "visual_prompt_detection", "gt": {"object_1": [[0, 0, 10, 10], [20, 20, 30, 30]]},
         "extracted_predictions": {"object_1": [[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]]}},
        {"task_name": "task2_detect_all_in_polygon_and_recog", "gt": {"a": [SQUARE]},
         "extracted_predictions": {"a": [[0, 0, 200, 10, 200, 200, 0, 190]]}},  # slopes down: split
        {"task_name": "keypoint", "gt": {"p": [{"bbox": [0, 0, 100, 100], "keypoints": {"a": [50, 50]}}]},
         "extracted_predictions": {"p": [{"bbox": [0, 0, 9, 9], "keypoints": {"a": [50, 50]}}]}},
    ]
    out = summarise_task_lines(lines)
    assert out["gui_accuracy"] == 0.5 and out["hallucination_accuracy"] == 1.0
    assert out["visual_prompt_mae"] == 1 and out["visual_prompt_duplicate_ratio"] == pytest.approx(1 / 3)
    assert out["polygon_f1@0.5"] == 1.0 and out["polygon_evaluation_parser_f1_at_0_5"] == 0.0
    assert out["keypoint_ap@0.95"] == 1.0 and out["keypoint_mean_f1"] == 1.0
