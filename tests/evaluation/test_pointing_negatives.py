"""Pointing images without objects in the protocol numbers, counted as the original's other_metric.py
counts them (P = R = 1 when nothing is predicted, 0 otherwise). Expected values by hand."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from dataset.grammar import compose_answer, parse_answer, quantize_point
from evaluation.official_predictions import official_record, score_records

W = H = 999
NEGATIVE = {"dog": {"boxes": [], "points": [], "masks": []}}


def _rle(x0: int, y0: int, x1: int, y1: int) -> dict:
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 1
    return {"size": [H, W], "counts": mask_utils.encode(np.asfortranarray(mask))["counts"].decode()}


def _record(answer: dict, points: dict[str, list[list[int]]]) -> dict:
    text = compose_answer([(p, [quantize_point(xy, W, H) for xy in pts]) for p, pts in points.items()])
    return official_record("x.jpg", "Point to ...", text, parse_answer(text), answer, "pointing", [W, H], "toy")


def _cat(with_masks: bool = True, with_boxes: bool = True) -> dict:
    return {"cat": {"points": [[50, 50], [250, 250]],
                    "boxes": [[0, 0, 100, 100], [200, 200, 300, 300]] if with_boxes else [],
                    "masks": [_rle(0, 0, 100, 100), _rle(200, 200, 300, 300)] if with_masks else []}}


def _split() -> list[dict]:
    # Image 1: 2 cats, one point on the first: P = 1/1, R = 1/2.
    # Image 2: no object, nothing predicted: P = R = 1.  Image 3: no object, a point on it: P = R = 0.
    return [_record(_cat(), {"cat": [[50, 50]]}), _record(NEGATIVE, {}), _record(NEGATIVE, {"dog": [[10, 10]]})]


def test_negative_only_images_enter_point_in_mask_and_in_box_as_other_metric() -> None:
    records = _split()
    assert [r["has_masks"] for r in records] == [True, None, None]
    metrics = score_records(records)
    precision, recall = (1 + 1 + 0) / 3, (0.5 + 1 + 0) / 3
    for kind in ("point_in_mask", "point_in_box"):
        assert metrics[f"{kind}_num_images"] == 3
        assert metrics[f"{kind}_precision"] == pytest.approx(precision)
        assert metrics[f"{kind}_recall"] == pytest.approx(recall)
        assert metrics[f"{kind}_f1"] == pytest.approx(4 / 7)  # 2PR / (P + R) with P = 2/3, R = 1/2


def test_lines_in_the_original_shape_count_empty_gt_images() -> None:
    # other_metric.py's own lines: no has_masks key, gt always masks (empty for an image without objects).
    lines = [{"task_name": "pointing", "gt": {"cat": [_rle(0, 0, 100, 100)]}, "extracted_predictions": {"cat": [[5, 5]]}},
             {"task_name": "pointing", "gt": {}, "extracted_predictions": {}},
             {"task_name": "pointing", "gt": {}, "extracted_predictions": {"cat": [[5, 5]]}}]
    metrics = score_records(lines)
    assert metrics["point_in_mask_num_images"] == 3
    assert metrics["point_in_mask_precision"] == pytest.approx(2 / 3)
    assert "point_in_box_f1" not in metrics


def test_data_without_masks_reports_no_point_in_mask_even_with_empty_images() -> None:
    records = [_record(_cat(with_masks=False), {"cat": [[50, 50]]}), _record(NEGATIVE, {})]
    assert records[0]["has_masks"] is False and records[0]["has_boxes"] is True
    metrics = score_records(records)
    assert "point_in_mask_f1" not in metrics
    assert metrics["point_in_box_num_images"] == 2
    assert metrics["point_in_box_recall"] == pytest.approx((0.5 + 1) / 2)


def test_data_without_boxes_reports_no_point_in_box() -> None:
    records = [_record(_cat(with_boxes=False), {"cat": [[50, 50]]}), _record(NEGATIVE, {"dog": [[1, 1]]})]
    assert records[0]["has_boxes"] is False
    metrics = score_records(records)
    assert "point_in_box_f1" not in metrics
    assert metrics["point_in_mask_num_images"] == 2
    assert metrics["point_in_mask_precision"] == pytest.approx((1 + 0) / 2)
