"""The whole GRPO loop learns: rollout -> reward -> log-probs -> advantage -> update -> weight sync, on Ray.

With a reward the test-size policy can learn quickly (the first coordinate token below bin 500), the mean
training reward must climb from its start to >= 0.9 within 50 steps. A flipped advantage sign, a rollout
engine that keeps stale weights, or misaligned log-probs or masks keep it from getting there; the
rollout-vs-actor probability gap must also stay at float noise (same weights in both).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.verl.conftest import REWARDS
from verl.single_controller import RayWorkerGroup
from verl.single_controller.worker_group import init_ray, shutdown_ray
from verl.trainer.main import build_trainer
from verl.workers.fsdp_worker import FSDPWorker

MAX_STEPS, TARGET, WINDOW = 50, 0.9, 3


@pytest.mark.slow
def test_grpo_raises_an_easy_reward_to_target(make_config, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = make_config(
        1, f"worker.reward.reward_function={REWARDS}:first_bin_below_500", "algorithm.disable_kl=true",
        "data.rollout_batch_size=4", "worker.actor.global_batch_size=4", "worker.rollout.n=8",
        "data.max_response_length=6", "worker.actor.micro_batch_size_per_device_for_update=32",
        "worker.actor.micro_batch_size_per_device_for_experience=32", "worker.actor.optim.lr=3e-2",
        "worker.actor.model.enable_gradient_checkpointing=false", f"trainer.max_steps={MAX_STEPS}",
        "trainer.total_epochs=100")
    init_ray(num_cpus=1)
    trainer = None
    rewards: list[float] = []
    try:
        trainer = build_trainer(config, RayWorkerGroup(FSDPWorker, config, nnodes=1, per_node=1, use_gpu=False))
        trainer.init_workers()
        from verl.trainer.metrics import Tracker

        tracker = Tracker(["console"], str(tmp_path), "learns", "learns", {})
        while trainer.global_step < MAX_STEPS:
            _, raw = trainer.train_loader.next_batch()
            metrics = trainer.train_step(raw)
            trainer.global_step += 1
            tracker.log(trainer.global_step, metrics)
            rewards.append(metrics["reward/overall"])
            if len(rewards) >= WINDOW and np.mean(rewards[-WINDOW:]) >= TARGET:
                break
    finally:
        if trainer is not None:
            trainer.reward.close()
            trainer.workers.shutdown()
        shutdown_ray()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    start = np.mean(rewards[:WINDOW])
    assert start < 0.75, f"the reward starts too high to show learning: {rewards}"
    assert np.mean(rewards[-WINDOW:]) >= TARGET, f"mean reward of the last {WINDOW} steps below {TARGET}: {rewards}"
    assert max(r["training/rollout_probs_diff_max"] for r in rows) < 1e-4
