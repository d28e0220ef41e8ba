"""FSDPWorker in-process (world size 1, gloo): generation, log-probs, update, reference, weight sync;
and the reward manager."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from transformers import AutoProcessor

from tests.verl.conftest import REPO, REWARDS
from verl import core_algos
from verl.protocol import Batch
from verl.single_controller import LocalWorkerGroup
from verl.trainer.config import RewardConfig, load_config
from verl.trainer.data_loader import build_datasets, build_loader
from verl.workers.fsdp_worker import FSDPWorker
from verl.workers.reward import RewardManager, load_reward_function


@pytest.fixture(scope="module")
def setup(tiny_model: Path, data_config: Path, tmp_path_factory):
    cfg = load_config([
        f"config={REPO / 'verl/configs/config.yaml'}", f"data.config_path={data_config}",
        f"worker.actor.model.model_path={tiny_model}", "data.num_workers=0", "data.rollout_batch_size=2",
        "worker.actor.global_batch_size=2", "trainer.n_gpus_per_node=1", "worker.rollout.tensor_parallel_size=1",
        "worker.rollout.n=4", "worker.actor.micro_batch_size_per_device_for_experience=4",
        "worker.actor.micro_batch_size_per_device_for_update=4", "data.max_response_length=12",
        "worker.actor.optim.lr=1e-2", "trainer.device=cpu", "worker.actor.model.freeze_vision_tower=true",
        f"trainer.save_checkpoint_path={tmp_path_factory.mktemp('ckpt')}"])
    processor = AutoProcessor.from_pretrained(tiny_model)
    train, _ = build_datasets(cfg.data, processor.tokenizer, processor)
    _, raw = build_loader(train, cfg.data, processor.tokenizer.pad_token_id).next_batch()
    group = LocalWorkerGroup(FSDPWorker, cfg)
    address, port = group.master_address()
    group.init_model(address, port, 10)
    yield cfg, group, Batch.from_mapping(raw, meta={"n": 4, "temperature": 1.0})
    group.shutdown()


def test_generate_logprobs_update_and_sync(setup):
    cfg, group, prompts = setup
    worker = group.workers[0]
    actor0, ref0 = worker.weights_digest("actor"), worker.weights_digest("ref")
    prompts["seed"] = [1, 2]
    batch = group.generate_sequences(prompts)
    assert len(batch) == 8 and batch["responses"].shape == (8, 12)
    assert worker.weights_digest("rollout") == actor0  # the engine generated with the actor's weights
    old = group.compute_log_probs(batch)
    ref = group.compute_ref_log_probs(batch)
    assert old["old_log_probs"].shape == (8, 12) and torch.isfinite(old["old_log_probs"]).all()
    assert (old["entropies"] > 0).all()
    torch.testing.assert_close(old["old_log_probs"], ref["ref_log_probs"])  # same weights, fp32 on CPU
    batch = batch.union(old).union(ref)
    scores = torch.zeros(8, 12)
    scores[:, -1] = torch.arange(8, dtype=torch.float32)
    batch["advantages"], _ = core_algos.compute_advantage("grpo", scores, batch["response_mask"], ["a"] * 4 + ["b"] * 4)
    metrics = group.update_actor(batch.select(
        ["input_ids", "attention_mask", "position_ids", "responses", "response_mask", "multi_modal_inputs",
         "old_log_probs", "ref_log_probs", "advantages"]))
    assert metrics["actor/grad_norm"] > 0 and metrics["actor/lr"] == pytest.approx(1e-2)
    assert abs(metrics["actor/ppo_kl"]) < 1e-5  # first micro-batch sees the old policy
    actor1 = worker.weights_digest("actor")
    changed = {k for k in actor0 if actor0[k] != actor1[k]}
    assert changed and not any(k.startswith("model.visual") for k in changed)  # vision tower frozen
    assert worker.weights_digest("ref") == ref0
    group.generate_sequences(prompts)
    assert worker.weights_digest("rollout") == actor1  # the next rollout sees the update


def _batch(tokenizer, texts: list[str], gts: list[dict]) -> Batch:
    ids = [tokenizer.encode(t) for t in texts]
    length = max(len(i) for i in ids) + 2
    responses = torch.zeros(len(ids), length, dtype=torch.long)
    mask = torch.zeros(len(ids), length, dtype=torch.long)
    for row, toks in enumerate(ids):
        responses[row, :len(toks)] = torch.tensor(toks)
        mask[row, :len(toks)] = 1
    return Batch({"responses": responses, "response_mask": mask}, {"ground_truth": gts})


GT = {"reward_name": "box_iou", "dataset_name": "d", "image_size": [100, 100],
      "answer": {"cat": {"boxes": [[0, 0, 50, 50]], "points": [], "masks": []}}}


def test_reward_manager_scores_on_last_token(tiny_model):
    tokenizer = AutoProcessor.from_pretrained(tiny_model).tokenizer
    manager = RewardManager(RewardConfig(reward_function=str(REPO / "verl/configs/reward_func.py")), tokenizer)
    answer = "<|object_ref_start|>cat<|object_ref_end|><|box_start|><0><0><500><500><|box_end|><|im_end|>"
    batch = _batch(tokenizer, [answer, "nothing<|im_end|>"], [GT, GT])
    scores, rows = manager.submit(batch).result()
    last = batch["response_mask"].sum(-1) - 1
    assert scores[0, last[0]] == pytest.approx(rows["overall"][0]) and rows["overall"][0] > 0.9
    assert scores.sum() == pytest.approx(sum(rows["overall"])) and rows["overall"][1] == 0.0
    manager.close()


def test_reward_failures_score_zero_and_log(tiny_model, caplog):
    tokenizer = AutoProcessor.from_pretrained(tiny_model).tokenizer
    manager = RewardManager(RewardConfig(reward_function=f"{REWARDS}:flaky_reward"), tokenizer)
    texts = [f"answer {i}" for i in range(8)]
    with caplog.at_level(logging.ERROR, logger="verl.workers.reward"):
        scores, rows = manager.compute(_batch(tokenizer, texts, [GT] * 8))
    failed = [i for i, e in enumerate(rows.get("reward_error", [])) if e]
    assert failed and len(failed) < 8 and all(rows["overall"][i] == 0.0 for i in failed)
    assert "Traceback" in caplog.text and "scored 0" in caplog.text


def test_load_reward_function_errors(tmp_path):
    path = tmp_path / "r.py"
    path.write_text("def main(p, g):\n    return [{'overall': 1.0}] * len(p)\n")
    assert load_reward_function(f"{path}:main")(["x"], [{}]) == [{"overall": 1.0}]
    with pytest.raises(AttributeError, match="compute_score"):
        load_reward_function(str(path))
