"""One packed forward per prompt group gives the padded rows' log-probs and gradients."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.tolerances import GRAD_TOL
from tests.verl.conftest import LOG_PROB_ATOL
from verl.protocol import Batch
from verl.trainer.data_loader import build_datasets, build_loader
from verl.workers.actor import forward_log_probs
from verl.workers.fsdp import build_model
from verl.workers.rollout import SamplingSettings, assemble_rollout, build_rollout
from verl.workers.shared_prompt import prompt_groups

N = 4


@pytest.fixture(scope="module")
def rollout(make_config_module) -> Batch:
    """2 prompts (toy images, prompts of different lengths) x 4 sampled answers, as the trainer assembles them."""
    cfg, processor = make_config_module
    train, _ = build_datasets(cfg.data, processor.tokenizer, processor)
    _, raw = build_loader(train, cfg.data, processor.tokenizer.pad_token_id).next_batch()
    prompts = Batch.from_mapping(raw)
    prompts["seed"] = [5, 6]
    engine = build_rollout("hf", cfg.worker.actor.model.model_path, dataclasses.replace(cfg.worker.rollout),
                           processor.tokenizer, "cpu")
    responses = engine.generate(prompts, SamplingSettings(n=N, temperature=1.0, top_p=1.0, top_k=-1, max_tokens=12))
    im_end = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    batch = assemble_rollout(prompts, responses, N, 12, processor.tokenizer.pad_token_id, {im_end})
    assert batch["attention_mask"][:, : batch["input_ids"].shape[1] - 12].min() == 0  # a left-padded prompt
    return batch


def _log_probs_and_grads(model, batch, shared):
    model.zero_grad(set_to_none=True)
    log_probs, entropy = forward_log_probs(model, batch, 0.7, "cpu", with_entropy=True, shared_prompt=shared)
    ((log_probs * batch["response_mask"]).sum() + entropy.mean()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return log_probs.detach(), entropy.detach(), grads


def _model(make_config_module):
    cfg, _ = make_config_module
    model_cfg = dataclasses.replace(cfg.worker.actor.model, enable_gradient_checkpointing=False)
    return build_model(model_cfg, torch.float32, trainable=True)


def _images_seen(model, fn):
    grids = []
    hook = model.model.visual.register_forward_pre_hook(
        lambda _m, args, kwargs: grids.append(len(kwargs.get("grid_thw", args[1] if len(args) > 1 else None))),
        with_kwargs=True)
    try:
        result = fn()
    finally:
        hook.remove()
    return result, sum(grids)


@pytest.mark.parametrize("rows", [slice(0, 8), slice(1, 7)], ids=["whole groups", "groups cut by the micro-batch"])
def test_shared_forward_equals_padded_rows(make_config_module, rollout, rows):
    batch = rollout[rows]
    batch["response_mask"] = batch["response_mask"].clone()
    batch["response_mask"][0] = 0  # an empty answer among the rows
    model = _model(make_config_module)
    P = batch["input_ids"].shape[1] - batch["responses"].shape[1]
    expected_groups = [(0, 4), (4, 8)] if rows.start == 0 else [(0, 3), (3, 6)]
    assert prompt_groups(batch, P) == expected_groups

    (ours, ours_entropy, ours_grads), images = _images_seen(model, lambda: _log_probs_and_grads(model, batch, True))
    assert images == 2  # one image per group, not one per row
    (padded, padded_entropy, padded_grads), images = _images_seen(
        model, lambda: _log_probs_and_grads(model, batch, False))
    assert images == len(batch)
    mask = batch["response_mask"].bool()
    assert mask.sum() > 10
    torch.testing.assert_close(ours[mask], padded[mask], atol=LOG_PROB_ATOL, rtol=0)
    torch.testing.assert_close(ours_entropy[mask], padded_entropy[mask], atol=LOG_PROB_ATOL, rtol=0)
    assert set(ours_grads) == set(padded_grads) and len(padded_grads) > 10
    for name, grad in padded_grads.items():
        torch.testing.assert_close(ours_grads[name], grad, **GRAD_TOL, msg=name)


def test_same_question_on_another_image_is_another_group(rollout):
    batch = rollout[0:4]
    images = list(batch.non_tensors["multi_modal_inputs"])
    changed = dict(images[2])
    changed["pixel_values"] = changed["pixel_values"] + 1.0
    images[2] = changed
    batch["multi_modal_inputs"] = images
    P = batch["input_ids"].shape[1] - batch["responses"].shape[1]
    assert prompt_groups(batch, P) == [(0, 2), (2, 3), (3, 4)]


def test_rows_without_a_shared_prompt_take_the_padded_path(make_config_module, rollout):
    batch = rollout[3:5]  # the last answer of prompt 1 and the first of prompt 2
    model = _model(make_config_module)
    P = batch["input_ids"].shape[1] - batch["responses"].shape[1]
    assert prompt_groups(batch, P) == [(0, 1), (1, 2)]
    with torch.no_grad():
        (ours, _), images = _images_seen(model, lambda: forward_log_probs(model, batch, 1.0, "cpu", shared_prompt=True))
        padded, _ = forward_log_probs(model, batch, 1.0, "cpu")
    assert images == 2
    torch.testing.assert_close(ours, padded, atol=0, rtol=0)
