"""Validation in the GRPO loop: before training, every ``val_freq`` steps, ``val_only``; logged generations."""

from __future__ import annotations

import json

import pytest

from tests.verl.conftest import fit_in_process
from verl.single_controller import LocalWorkerGroup
from verl.trainer.config import ConfigError
from verl.trainer.main import build_trainer
from verl.workers.fsdp_worker import FSDPWorker


@pytest.mark.slow
def test_validation_before_and_during_training(make_config, tmp_path):
    config = make_config(1, "trainer.val_before_train=true", "trainer.val_freq=2", "trainer.max_steps=3",
                         "trainer.val_generations_to_log=2", "data.val_batch_size=4",
                         "worker.reward.reward_function=verl/configs/reward_func.py:compute_score")
    history = fit_in_process(config)
    root = tmp_path / "ckpt"
    rows = [json.loads(line) for line in (root / "metrics.jsonl").read_text().splitlines()]
    validated = [r["step"] for r in rows if "val/reward/overall" in r]
    assert validated == [0, 2, 3]  # before training, every 2 steps, and after the last step
    assert "val/reward/by_dataset/toy_grounding_val/mean" in history[1]
    assert "val/reward/box_iou" in history[1] or "val/reward/overall" in history[1]
    generations = [json.loads(line) for line in (root / "val_generations.jsonl").read_text().splitlines()]
    assert len(generations) == 6 and [g["step"] for g in generations] == [0, 0, 2, 2, 3, 3]
    assert {"prompt", "response", "score", "dataset"} <= set(generations[0])
    assert generations[0]["dataset"] == "toy_grounding_val" and "[OBJ]" not in generations[0]["prompt"]


@pytest.mark.slow
def test_val_only_trains_nothing(make_config, tmp_path):
    history = fit_in_process(make_config(1, "trainer.val_only=true", "trainer.val_generations_to_log=0"))
    root = tmp_path / "ckpt"
    assert history == [] and not list(root.glob("global_step_*"))
    rows = [json.loads(line) for line in (root / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0] and rows[0]["val/reward/overall"] is not None
    assert not (root / "val_generations.jsonl").exists()


@pytest.mark.parametrize("flag", ["trainer.val_freq=5", "trainer.val_before_train=true", "trainer.val_only=true"])
def test_validation_without_val_dataset_is_an_error(make_config, data_config, tmp_path, flag):
    no_val = tmp_path / "no_val.py"
    no_val.write_text(data_config.read_text().replace("val_dataset =", "unused_val ="))
    config = make_config(1, flag, f"data.config_path={no_val}")
    with pytest.raises(ConfigError, match=r"val_freq/val_before_train/val_only .* no `val_dataset`"):
        build_trainer(config, LocalWorkerGroup(FSDPWorker, config))
