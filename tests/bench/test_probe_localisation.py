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


def test_a_short_run_reports_every_window(tmp_path: Path) -> None:
    from dataset.toy_data import make_toy_datasets
    from finetuning.tiny_model import build_tiny_rex_omni

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
        for key in ("text_acc", "coord_within30", "blind_within30"):
            assert 0.0 <= record[key] <= 1.0
