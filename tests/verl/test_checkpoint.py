"""Checkpoint layout, marker, rotation; save -> resume continues training bit-identically."""

from __future__ import annotations

import json
import shutil

import pytest

from verl.single_controller import LocalWorkerGroup
from verl.trainer.main import build_trainer
from verl.workers import checkpoint
from verl.workers.fsdp_worker import FSDPWorker


def test_marker_find_and_rotate(tmp_path):
    assert checkpoint.find_latest_checkpoint(tmp_path) is None
    for step in (1, 2, 10):
        checkpoint.save_trainer_state(checkpoint.step_dir(tmp_path, step), {"global_step": step})
    checkpoint.write_latest(tmp_path, 10)
    assert checkpoint.find_latest_checkpoint(tmp_path) == tmp_path / "global_step_10"
    removed = checkpoint.rotate_checkpoints(tmp_path, keep=2)
    assert [p.name for p in removed] == ["global_step_1"]
    assert sorted(p.name for p in tmp_path.glob("global_step_*")) == ["global_step_10", "global_step_2"]
    assert checkpoint.rotate_checkpoints(tmp_path, keep=-1) == []
    checkpoint.write_latest(tmp_path, 5)  # names a folder that is not there: start fresh
    assert checkpoint.find_latest_checkpoint(tmp_path) is None
    with pytest.raises(ValueError, match="global_step_"):
        checkpoint.checkpoint_step(tmp_path / "step3")


def _run(config):
    group = LocalWorkerGroup(FSDPWorker, config)
    trainer = build_trainer(config, group)
    try:
        trainer.init_workers()
        history = trainer.fit()
        return history, group.workers[0].weights_digest("actor"), trainer
    finally:
        trainer.reward.close()
        group.shutdown()


@pytest.mark.slow
def test_save_then_resume_is_identical(make_config, tmp_path):
    config = make_config(1, "trainer.max_steps=3", "trainer.save_freq=1", "trainer.save_limit=2")
    root = tmp_path / "ckpt"
    history, digest_a, _ = _run(config)
    assert len(history) == 3
    assert sorted(p.name for p in root.glob("global_step_*")) == ["global_step_2", "global_step_3"]
    actor = root / "global_step_3" / "actor"
    assert (actor / "dcp").is_dir() and (actor / "extra_state_rank_0.pt").is_file()
    assert {"config.json", "tokenizer_config.json", "chat_template.jinja"} <= {p.name for p in (actor / "huggingface").iterdir()}
    state = json.loads((root / "global_step_3" / "trainer_state.json").read_text())
    assert state == {"global_step": 3, "dataloader": {"epoch": 0, "position": 3}}
    lines = (root / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]

    # Pretend the run died after step 2 had been saved: resume must redo step 3 exactly.
    shutil.rmtree(root / "global_step_3")
    checkpoint.write_latest(root, 2)
    history_b, digest_b, trainer_b = _run(config)
    assert trainer_b.global_step == 3 and len(history_b) == 1
    assert digest_b == digest_a
    assert history_b[0]["reward/overall"] == pytest.approx(history[2]["reward/overall"])
    assert history_b[0]["actor/lr"] == pytest.approx(history[2]["actor/lr"])
