"""bench.coordinate_decoding: the decodings it compares, on hand-made distributions and on a real model."""

from __future__ import annotations

import numpy as np
import pytest

from bench.coordinate_decoding import coordinate_logits, decoding_report, mean_iou


def test_mean_iou_of_hand_computed_boxes():
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    truth = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], dtype=float)
    assert mean_iou(pred, truth) == pytest.approx((1.0 + 50 / 150) / 2)


def test_flat_plateau_with_an_off_centre_spike():
    # Each coordinate: a plateau of equal logits over [t-50, t+50] and a spike 0.5 higher at t+40, where the
    # greedy answer goes; the mean of the distribution stays near the true bin t.
    truth = np.array([[200, 300, 600, 700]], dtype=float)
    logits = np.full((1, 4, 1000), -30.0)
    for k, t in enumerate(truth[0].astype(int)):
        logits[0, k, t - 50:t + 51] = 0.0
        logits[0, k, t + 40] = 0.5
    report = decoding_report(logits, truth)
    assert report["argmax_abs_error_bins"] == 40
    assert report["mean_abs_error_bins"] < 1.0  # the spike moves the mean by 40 * (e^0.5 - 1) / (101 + e^0.5 - 1)
    assert report["iou_mean"] > 0.99
    assert report["iou_argmax"] == pytest.approx(mean_iou(truth + 40, truth))
    assert report["iou_argmax_smoothed_24"] > report["iou_argmax"]  # smoothing flattens the spike


def test_reads_four_coordinate_distributions_per_image(tiny_model_dir, tmp_path):
    from demo.toy_data import make_toy_datasets

    make_toy_datasets(str(tmp_path), num_train=1, num_val=3, image_size=64, max_objects=1, negative_rate=0.0, seed=0)
    logits, truth = coordinate_logits(str(tiny_model_dir), str(tmp_path / "toy_grounding_val"), 3)
    assert logits.shape == (3, 4, 1000) and truth.shape == (3, 4)
    assert np.isfinite(logits).all() and ((truth >= 0) & (truth <= 999)).all()


def test_a_split_without_single_box_images_is_one_line(tiny_model_dir, tmp_path, capsys):
    from bench.coordinate_decoding import main
    from demo.toy_data import make_toy_datasets

    make_toy_datasets(str(tmp_path), num_train=1, num_val=2, image_size=64, max_objects=2, negative_rate=0.0, seed=0)
    split = tmp_path / "toy_pointing_val"  # pointing annotations: no boxes to read
    assert main(["--model", str(tiny_model_dir), "--split", str(split), "--max_samples", "2"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"coordinate_decoding: {split}: no image with exactly one box among the first 2"
