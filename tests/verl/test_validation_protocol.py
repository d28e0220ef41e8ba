"""GRPO validation logs the detection protocol of tools/evaluate.py and prediction pictures: a test reads the
TensorBoard event file for the scalar and image tags (verl/trainer/validation_protocol.py)."""

from __future__ import annotations

import json

import pytest

from tests.verl.conftest import fit_in_process


@pytest.mark.slow
def test_validation_logs_protocol_scalars_and_pictures(make_config, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("TENSORBOARD_DIR", str(tmp_path / "tb"))
    config = make_config(1, "trainer.val_before_train=true", "trainer.val_freq=2", "trainer.max_steps=2",
                         "trainer.val_generations_to_log=2", "data.val_batch_size=4", "trainer.logger=[tensorboard]",
                         "worker.reward.reward_function=verl/configs/reward_func.py:compute_score")
    fit_in_process(config)
    rows = [json.loads(line) for line in (tmp_path / "ckpt" / "metrics.jsonl").read_text().splitlines()]
    validated = [r for r in rows if "val/protocol_box_mean_f1" in r]
    assert [r["step"] for r in validated] == [0, 2]
    for row in validated:
        assert 0.0 <= row["val/protocol_box_mean_f1"] <= row["val/protocol_box_f1@0.5"] + 1e-9 <= 1.0 + 1e-9
        assert 0.0 <= row["val/parse_rate"] <= 1.0 and row["val/num_samples"] == 8  # the 8 toy val images
    (event_file,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    events = EventAccumulator(str(event_file), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"val/protocol_box_mean_f1", "val/protocol_box_f1@0.5", "val/parse_rate",
            "val/mean_box_iou_reward"} <= set(tags["scalars"])
    assert sorted(tags["images"]) == ["val/pictures/toy_grounding_val/0", "val/pictures/toy_grounding_val/1"]
    assert [e.step for e in events.Images("val/pictures/toy_grounding_val/0")] == [0, 2]
