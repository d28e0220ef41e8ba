"""Per-step metrics computed from a batch, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from verl.protocol import Batch
from verl.trainer.metrics import console_line, rollout_probs_metrics


def test_rollout_probs_diff_over_response_tokens():
    # probabilities rollout/actor: (.5, .4) (.2, .2) | (.9, .6) and a padded token whose gap (.9) is ignored
    rollout = torch.log(torch.tensor([[0.5, 0.2], [0.9, 0.1]]))
    actor = torch.log(torch.tensor([[0.4, 0.2], [0.6, 1.0]]))
    batch = Batch({"rollout_log_probs": rollout, "old_log_probs": actor,
                   "response_mask": torch.tensor([[1, 1], [1, 0]])})
    out = rollout_probs_metrics(batch)
    diffs = [0.1, 0.0, 0.3]  # mean 0.4/3, unbiased std sqrt(((.1-m)^2 + m^2 + (.3-m)^2) / 2)
    mean = sum(diffs) / 3
    std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    assert out["training/rollout_probs_diff_max"] == pytest.approx(0.3, abs=1e-6)
    assert out["training/rollout_probs_diff_mean"] == pytest.approx(mean, abs=1e-6)
    assert out["training/rollout_probs_diff_std"] == pytest.approx(std, abs=1e-6)


def test_rollout_probs_diff_absent_without_engine_log_probs():
    batch = Batch({"old_log_probs": torch.zeros(1, 2), "response_mask": torch.ones(1, 2)})
    assert rollout_probs_metrics(batch) == {}


def test_console_line_names_each_field():
    metrics = {"reward/overall": 0.0, "response_length/mean": 48.0, "actor/pg_loss": -0.25, "timing_s/step": 3.5,
               "reward/box_iou": 0.0}
    line = console_line(7, metrics)
    assert line == "step 7: reward_mean=0 response_len_mean=48 pg_loss=-0.25 step_s=3.5"
    assert " overall=" not in line and " mean=" not in line  # the old bare names said nothing
