"""GRPO with a LoRA actor: merged-weight stream (pure), config keys, and an end-to-end run on 2 Ray workers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from verl.trainer.config import ConfigError
from verl.workers.lora import merged_weights


def test_merged_weights_fold_the_factors_under_hf_names() -> None:
    w, bias = torch.ones(3, 2), torch.zeros(3)
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0], [0.0], [-1.0]])  # B @ A is 3x2, rank 1
    stream = [("base_model.model.layer.q.base_layer.weight", w), ("base_model.model.layer.q.base_layer.bias", bias),
              ("base_model.model.layer.q.lora_A.default.weight", a),
              ("base_model.model.layer.q.lora_B.default.weight", b), ("base_model.model.norm.weight", torch.ones(2))]
    out = dict(merged_weights(stream, scale=0.5))
    assert set(out) == {"layer.q.weight", "layer.q.bias", "norm.weight"}
    # by hand: row 0 = 1 + 0.5 * [1, 2]; row 1 unchanged; row 2 = 1 - 0.5 * [1, 2]
    torch.testing.assert_close(out["layer.q.weight"], torch.tensor([[1.5, 2.0], [1.0, 1.0], [0.5, 0.0]]))


def test_merged_weights_reject_a_missing_factor() -> None:
    stream = [("base_model.model.q.base_layer.weight", torch.ones(2, 2)),
              ("base_model.model.q.lora_A.default.weight", torch.ones(1, 2))]
    with pytest.raises(ValueError, match="q"):
        list(merged_weights(stream, scale=1.0))


def test_lora_keys_are_validated(make_config) -> None:
    cfg = make_config(1, "worker.actor.lora.enable=true", "worker.actor.lora.r=8")
    assert cfg.worker.actor.lora.r == 8 and cfg.worker.actor.lora.target_modules == "all-linear"
    with pytest.raises(ConfigError, match="worker.actor.lora.r"):
        make_config(1, "worker.actor.lora.enable=true", "worker.actor.lora.r=0")


@pytest.mark.slow
def test_grpo_with_a_lora_actor_on_two_ray_workers(make_config, tmp_path: Path, monkeypatch) -> None:
    from verl.single_controller import RayWorkerGroup
    from verl.single_controller.worker_group import init_ray, shutdown_ray
    from verl.trainer.main import build_trainer
    from verl.workers.fsdp_worker import FSDPWorker

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = make_config(2, "trainer.max_steps=2", "worker.actor.lora.enable=true", "worker.actor.lora.r=4",
                         "worker.actor.lora.alpha=8", "worker.actor.lora.vision=true", "worker.actor.optim.lr=5e-2")
    init_ray(num_cpus=2)
    trainer = None
    try:
        workers = RayWorkerGroup(FSDPWorker, config, nnodes=1, per_node=2, use_gpu=False)
        trainer = build_trainer(config, workers)
        trainer.init_workers()
        rollout0 = workers.weights_digest("rollout")[0]
        _, raw = trainer.train_loader.next_batch()
        metrics = trainer.train_step(raw)
        trainer.global_step += 1
        # The first rollout ran with B = 0 (the base model); after the update the merged weights differ.
        assert all(math.isfinite(v) for v in metrics.values()) and "actor/kl_loss" in metrics
        # The reference is the base (adapters off): before the first update actor == reference, so KL = 0.
        assert metrics["actor/kl_loss"] == pytest.approx(0.0, abs=1e-6)
        trainer.fit()
        saved = workers.weights_digest("actor")[0]  # fit ends with the step-2 checkpoint
        rollout1 = workers.weights_digest("rollout")
        assert rollout1[0] == rollout1[1] and rollout1[0] != rollout0
        changed = {k for k in rollout0 if rollout0[k] != rollout1[0][k]}
        assert changed and all(k.endswith(".weight") for k in changed)
        assert not any("lora" in k or "base_layer" in k for k in rollout1[0])  # plain HF names
        # Resume: one more update moves the adapter; loading the (adapter-only) checkpoint restores it.
        _, raw = trainer.train_loader.next_batch()
        trainer.train_step(raw)
        assert workers.weights_digest("actor")[0] != saved
        workers.load_checkpoint(str(tmp_path / "ckpt" / "global_step_2"))
        assert workers.weights_digest("actor") == [saved, saved]
    finally:
        if trainer is not None:
            trainer.reward.close()
            trainer.workers.shutdown()
        shutdown_ray()
    hf = tmp_path / "ckpt" / "global_step_2" / "actor" / "huggingface"
    adapter = load_file(hf / "adapter_model.safetensors")
    assert adapter and all(".lora_" in k for k in adapter)
    assert any("visual" in k for k in adapter) and any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter.items())

    # The RL merge tool folds the adapter into the base: check one projection by hand, W + (8 / 4) * B @ A.
    from verl.checkpoint_merge import merge_checkpoint

    merged_dir = merge_checkpoint(hf.parent)
    assert merged_dir == hf.parent / "huggingface_merged" and not (merged_dir / "adapter_config.json").exists()
    merged = load_file(merged_dir / "model.safetensors")
    base = load_file(Path(config.worker.actor.model.model_path) / "model.safetensors")
    prefix = "base_model.model.model.language_model.layers.0.self_attn.q_proj"
    key = "model.layers.0.self_attn.q_proj.weight"  # the on-disk (hub) name of the same tensor
    expected = base[key] + 2.0 * adapter[f"{prefix}.lora_B.weight"] @ adapter[f"{prefix}.lora_A.weight"]
    torch.testing.assert_close(merged[key], expected, rtol=1e-5, atol=1e-6)
