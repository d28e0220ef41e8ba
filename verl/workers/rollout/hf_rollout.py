"""Rollout with ``transformers.generate`` on a local, unsharded copy of the policy.

Why a copy: generating with the FSDP module itself would all-gather every layer for every new token and
needs all ranks to run the same number of decoding steps (``synced_gpus``). A rank-local copy, refreshed
each step from the gathered full state dict, generates without collectives and is synced exactly like
vLLM (``load_weights``), so both engines share one weight-sync path. Cost: one extra model per rank.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from verl.protocol import Batch
from verl.workers.rollout.base import SamplingSettings

__all__ = ["HFRollout"]

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class HFRollout:
    """Batched, left-padded sampling with an HF copy of the model (stops at ``<|im_end|>``).

    On CPU the copy is fp32 whatever ``rollout.dtype`` says, to match the fp32 actor.
    """

    def __init__(self, model_path: str, cfg: Any, tokenizer: Any, device: str) -> None:
        from transformers import AutoModelForImageTextToText

        dtype = _DTYPES[cfg.dtype] if device == "cuda" else torch.float32
        self.model = AutoModelForImageTextToText.from_pretrained(
            model_path, dtype=dtype, attn_implementation="sdpa", trust_remote_code=cfg.trust_remote_code)
        self.model.requires_grad_(False).eval().to(device)
        self.device, self.tokenizer = device, tokenizer
        self.image_token_id = self.model.config.image_token_id
        self.eos_ids = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
        self.suppress = [self.image_token_id, self.model.config.video_token_id]

    def wake_up(self) -> None:
        """Nothing to do: the copy stays resident."""

    def sleep(self) -> None:
        if self.device == "cuda":
            torch.cuda.empty_cache()

    @torch.no_grad()
    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Copy ``(name, tensor)`` pairs into the matching parameters/buffers; unknown names raise."""
        targets = self.model.state_dict(keep_vars=True)  # includes tied aliases such as lm_head.weight
        for name, tensor in weights:
            if name not in targets:
                raise KeyError(f"rollout model has no weight '{name}'")
            targets[name].copy_(tensor)

    def named_weights(self) -> dict[str, torch.Tensor]:
        """The copy's current weights (for tests of the sync)."""
        return dict(self.model.state_dict())

    @torch.no_grad()
    def generate(self, prompts: Batch, sampling: SamplingSettings) -> list[list[int]]:
        """Sample ``n`` responses per prompt; seeded by the first row's ``seed`` when present."""
        batch = prompts.repeat(sampling.n, interleave=True)
        input_ids = batch["input_ids"].to(self.device)
        mm = batch.non_tensors.get("multi_modal_inputs")
        vision = {}
        if mm is not None:
            vision = {"pixel_values": torch.cat([r["pixel_values"] for r in mm]).to(self.device, self.model.dtype),
                      "image_grid_thw": torch.cat([r["image_grid_thw"] for r in mm]).to(self.device)}
        seed = int(prompts["seed"][0]) if "seed" in prompts else None
        with torch.random.fork_rng(devices=[torch.cuda.current_device()] if self.device == "cuda" else []):
            if seed is not None:
                torch.manual_seed(seed % (2**63))
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=batch["attention_mask"].to(self.device),
                mm_token_type_ids=(input_ids == self.image_token_id).long(),
                do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p,
                top_k=sampling.top_k if sampling.top_k > 0 else None,
                max_new_tokens=sampling.max_tokens, eos_token_id=self.eos_ids,
                pad_token_id=self.tokenizer.pad_token_id, suppress_tokens=self.suppress, use_cache=True,
                **vision,
            )
        return output[:, input_ids.shape[1]:].cpu().tolist()
