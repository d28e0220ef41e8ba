"""Load the Rex-Omni model and processor for training: attention kernel, dtype, Liger, checkpointing."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from dataset.vocab_layout import load_processor as load_processor_with_layout
from modeling.attention_backend import resolve_attn_implementation

logger = logging.getLogger(__name__)


def maybe_apply_liger(mode: str = "auto", model: Any = None) -> bool:
    """Patch Qwen2.5-VL with Liger kernels (rope, rms_norm, swiglu; not the fused CE) if wanted and possible.

    ``mode``: ``auto`` (when installed and on GPU), ``on`` (required: raises if missing), ``off``.
    With ``model`` its modules are patched in place too (Liger's class-level patches target names that
    some transformers releases renamed); ``on`` then raises if no module became a Liger one.
    Liger is imported here only, so machines without it never import it. Returns whether it was applied.
    """
    if mode == "off":
        return False
    available = importlib.util.find_spec("liger_kernel") is not None and torch.cuda.is_available()
    if not available:
        if mode == "on":
            raise RuntimeError("liger=on but liger_kernel is not installed or no GPU is available")
        return False
    from liger_kernel.transformers import apply_liger_kernel_to_qwen2_5_vl

    # The fused linear CE is --linear_ce liger (finetuning.linear_ce), which also handles soft-CE.
    kwargs = {"model": model} if model is not None else {}
    apply_liger_kernel_to_qwen2_5_vl(fused_linear_cross_entropy=False, cross_entropy=False, **kwargs)
    if model is not None:
        patched = sum("Liger" in type(m).__name__ or "Liger" in getattr(m.forward, "__qualname__", "")
                      for m in model.modules())
        if mode == "on" and patched == 0:
            raise RuntimeError("liger=on but Liger patched no module of this Qwen2.5-VL (liger-kernel and "
                               "transformers versions do not match)")
        log = logger.info if patched else logger.warning
        log("applied Liger kernels to Qwen2.5-VL: %d modules patched", patched)
    else:
        logger.info("applied Liger kernels to Qwen2.5-VL")
    return True


def load_model(
    model_name_or_path: str,
    bf16: bool = False,
    attn_implementation: str = "auto",
    gradient_checkpointing: bool = False,
    cache_dir: str | None = None,
    quantization_config: Any = None,
) -> Qwen2_5_VLForConditionalGeneration:
    """Load the model for training (``use_cache`` off); ``quantization_config`` (bitsandbytes, QLoRA)
    loads the weights quantised onto this process's GPU.

    With DeepSpeed ZeRO-3, build ``TrainingArguments(deepspeed=...)`` *before* calling this: it
    registers the DeepSpeed config globally and initialises the process group, so
    ``from_pretrained`` shards the weights while loading.
    """
    attn = resolve_attn_implementation(attn_implementation)
    dtype = torch.bfloat16 if bf16 else torch.float32
    extra: dict[str, Any] = {}
    if quantization_config is not None:
        extra = {"quantization_config": quantization_config, "device_map": {"": torch.cuda.current_device()}}
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        model_name_or_path, attn_implementation=attn, dtype=dtype, cache_dir=cache_dir, **extra
    )
    keep_used_weight_conversions(model)
    set_use_cache(model, False)
    if gradient_checkpointing:
        # Trainer turns checkpointing on; this keeps a grad path into checkpointed blocks when the
        # embeddings are frozen (tune_mm_llm False).
        model.enable_input_require_grads()
    logger.info("loaded %s (attn=%s, dtype=%s)", model_name_or_path, attn, dtype)
    return model


def keep_used_weight_conversions(model: Any) -> None:
    """Keep only the checkpoint key renamings that matched when loading, as a non-ZeRO-3 load does.

    transformers 5.24's ZeRO-3 loader stores every registered renaming; reverting the unused
    ``PrefixChange`` at save time writes ``model.model.layers.*`` instead of ``model.layers.*``.
    """
    conversions = getattr(model, "_weight_conversions", None)
    if conversions:
        model._weight_conversions = [c for c in conversions if c.was_used()]


def set_use_cache(model: Any, value: bool) -> None:
    """Set ``use_cache`` where transformers 5 reads it (the text config of a VLM config)."""
    model.config.get_text_config().use_cache = value


def load_processor(
    model_name_or_path: str,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    model_max_length: int | None = None,
    cache_dir: str | None = None,
) -> Any:
    """Qwen2.5-VL processor; ``min_pixels``/``max_pixels`` (image area, pixels) override the saved ones.

    A tokenizer in the published Rex-Omni layout keeps its saved ids (``dataset/vocab_layout.py``).
    """
    kwargs: dict[str, Any] = {}
    if min_pixels is not None or max_pixels is not None:
        from transformers import AutoImageProcessor

        base = AutoImageProcessor.from_pretrained(model_name_or_path, cache_dir=cache_dir).size
        kwargs["size"] = {
            "shortest_edge": min_pixels if min_pixels is not None else base["shortest_edge"],
            "longest_edge": max_pixels if max_pixels is not None else base["longest_edge"],
        }
    processor = load_processor_with_layout(model_name_or_path, cache_dir=cache_dir, **kwargs)
    processor.tokenizer.padding_side = "right"
    if model_max_length is not None:
        processor.tokenizer.model_max_length = model_max_length
    return processor
