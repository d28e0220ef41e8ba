"""End to end on Ray: 2 CPU workers (FSDP2 over gloo), test-size model, toy data, hf rollout, n=4."""

from __future__ import annotations

import json
import math

import pytest

from verl.single_controller import RayWorkerGroup
from verl.single_controller.worker_group import init_ray, shutdown_ray
from verl.trainer.main import build_trainer
from verl.workers.fsdp_worker import FSDPWorker


@pytest.mark.slow
def test_grpo_three_steps_on_ray(make_config, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = make_config(2, "data.rollout_batch_size=2", "trainer.max_steps=3", "trainer.logger=[console,tensorboard]",
                         "worker.reward.reward_function=verl/configs/reward_func.py:compute_score")
    init_ray(num_cpus=2)
    trainer = None
    try:
        workers = RayWorkerGroup(FSDPWorker, config, nnodes=1, per_node=2, use_gpu=False)
        trainer = build_trainer(config, workers)
        trainer.init_workers()
        ref0 = workers.weights_digest("ref")
        assert ref0[0] == ref0[1]
        for _ in range(2):  # drive two steps by hand to look at the weights in between
            before = workers.weights_digest("actor")[0]
            _, raw = trainer.train_loader.next_batch()
            metrics = trainer.train_step(raw)
            trainer.global_step += 1
            assert all(d == before for d in workers.weights_digest("rollout"))  # rollout saw them
            assert workers.weights_digest("actor")[0] != before  # the update changed the actor
            assert all(math.isfinite(v) for v in metrics.values())
            assert any(k.startswith("reward/by_dataset/toy_") for k in metrics)
            assert metrics["training/rollout_probs_diff_max"] < 1e-4  # the rollout samples with the actor's weights
            assert "timing_s/old" not in metrics  # one optimizer step per batch: old log-probs from the update
            for key in ("reward/overall", "actor/pg_clipfrac_high",
                        "actor/kl_loss", "actor/entropy", "actor/grad_norm", "actor/lr", "timing_s/gen",
                        "timing_s/update", "perf/throughput_tokens_per_s", "response_length/mean"):
                assert key in metrics, key
        history = trainer.fit()  # the loop itself: one more step, then the final checkpoint
        assert trainer.global_step == 3 and len(history) == 1
        assert workers.weights_digest("ref") == ref0  # the reference never moves
    finally:
        if trainer is not None:
            trainer.reward.close()
            trainer.workers.shutdown()
        shutdown_ray()
    root = tmp_path / "ckpt"
    assert (root / "latest_checkpointed_iteration.txt").read_text().strip() == "3"
    assert sorted(p.name for p in (root / "global_step_3" / "actor" / "dcp").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    rows = [json.loads(line) for line in (root / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3] and all(v is not None for v in rows[0].values())
    assert any((root / "tensorboard").iterdir())
