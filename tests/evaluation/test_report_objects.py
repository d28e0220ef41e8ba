"""evaluation/report_objects.py: a predictions line of any task as the drawer's objects, and their scaling."""

from __future__ import annotations

import numpy as np

from dataset.mask_geometry import decode_mask
from evaluation.report_objects import record_objects, scale_objects


def test_ocr_polygon_line_keeps_its_text_as_the_phrase() -> None:
    record = {"task_name": "task2_detect_all_in_polygon_and_recog",
              "gt": {"EXIT": [[0, 0, 10, 0, 10, 5, 0, 5]]},
              "extracted_predictions": {"EXI7": [[0, 0, 10, 0, 10, 5, 0, 5], [1, 1, 4, 4]], "x": [[1, 2, 3]]}}
    truth, predicted = record_objects(record)
    assert [(o.phrase, o.polygon) for o in truth] == [("EXIT", (0.0, 0.0, 10.0, 0.0, 10.0, 5.0, 0.0, 5.0))]
    assert [(o.phrase, o.polygon is not None, o.box) for o in predicted] == [
        ("EXI7", True, None), ("EXI7", False, (1.0, 1.0, 4.0, 4.0))]  # a 3-number item is not drawable


def test_keypoint_line_drops_unvisible_joints_and_names_every_joint() -> None:
    record = {"task_name": "keypoint",
              "gt": {"person": [{"bbox": [0, 0, 50, 90], "phrase": "person", "keypoints": {"nose": [25, 5]}}]},
              "extracted_predictions": {"person": [{"bbox": [1, 1, 49, 89],
                                                    "keypoints": {"nose": [24, 6], "left eye": "unvisible"}}]}}
    truth, predicted = record_objects(record)
    assert truth[0].keypoints == {"nose": (25.0, 5.0, 2)} and truth[0].box == (0.0, 0.0, 50.0, 90.0)
    assert predicted[0].keypoints == {"nose": (24.0, 6.0, 2)}
    assert truth[0].keypoint_names == predicted[0].keypoint_names == ("nose", "left eye")


def test_gui_and_pointing_lines() -> None:
    gui = {"task_name": "gui", "gt": [10, 10, 30, 20], "extracted_predictions": {"OK button": [[15, 15]]}}
    truth, predicted = record_objects(gui)
    assert [(o.phrase, o.box) for o in truth] == [("element", (10.0, 10.0, 30.0, 20.0))]
    assert [(o.phrase, o.point) for o in predicted] == [("OK button", (15.0, 15.0))]
    pointing = {"task_name": "pointing", "gt": {"cat": [[[0, 0, 4, 0, 4, 4, 0, 4]]]}, "gt_boxes": {"cat": [[0, 0, 4, 4]]},
                "extracted_predictions": {"cat": [[2, 2], None]}}
    truth, predicted = record_objects(pointing)
    assert [o.mask is not None for o in truth] == [True, False] and truth[1].box == (0.0, 0.0, 4.0, 4.0)
    assert [o.point for o in predicted] == [(2.0, 2.0)]


def test_scaling_moves_every_kind_of_geometry() -> None:
    truth, _ = record_objects({"task_name": "keypoint", "extracted_predictions": {},
                               "gt": {"p": [{"bbox": [10, 20, 30, 40], "keypoints": {"a": [10, 20]}}]}})
    mask = {"task_name": "pointing", "gt": {"m": [[[0, 0, 10, 0, 10, 10, 0, 10]]]}, "extracted_predictions": {}}
    objects = truth + record_objects(mask)[0]
    small = scale_objects(objects, (100, 50), (50, 100))  # x halves, y doubles
    assert small[0].box == (5.0, 40.0, 15.0, 80.0) and small[0].keypoints == {"a": (5.0, 40.0, 2)}
    bitmap = decode_mask(small[1].mask, height=100, width=50)
    assert bitmap.shape == (100, 50) and bitmap[:19, :4].all() and not bitmap[22:, :].any() and not bitmap[:, 7:].any()
    assert np.count_nonzero(bitmap) > 0
