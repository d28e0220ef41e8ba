"""Rollout with ``transformers.generate`` on a local, unsharded copy of the policy.

Why a copy: generating with the FSDP module itself would all-gather every layer for every new token and
needs all ranks to run the same number of decoding steps (``synced_gpus``). A rank-local copy, refreshed
each step from the gathered full state dict, generates without collectives and is synced exactly like
vLLM (``load_weights``), so both engines share one weight-sync path. Cost: one extra model per rank.

Speed knobs (``worker.rollout.hf_*``): rows go to ``generate`` in chunks of ``hf_max_num_seqs``; with
``hf_shared_prefill`` each prompt and its image are prefilled once and the KV cache is copied to its ``n``
samples (a GRPO group shares its prompt, so this saves ``n - 1`` prefills of every prompt); a static KV cache
(``hf_cache=static``) lets transformers ``torch.compile`` the decoder step on GPU (``hf_compile``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import torch

from verl.protocol import Batch
from verl.workers.rollout.base import Responses, SamplingSettings
from verl.workers.vision_inputs import vision_inputs

__all__ = ["HFRollout", "SampledLogProbs"]

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class SampledLogProbs:
    """A logits processor, first in the list, that records ``log softmax(logits / T)`` of each sampled token.

    That is the actor's log-prob definition (no top-p/top-k renormalisation, no token suppression), so the
    rollout-vs-actor difference measures only the engine's numerics and weights. The token chosen at step t
    is read from ``input_ids`` at step t + 1; :meth:`finish` reads the last one from the output.
    """

    def __init__(self, temperature: float) -> None:
        self.temperature = temperature
        self.pending: torch.Tensor | None = None
        self.values: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.pending is not None:
            self.values.append(self.pending.gather(1, input_ids[:, -1:]).squeeze(1))
        self.pending = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        return scores

    def finish(self, new_tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) log-probs of ``new_tokens`` (B, T), the tokens generated while this processor ran."""
        if self.pending is not None:
            self.values.append(self.pending.gather(1, new_tokens[:, -1:]).squeeze(1))
        self.pending = None
        out = torch.stack(self.values, dim=1) if self.values else new_tokens.new_zeros(new_tokens.shape, dtype=torch.float32)
        self.values = []
        return out


class HFRollout:
    """Batched, left-padded sampling with an HF copy of the model; each row stops at its ``<|im_end|>``.

    The checkpoint's own generation config is not inherited (Qwen's sets top_k=1 and a repetition penalty): the engine samples
    with ``worker.rollout``'s settings only.
    """

    def __init__(self, model: torch.nn.Module, cfg: Any, tokenizer: Any, device: str) -> None:
        """``model``: an HF Qwen2.5-VL already on ``device``; ``cfg``: the rollout config (``hf_*`` keys);
        ``tokenizer``: anything with ``convert_tokens_to_ids`` and ``pad_token_id``."""
        from transformers import GenerationConfig

        if cfg.hf_shared_prefill and cfg.hf_cache != "dynamic":
            raise ValueError("worker.rollout.hf_shared_prefill needs hf_cache=dynamic (the prompt's cache is copied "
                             "to its samples)")
        self.model = model.requires_grad_(False).eval()
        self.cfg, self.device, self.tokenizer = cfg, device, tokenizer
        # The name forward takes a KV cache under: ``cache`` (transformers >= 5.2x) or ``past_key_values``.
        self.cache_kwarg = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        self.image_token_id = self.model.config.image_token_id
        self.eos_ids = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
        self.suppress = [self.image_token_id, self.model.config.video_token_id]
        self.model.generation_config = GenerationConfig(eos_token_id=self.eos_ids, pad_token_id=tokenizer.pad_token_id)

    @classmethod
    def from_pretrained(cls, model_path: str, cfg: Any, tokenizer: Any, device: str) -> HFRollout:
        """Load ``model_path`` in ``cfg.dtype`` on GPU (fp32 on CPU, to match the fp32 actor)."""
        from transformers import AutoModelForImageTextToText

        dtype = _DTYPES[cfg.dtype] if device == "cuda" else torch.float32
        model = AutoModelForImageTextToText.from_pretrained(
            model_path, dtype=dtype, attn_implementation="sdpa", trust_remote_code=cfg.trust_remote_code)
        return cls(model.to(device), cfg, tokenizer, device)

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

    def _processors(self, sampling: SamplingSettings, recorder: SampledLogProbs) -> Any:
        """The recorder, then suppression and the warpers in transformers' own order (so sampling is unchanged)."""
        from transformers import LogitsProcessorList
        from transformers.generation.logits_process import (
            SuppressTokensLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        processors: list[Any] = [recorder, SuppressTokensLogitsProcessor(self.suppress, self.device)]
        if sampling.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_k > 0:
            processors.append(TopKLogitsWarper(sampling.top_k))
        if sampling.top_p < 1.0:
            processors.append(TopPLogitsWarper(sampling.top_p))
        return LogitsProcessorList(processors)

    def _speed_kwargs(self) -> dict[str, Any]:
        if self.cfg.hf_cache != "static":
            return {}
        # transformers compiles the decoder step by itself when the cache is static and the device is a GPU.
        return {"cache_implementation": "static", "disable_compile": not self.cfg.hf_compile}

    def _vision(self, batch: Batch) -> dict[str, torch.Tensor]:
        return vision_inputs(batch.non_tensors.get("multi_modal_inputs"), self.device, self.model.dtype)

    def _sample(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, sampling: SamplingSettings,
                **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``generate`` on left-padded rows; returns the new tokens and their log-probs (on the CPU)."""
        recorder = SampledLogProbs(sampling.temperature)
        output = self.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, mm_token_type_ids=(input_ids == self.image_token_id).long(),
            do_sample=True, temperature=1.0, top_p=1.0, top_k=0,  # neutral: the warpers are in the list
            logits_processor=self._processors(sampling, recorder), max_new_tokens=sampling.max_tokens,
            use_cache=True, **kwargs,
        )
        new_tokens = output[:, input_ids.shape[1]:]
        return new_tokens.cpu(), recorder.finish(new_tokens).cpu()

    def _generate_rows(self, batch: Batch, sampling: SamplingSettings) -> tuple[torch.Tensor, torch.Tensor]:
        """One ``generate`` over rows that are already repeated ``n`` times: each row prefills its prompt."""
        return self._sample(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device), sampling,
                            **self._speed_kwargs(), **self._vision(batch))

    def _generate_shared(self, prompts: Batch, sampling: SamplingSettings) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples of each of ``prompts``: one forward over the prompts (all but their last token, which is
        text), its KV cache and M-RoPE offsets copied ``n`` times (interleaved), then ``generate`` from there."""
        n = sampling.n
        input_ids, mask = prompts["input_ids"].to(self.device), prompts["attention_mask"].to(self.device)
        inner = self.model.model
        inner.rope_deltas = None  # set by this prefill (images), else text positions: offset 0
        prefix = self.model(input_ids=input_ids[:, :-1], attention_mask=mask[:, :-1],
                            mm_token_type_ids=(input_ids[:, :-1] == self.image_token_id).long(), use_cache=True,
                            logits_to_keep=1, **self._vision(prompts))
        cache = prefix.cache if getattr(prefix, "cache", None) is not None else prefix.past_key_values
        cache.batch_repeat_interleave(n)
        deltas = inner.rope_deltas if inner.rope_deltas is not None else input_ids.new_zeros(len(input_ids), 1)
        inner.rope_deltas = deltas.repeat_interleave(n, dim=0)
        return self._sample(input_ids.repeat_interleave(n, dim=0), mask.repeat_interleave(n, dim=0), sampling,
                            **{self.cache_kwarg: cache})

    @torch.no_grad()
    def generate(self, prompts: Batch, sampling: SamplingSettings) -> Responses:
        """Sample ``n`` responses per prompt, at most ``hf_max_num_seqs`` rows per ``generate`` call (with the
        shared prefill, whole prompts: at least one prompt's ``n`` rows); seeded by the first row's ``seed``
        when present. Log-probs are those of the returned tokens (see
        :class:`SampledLogProbs`). Rows come back grouped by prompt: the ``n`` samples of prompt 0, then 1, ..."""
        shared = self.cfg.hf_shared_prefill and sampling.n > 1
        if shared:
            chunks = prompts.split(max(1, self.cfg.hf_max_num_seqs // sampling.n))
            run = self._generate_shared
        else:
            chunks = prompts.repeat(sampling.n, interleave=True).split(self.cfg.hf_max_num_seqs)
            run = self._generate_rows
        seed = int(prompts["seed"][0]) if "seed" in prompts else None
        token_ids: list[list[int]] = []
        log_probs: list[list[float]] = []
        with torch.random.fork_rng(devices=[torch.cuda.current_device()] if self.device == "cuda" else []):
            if seed is not None:
                torch.manual_seed(seed % (2**63))
            for chunk in chunks:
                tokens, lps = run(chunk, sampling)
                token_ids.extend(tokens.tolist())
                log_probs.extend(lps.tolist())
        return Responses(token_ids, log_probs)
