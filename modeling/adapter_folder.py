"""Merge a LoRA adapter folder into its base model: a complete HF folder that loads without peft.

An adapter folder is what a LoRA run saves (SFT ``checkpoint-*`` / output folder, or a GRPO actor
checkpoint's ``huggingface/`` folder): ``adapter_config.json`` + ``adapter_model.safetensors`` and,
usually, the processor files. The merged folder holds ``model.safetensors``, the config (with
``use_cache`` on), the generation config and the processor, written to a temporary sibling and
renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PROCESSOR_FILE = "processor_config.json"
LEGACY_CHAT_TEMPLATE = "chat_template.json"


class LoraMergeError(ValueError):
    """The adapter or base cannot be merged; the message names the folder."""


def is_adapter_folder(folder: str | Path) -> bool:
    """True when ``folder`` holds a LoRA adapter (config and weights)."""
    return (Path(folder) / ADAPTER_CONFIG).is_file() and (Path(folder) / ADAPTER_WEIGHTS).is_file()


def adapter_base(adapter_dir: str | Path) -> str:
    """The base model path recorded in the adapter's ``adapter_config.json``."""
    if not is_adapter_folder(adapter_dir):
        raise LoraMergeError(f"--adapter {adapter_dir}: no {ADAPTER_CONFIG} + {ADAPTER_WEIGHTS} (not a LoRA folder)")
    base = json.loads((Path(adapter_dir) / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
    if not base:
        raise LoraMergeError(f"{adapter_dir}/{ADAPTER_CONFIG} names no base model: give --base")
    return base


def merged_model(base: str, adapter_dir: str | Path, dtype: torch.dtype | None = None) -> torch.nn.Module:
    """The base ``Qwen2_5_VLForConditionalGeneration`` with the adapter folded into its weights."""
    from peft import PeftModel
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(base, dtype=dtype or "auto")
    return PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()


def merge_lora(
    adapter_dir: str | Path, output_dir: str | Path, base: str | None = None, dtype: torch.dtype | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``base`` + adapter as a complete HF folder at ``output_dir``; returns it.

    ``base`` defaults to the adapter's ``base_model_name_or_path``; ``dtype`` to the base's saved dtype.
    An existing ``output_dir`` is replaced only with ``overwrite``.
    """
    from dataset.vocab_layout import keep_tokenizer_layout, load_processor

    base = base or adapter_base(adapter_dir)
    if not is_adapter_folder(adapter_dir):
        raise LoraMergeError(f"--adapter {adapter_dir}: no {ADAPTER_CONFIG} + {ADAPTER_WEIGHTS} (not a LoRA folder)")
    if not Path(base).is_dir():
        raise LoraMergeError(f"--base {base}: no such model folder")
    output = Path(output_dir)
    if output.exists() and not overwrite:
        raise LoraMergeError(f"--output {output} exists: remove it or pass --overwrite")
    model = merged_model(base, adapter_dir, dtype)
    model.config.get_text_config().use_cache = True
    processor_source = adapter_dir if (Path(adapter_dir) / PROCESSOR_FILE).is_file() else base
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        model.save_pretrained(tmp)
        # The project's loader, then the published tokenizer files back: a plain transformers 5 (or 4.x
        # fast) load of a published-layout folder shifts every added token's id by 1000.
        load_processor(processor_source).save_pretrained(tmp)
        keep_tokenizer_layout(processor_source, tmp)
        for source in (Path(processor_source), Path(base)):
            if (source / LEGACY_CHAT_TEMPLATE).is_file() and not (tmp / LEGACY_CHAT_TEMPLATE).exists():
                shutil.copyfile(source / LEGACY_CHAT_TEMPLATE, tmp / LEGACY_CHAT_TEMPLATE)
        if output.exists():
            shutil.rmtree(output)
        os.replace(tmp, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("merged %s into %s -> %s", adapter_dir, base, output)
    return output
