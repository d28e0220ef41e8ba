"""GRPO (2 steps, 2 Ray CPU workers) and the checkpoint merge from a folder in the published Rex-Omni layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.finetuning.test_published_layout import assert_keeps_published_layout
from verl.single_controller import RayWorkerGroup
from verl.single_controller.worker_group import init_ray, shutdown_ray
from verl.trainer.main import build_trainer
from verl.workers.fsdp_worker import FSDPWorker


@pytest.mark.slow
def test_grpo_and_merge_keep_the_published_layout(make_config, published_model_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tools import merge_rl_checkpoints_to_hg_version as merge_tool

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = make_config(2, f"worker.actor.model.model_path={published_model_dir}",
                         f"worker.actor.model.tokenizer_path={published_model_dir}", "trainer.max_steps=2")
    init_ray(num_cpus=2)
    trainer = None
    try:
        workers = RayWorkerGroup(FSDPWorker, config, nnodes=1, per_node=2, use_gpu=False)
        trainer = build_trainer(config, workers)
        trainer.init_workers()
        history = trainer.fit()
        assert trainer.global_step == 2 and len(history) == 2
    finally:
        if trainer is not None:
            trainer.reward.close()
            trainer.workers.shutdown()
        shutdown_ray()
    actor = tmp_path / "ckpt" / "global_step_2" / "actor"
    hf_dir = actor / "huggingface"
    assert not (hf_dir / "tokenizer.json").exists()
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        assert (hf_dir / name).read_bytes() == (published_model_dir / name).read_bytes()
    merged = tmp_path / "merged"
    assert merge_tool.main(["--local_dir", str(actor), "--output_dir", str(merged)]) == 0
    assert_keeps_published_layout(merged, published_model_dir)
    assert json.loads((merged / "config.json").read_text())["image_token_id"] == 151655
