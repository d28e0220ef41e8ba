"""Rollout assembly (EOS cut, masks, positions, log-probs) and the HF engine (weight sync, batched sampling,
log-probs equal to the actor's, the static-cache path equal to the plain one)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.verl.conftest import LOG_PROB_ATOL
from verl.protocol import Batch
from verl.trainer.data_loader import build_datasets, build_loader
from verl.workers.actor import forward_log_probs
from verl.workers.rollout import Responses, SamplingSettings, assemble_rollout, build_rollout

EOS = 99


def _prompts() -> Batch:
    positions = torch.stack([torch.tensor([[0, 0, 1, 2]] * 3), torch.tensor([[0, 1, 5, 6]] * 3)])
    return Batch({"input_ids": torch.tensor([[0, 0, 3, 4], [1, 2, 3, 4]]),
                  "attention_mask": torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]]), "position_ids": positions},
                 {"uid": ["a", "b"]})


def test_assemble_cuts_at_eos_and_masks():
    responses = Responses([[7, EOS, 8], [7, 7, 7, 7, 7], [EOS], []])
    out = assemble_rollout(_prompts(), responses, n=2, response_length=4, pad_token_id=0, eos_ids={EOS})
    assert "rollout_log_probs" not in out
    assert len(out) == 4 and list(out["uid"]) == ["a", "a", "b", "b"]
    assert out["responses"].tolist() == [[7, EOS, 0, 0], [7, 7, 7, 7], [EOS, 0, 0, 0], [0, 0, 0, 0]]
    assert out["response_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]]
    assert out["input_ids"].shape == (4, 8) and out["attention_mask"][0].tolist() == [0, 0, 1, 1, 1, 1, 0, 0]
    assert out["position_ids"][0, :, 4:].tolist() == [[3, 4, 5, 6]] * 3
    assert out["position_ids"][2, :, 4:].tolist() == [[7, 8, 9, 10]] * 3
    assert torch.equal(out["prompts"], _prompts()["input_ids"].repeat_interleave(2, 0))


def test_assemble_keeps_log_probs_of_kept_tokens():
    responses = Responses([[7, EOS, 8], [7, 7, 7, 7, 7], [EOS], []],
                          [[-0.1, -0.2, -0.3], [-1.0, -2.0, -3.0, -4.0, -5.0], [-0.5], []])
    out = assemble_rollout(_prompts(), responses, n=2, response_length=4, pad_token_id=0, eos_ids={EOS})
    expected = torch.tensor([[-0.1, -0.2, 0, 0], [-1, -2, -3, -4], [-0.5, 0, 0, 0], [0, 0, 0, 0]])
    torch.testing.assert_close(out["rollout_log_probs"], expected)


def test_assemble_checks_counts():
    with pytest.raises(ValueError, match="responses"):
        assemble_rollout(_prompts(), Responses([[1]]), n=2, response_length=4, pad_token_id=0, eos_ids={EOS})


@pytest.fixture(scope="module")
def prompt_batch(make_config_module):
    cfg, processor = make_config_module
    train, _ = build_datasets(cfg.data, processor.tokenizer, processor)
    _, raw = build_loader(train, cfg.data, processor.tokenizer.pad_token_id).next_batch()
    return Batch.from_mapping(raw)


def test_hf_rollout_generates_left_padded_batch_and_syncs_weights(make_config_module, prompt_batch):
    cfg, processor = make_config_module
    engine = build_rollout("hf", cfg.worker.actor.model.model_path, cfg.worker.rollout, processor.tokenizer, "cpu")
    sampling = SamplingSettings(n=3, temperature=1.0, top_p=1.0, top_k=-1, max_tokens=12)
    prompt_batch["seed"] = [11, 12]
    responses = engine.generate(prompt_batch, sampling).token_ids
    assert len(responses) == 6 and all(len(r) == 12 for r in responses)
    assert len({tuple(r) for r in responses}) > 1  # samples differ
    assert responses == engine.generate(prompt_batch, sampling).token_ids  # seeded
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert all(image_pad not in r for r in responses)
    zeros = [(name, torch.zeros_like(t)) for name, t in engine.named_weights().items()]
    engine.load_weights(zeros)
    assert all(float(t.abs().sum()) == 0 for t in engine.named_weights().values())
    with pytest.raises(KeyError, match="no weight"):
        engine.load_weights([("not.a.weight", torch.zeros(1))])


def test_hf_rollout_stops_at_im_end(make_config_module, prompt_batch):
    cfg, processor = make_config_module
    engine = build_rollout("hf", cfg.worker.actor.model.model_path, cfg.worker.rollout, processor.tokenizer, "cpu")
    im_end = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    vocab = engine.model.lm_head.out_features

    class ForceImEnd(torch.nn.Module):  # <|im_end|> gets all the probability mass
        def forward(self, hidden: torch.Tensor) -> torch.Tensor:
            logits = torch.zeros(*hidden.shape[:-1], vocab)
            logits[..., im_end] = 100.0
            return logits

    engine.model.lm_head = ForceImEnd()
    responses = engine.generate(prompt_batch, SamplingSettings(n=2, temperature=1.0, top_p=1.0, top_k=-1, max_tokens=12))
    out = assemble_rollout(prompt_batch, responses, 2, 12, processor.tokenizer.pad_token_id, {im_end})
    assert out["response_mask"].sum(-1).tolist() == [1] * 4
    assert out["responses"][:, 0].tolist() == [im_end] * 4


def _engine(cfg, processor, **rollout_overrides):
    rollout_cfg = dataclasses.replace(cfg.worker.rollout, **rollout_overrides)
    return build_rollout("hf", cfg.worker.actor.model.model_path, rollout_cfg, processor.tokenizer, "cpu")


def test_hf_rollout_log_probs_equal_the_actor_log_probs(make_config_module, prompt_batch):
    # The engine's log-probs of its sampled tokens equal the actor's forward on the same rows (logits / T).
    cfg, processor = make_config_module
    engine = _engine(cfg, processor)
    sampling = SamplingSettings(n=2, temperature=0.7, top_p=0.9, top_k=-1, max_tokens=12)
    prompt_batch["seed"] = [3, 4]
    responses = engine.generate(prompt_batch, sampling)
    im_end = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    out = assemble_rollout(prompt_batch, responses, 2, 12, processor.tokenizer.pad_token_id, {im_end})
    actor, _ = forward_log_probs(engine.model, out, 0.7, "cpu")
    mask = out["response_mask"].bool()
    assert mask.sum() > 8
    torch.testing.assert_close(out["rollout_log_probs"][mask], actor[mask], atol=LOG_PROB_ATOL, rtol=0)


def test_hf_static_cache_and_chunks_give_the_plain_greedy_tokens(make_config_module, prompt_batch):
    cfg, processor = make_config_module
    greedy = SamplingSettings(n=3, temperature=1.0, top_p=1.0, top_k=1, max_tokens=12)
    plain_engine = _engine(cfg, processor, hf_shared_prefill=False)
    fast_engine = _engine(cfg, processor, hf_cache="static", hf_shared_prefill=False, hf_max_num_seqs=4)
    gen = torch.Generator().manual_seed(0)  # perturbed weights, so greedy answers vary along the sequence
    noisy = [(n, t + 0.5 * torch.randn(t.shape, generator=gen)) for n, t in plain_engine.named_weights().items()
             if t.is_floating_point()]
    plain_engine.load_weights(noisy)
    fast_engine.load_weights(noisy)
    plain = plain_engine.generate(prompt_batch, greedy)
    fast = fast_engine.generate(prompt_batch, greedy)
    assert fast.token_ids == plain.token_ids
    assert len({tuple(r) for r in plain.token_ids}) > 1 and len(set(plain.token_ids[0])) > 2
    torch.testing.assert_close(torch.tensor(fast.log_probs), torch.tensor(plain.log_probs), atol=LOG_PROB_ATOL, rtol=0)


def _two_image_sizes(processor) -> Batch:
    """Two left-padded prompts whose images differ in shape: 112 x 112 px (4 x 4 merged tokens, spanning 4
    positions) and 224 x 56 px (2 x 8, spanning 8), so their M-RoPE offsets (-12 and -8) differ."""
    from PIL import Image

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Detect the circle."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    rows = [processor(text=[text], images=[Image.new("RGB", size, (200, 30, 30))], return_tensors="pt")
            for size in ((112, 112), (224, 56))]
    length = max(r["input_ids"].shape[1] for r in rows)
    pad = processor.tokenizer.pad_token_id
    input_ids = torch.stack([torch.cat([torch.full((length - r["input_ids"].shape[1],), pad), r["input_ids"][0]])
                             for r in rows])
    mask = torch.stack([torch.cat([torch.zeros(length - r["input_ids"].shape[1], dtype=torch.long),
                                   r["attention_mask"][0]]) for r in rows])
    mm = [{"pixel_values": r["pixel_values"], "image_grid_thw": r["image_grid_thw"]} for r in rows]
    return Batch({"input_ids": input_ids, "attention_mask": mask}, {"multi_modal_inputs": mm})


@pytest.mark.parametrize("max_num_seqs", [3, 256], ids=["one_prompt_per_call", "both_prompts_per_call"])
@pytest.mark.parametrize("batch_name", ["toy_prompts", "two_image_sizes"])
def test_hf_shared_prefill_gives_the_per_row_greedy_tokens_with_one_image_per_prompt(make_config_module, prompt_batch,
                                                                                     max_num_seqs, batch_name):
    # Each prompt is prefilled once and its cache copied to its n samples: greedy tokens and log-probs equal
    # those of prefilling every row, and the vision tower sees each prompt's image once. With two image
    # shapes the prompts' M-RoPE offsets differ, and each must follow its own samples.
    cfg, processor = make_config_module
    if batch_name == "two_image_sizes":
        prompt_batch = _two_image_sizes(processor)
        grids = [r["image_grid_thw"][0].tolist() for r in prompt_batch.non_tensors["multi_modal_inputs"]]
        assert grids[0] != grids[1]
    greedy = SamplingSettings(n=3, temperature=1.0, top_p=1.0, top_k=1, max_tokens=12)
    rows_engine = _engine(cfg, processor, hf_shared_prefill=False)
    shared_engine = _engine(cfg, processor, hf_shared_prefill=True, hf_max_num_seqs=max_num_seqs)
    gen = torch.Generator().manual_seed(0)  # perturbed weights, so greedy answers vary along the sequence
    noisy = [(n, t + 0.5 * torch.randn(t.shape, generator=gen)) for n, t in rows_engine.named_weights().items()
             if t.is_floating_point()]
    rows_engine.load_weights(noisy)
    shared_engine.load_weights(noisy)
    images_seen: list[int] = []
    shared_engine.model.model.visual.register_forward_hook(
        lambda _m, args, kwargs, _out: images_seen.append(len(kwargs.get("grid_thw", args[1] if len(args) > 1 else []))),
        with_kwargs=True)
    rows = rows_engine.generate(prompt_batch, greedy)
    shared = shared_engine.generate(prompt_batch, greedy)
    assert shared.token_ids == rows.token_ids
    assert len({tuple(r) for r in rows.token_ids}) > 1 and len(set(rows.token_ids[0])) > 2
    torch.testing.assert_close(torch.tensor(shared.log_probs), torch.tensor(rows.log_probs), atol=LOG_PROB_ATOL, rtol=0)
    assert images_seen == ([1] * len(prompt_batch) if max_num_seqs == 3 else [len(prompt_batch)])


def test_hf_shared_prefill_needs_the_dynamic_cache(make_config_module):
    from verl.config_schema import ConfigError
    from verl.trainer.config_checks import validate_config

    cfg, _ = make_config_module
    bad = dataclasses.replace(cfg, worker=dataclasses.replace(
        cfg.worker, rollout=dataclasses.replace(cfg.worker.rollout, hf_cache="static", hf_shared_prefill=True)))
    with pytest.raises(ConfigError, match="worker.rollout.hf_shared_prefill"):
        validate_config(bad)
