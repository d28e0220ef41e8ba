"""Batched answer generation for evaluation: HF ``generate`` (left padding) or vLLM when installed.

Prompts are ``dataset.chat.render_prompt``: the format SFT and GRPO train on.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from typing import Protocol

import torch
from PIL import Image

from dataset.chat import render_prompt

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "hf", "vllm")


class Generator(Protocol):
    def generate(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[str]: ...


class HFGenerator:
    """Greedy decoding with ``model.generate`` on left-padded batches."""

    def __init__(self, model_path: str, max_new_tokens: int = 256, device: str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        from transformers import Qwen2_5_VLForConditionalGeneration

        from dataset.vocab_layout import load_processor
        from modeling.attention_backend import resolve_attn_implementation

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or (torch.bfloat16 if self.device.startswith("cuda") else torch.float32)
        self.processor = load_processor(model_path)
        self.processor.tokenizer.padding_side = "left"
        self.model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            model_path, dtype=dtype, attn_implementation=resolve_attn_implementation("auto")
        ).to(self.device).eval()
        self.max_new_tokens = max_new_tokens

    def generate(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[str]:
        """Decoded answers (special tokens kept, cut at the end-of-turn)."""
        return greedy_generate(self.model, self.processor, images, questions, self.max_new_tokens, self.device)


class ModelGenerator:
    """Greedy decoding with a model already in memory (the one being trained), as :class:`HFGenerator`.

    ``synced_gpus``: keep generating until every rank is done (needed when the weights are sharded
    across ranks, as under DeepSpeed ZeRO-3, where every forward is collective).
    """

    def __init__(self, model: torch.nn.Module, processor: object, max_new_tokens: int = 256,
                 synced_gpus: bool = False) -> None:
        self.model, self.processor = model, processor
        self.max_new_tokens, self.synced_gpus = max_new_tokens, synced_gpus

    def generate(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[str]:
        """Decoded answers (special tokens kept, cut at the end-of-turn)."""
        device = next(self.model.parameters()).device
        return greedy_generate(self.model, self.processor, images, questions, self.max_new_tokens, device,
                               synced_gpus=self.synced_gpus)


@torch.inference_mode()
def greedy_generate(model: torch.nn.Module, processor: object, images: Sequence[Image.Image],
                    questions: Sequence[str], max_new_tokens: int, device: torch.device | str,
                    synced_gpus: bool = False) -> list[str]:
    """Greedy answers of ``model`` to one question per image, on a left-padded batch; the decoded new
    tokens with special tokens kept (callers cut them at the end-of-turn)."""
    prompts = [render_prompt(processor, q) for q in questions]
    inputs = processor(text=prompts, images=list(images), padding=True, padding_side="left",  # type: ignore[operator]
                       return_tensors="pt").to(device)
    extra = {"synced_gpus": True} if synced_gpus else {}
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True, **extra)
    new_tokens = out[:, inputs["input_ids"].shape[1]:]
    return processor.batch_decode(new_tokens, skip_special_tokens=False)  # type: ignore[attr-defined]


class VLLMGenerator:
    """Greedy decoding with vLLM (imported here only; GPU machines)."""

    def __init__(self, model_path: str, max_new_tokens: int = 256) -> None:
        from vllm import LLM, SamplingParams

        from dataset.vocab_layout import engine_tokenizer_path, load_processor

        self.processor = load_processor(model_path)
        self.llm = LLM(model=model_path, tokenizer=engine_tokenizer_path(model_path), limit_mm_per_prompt={"image": 1})
        self.params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, skip_special_tokens=False)

    def generate(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[str]:
        """Decoded answers, special tokens kept."""
        requests = [{"prompt": render_prompt(self.processor, q), "multi_modal_data": {"image": img}}
                    for img, q in zip(images, questions)]
        return [o.outputs[0].text for o in self.llm.generate(requests, self.params, use_tqdm=False)]


def make_generator(model_path: str, backend: str = "auto", max_new_tokens: int = 256) -> Generator:
    """``auto`` picks vLLM when it is installed and a GPU is present, else HF."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        has_vllm = importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()
        backend = "vllm" if has_vllm else "hf"
    logger.info("generation backend: %s", backend)
    if backend == "vllm":
        return VLLMGenerator(model_path, max_new_tokens)
    return HFGenerator(model_path, max_new_tokens)
