"""bench/probe_localisation.py: the token accuracies on a hand-made batch, the blind baseline, a short run."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from bench import probe_localisation as probe

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_token_accuracies_on_a_hand_made_batch() -> None:
    # Vocabulary: ids 0-1 text, ids 2..11 are bins 0..9 (so within-30 means any bin here).
    lookup = torch.tensor([-1, -1] + list(range(10)))
    # Targets (labels shifted by one): text 0, coords bins 3 and 9, text 1; prompt position ignored.
    labels = torch.tensor([[-100, 0, 5, 11, 1]])
    predicted = torch.tensor([0, 6, 1, 1, 0])  # argmax per position; the last one is dropped by the shift
    logits = torch.nn.functional.one_hot(predicted, 12).float()[None]
    out = probe.token_accuracies(logits, labels, lookup)
    # Position 0 predicts target 0 (hit); 1 predicts bin 4 for bin 3 (within); 2 predicts text id 1 for a
    # coordinate (miss); 3 predicts 1 for target 1 (hit).
    assert out["text"] == [1.0, 1.0]
    assert out["coord"] == [1.0, 0.0]
    assert out["target_bin"] == [3, 9] and out["slot"] == [0, 1]


def test_blind_baseline_uses_the_mean_bin_per_slot() -> None:
    # Slot 0 bins 100, 110, 400 -> mean 203.3: none within 30. Slot 1 bins 500, 520 -> mean 510: both.
    assert math.isclose(probe.blind_within([100, 110, 400, 500, 520], [0, 0, 0, 1, 1]), 2 / 5)
    assert probe.blind_within([], []) == 0.0


def test_box_hits_need_four_consecutive_bins_with_iou_half() -> None:
    # Ids 0-1 text, 2..1001 bins 0..999. Row: text, box (100, 100, 300, 300), text, box (500, 500, 600, 600).
    lookup = torch.tensor([-1, -1] + list(range(1000)))
    labels = torch.tensor([[-100, 0, 102, 102, 302, 302, 1, 502, 502, 602, 602, 1]])
    # First box predicted as (100, 100, 300, 260): IoU 0.8. Second as (500, 500, 700, 700): IoU 0.25.
    predicted = torch.tensor([0, 102, 102, 302, 262, 1, 502, 502, 702, 702, 1, 0])
    logits = torch.nn.functional.one_hot(predicted, 1002).float()[None]
    out = probe.token_accuracies(logits, labels, lookup)
    assert out["box50"] == [1.0, 0.0]
    assert out["boxes"] == [[100, 100, 300, 300], [500, 500, 600, 600]]
    assert math.isclose(probe.box_iou_bins([100, 100, 300, 260], [100, 100, 300, 300]), 0.8)
    assert probe.box_iou_bins([5, 5, 5, 9], [0, 0, 10, 10]) == 0.0  # degenerate prediction
    assert probe.box_iou_bins([9, 9, 1, 1], [0, 0, 10, 10]) == 0.0  # inverted prediction


def test_blind_box_baseline_scores_the_mean_box() -> None:
    # Mean of the three boxes is (100, 100, 200, 200): IoU 1 with the middle one, 1/7 with the others.
    boxes = [[50, 50, 150, 150], [100, 100, 200, 200], [150, 150, 250, 250]]
    assert math.isclose(probe.blind_box_hits(boxes), 1 / 3)
    assert probe.blind_box_hits([]) == 0.0


def test_a_short_run_reports_every_window(tmp_path: Path) -> None:
    from demo.tiny_model import build_tiny_rex_omni
    from demo.toy_data import make_toy_datasets

    model_dir = build_tiny_rex_omni(tmp_path / "model", size="test", seed=0)
    make_toy_datasets(str(tmp_path / "toy"), num_train=4, num_val=1, image_size=64, max_objects=1,
                      negative_rate=0.0, background="positional")
    args = probe.build_parser().parse_args([
        "--model", str(model_dir), "--data", str(tmp_path / "toy" / "toy_grounding_train"),
        "--steps", "3", "--batch_size", "2", "--log_every", "2", "--one_template", "--reinit_std", "0.05",
    ])
    records = probe.run_probe(args)
    assert [r["step"] for r in records] == [2, 3]
    for record in records:
        assert math.isfinite(record["loss"]) and record["loss"] > 0
        for key in ("text_acc", "coord_within30", "blind_within30", "box_iou50", "blind_box_iou50"):
            assert 0.0 <= record[key] <= 1.0
