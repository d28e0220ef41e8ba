"""On-policy steps skip the old-log-prob pass: same gradient, same metrics, and only when it is exact."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.tolerances import GRAD_TOL
from tests.verl.test_actor_dp import MODES, _actor_config, _gradients, _load_model, _make_batch
from verl.trainer.config import PPOConfig
from verl.trainer.ray_trainer import GRPOTrainer, _mean_dicts
from verl.workers.actor import Actor, forward_log_probs


@pytest.mark.parametrize("mode", MODES)
def test_update_without_old_log_probs_has_the_recomputed_gradient(mode, tiny_model):
    model = _load_model(str(tiny_model))
    batch = _make_batch(model)  # old_log_probs are the model's own, as the separate pass computes them
    grads = {}
    for name, rows in (("recomputed", batch), ("shortcut", batch.select([k for k in batch.tensors if k != "old_log_probs"]))):
        model.zero_grad(set_to_none=True)
        Actor(model, _actor_config(mode), "cpu").backward_mini_batch(rows, temperature=1.0)
        grads[name] = _gradients(model)
    assert set(grads["shortcut"]) == set(grads["recomputed"]) and len(grads["recomputed"]) > 10
    for name, grad in grads["recomputed"].items():
        torch.testing.assert_close(grads["shortcut"][name], grad, **GRAD_TOL)  # tests/tolerances.py


def test_shortcut_reports_entropy_and_rollout_gap(tiny_model):
    model = _load_model(str(tiny_model))
    batch = _make_batch(model)
    mask = batch["response_mask"].bool()
    with torch.no_grad():
        log_probs, entropy = forward_log_probs(model, batch, 1.0, "cpu", with_entropy=True)
    # A rollout engine whose probabilities differ from the actor's by a known amount on one token.
    rollout = log_probs.clone()
    rollout[0, 0] = torch.log(log_probs[0, 0].exp() + 0.05)
    rows = batch.select([k for k in batch.tensors if k != "old_log_probs"])
    rows["rollout_log_probs"] = rollout
    cfg = _actor_config("token-mean")
    cfg.micro_batch_size_per_device_for_update = len(rows)  # one micro-batch: the metrics are whole-batch ones
    metrics = Actor(model, cfg, "cpu").backward_mini_batch(rows, temperature=1.0)
    assert metrics["actor/entropy"][0] == pytest.approx(float(entropy[mask].mean()), rel=1e-5)
    assert metrics["training/rollout_probs_diff_max"][0] == pytest.approx(0.05, abs=1e-5)
    assert metrics["training/rollout_probs_diff_mean"][0] == pytest.approx(0.05 / int(mask.sum()), abs=1e-6)


def test_mean_dicts_takes_the_maximum_of_max_keys():
    merged = _mean_dicts([{"a": 1.0, "x_max": 0.1}, {"a": 3.0, "x_max": 0.4}])
    assert merged == {"a": 2.0, "x_max": 0.4}


def _shortcut(rollout_batch: int, global_batch: int, ppo_epochs: int = 1, disable_kl: bool = True,
              use_kl_loss: bool = True, mode: str = "auto") -> bool:
    cfg = PPOConfig()
    cfg.data.rollout_batch_size, cfg.worker.actor.global_batch_size = rollout_batch, global_batch
    cfg.worker.actor.ppo_epochs, cfg.worker.actor.old_log_probs = ppo_epochs, mode
    cfg.algorithm.disable_kl, cfg.algorithm.use_kl_loss = disable_kl, use_kl_loss
    return GRPOTrainer.on_policy_shortcut.fget(SimpleNamespace(config=cfg, use_ref=not disable_kl))


def test_shortcut_only_where_old_log_probs_equal_the_update_forward():
    assert _shortcut(32, 32)
    assert _shortcut(32, 32, disable_kl=False, use_kl_loss=True)  # the KL loss reads ref log-probs only
    assert not _shortcut(32, 16)  # the second optimizer step sees weights the samples did not come from
    assert not _shortcut(32, 32, ppo_epochs=2)
    assert not _shortcut(32, 32, disable_kl=False, use_kl_loss=False)  # the reward's KL penalty reads them
    assert not _shortcut(32, 32, mode="recompute")
