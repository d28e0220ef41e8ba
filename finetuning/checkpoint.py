"""Checkpoint discovery for resuming, and the final save as a complete HF model folder."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from dataset.vocab_layout import keep_tokenizer_layout
from finetuning.model_loading import set_use_cache

logger = logging.getLogger(__name__)

LEGACY_CHAT_TEMPLATE = "chat_template.json"


def is_complete_checkpoint(folder: str | Path) -> bool:
    """True when ``folder`` holds a readable ``trainer_state.json``: HF writes it last in a save, so a
    save killed midway (weights or optimizer written, state not) leaves a folder that is not complete."""
    state = Path(folder) / TRAINER_STATE_NAME
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete ``checkpoint-<step>`` folder in ``output_dir``; incomplete ones are logged and skipped."""
    pattern = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
    candidates = sorted(
        (int(m.group(1)), path) for path in Path(output_dir).iterdir()
        if path.is_dir() and (m := pattern.match(path.name))
    )
    for _, path in reversed(candidates):
        if is_complete_checkpoint(path):
            return str(path)
        logger.warning("skipping %s: the save did not finish (no readable %s)", path, TRAINER_STATE_NAME)
    return None


def resume_checkpoint(output_dir: str | Path, requested: str | bool | None = None) -> str | None:
    """The checkpoint to resume from.

    An explicit ``--resume_from_checkpoint PATH`` wins; otherwise the newest *complete*
    ``checkpoint-<step>`` in ``output_dir`` (HF's own ``get_last_checkpoint`` would pick a folder whose
    save was killed midway), or ``None`` for a fresh run.
    """
    if isinstance(requested, str) and requested not in ("", "True", "true"):
        return requested
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    return last_complete_checkpoint(folder)


def copy_legacy_chat_template(model_name_or_path: str, output_dir: str | Path) -> None:
    """Copy ``chat_template.json`` next to the weights when the source is a local folder that has one.

    The processor already saves its template; this keeps the legacy file some tools read. A hub id
    (no local folder) is skipped instead of crashing before the final save.
    """
    source = Path(model_name_or_path) / LEGACY_CHAT_TEMPLATE
    target = Path(output_dir) / LEGACY_CHAT_TEMPLATE
    if source.is_file() and not target.exists():
        shutil.copyfile(source, target)


def save_final_model(trainer: Trainer, processor: Any, model_name_or_path: str, output_dir: str | Path) -> None:
    """Save weights (safetensors), config with ``use_cache`` on, generation config, processor and
    trainer state into ``output_dir`` so that ``from_pretrained(output_dir)`` works.

    ``trainer.save_model`` gathers ZeRO-3 shards (``stage3_gather_16bit_weights_on_model_save``)
    and writes on the saving rank only; every rank must call this.
    """
    trainer.save_state()
    model = trainer.accelerator.unwrap_model(trainer.model)
    set_use_cache(model, True)
    trainer.save_model(str(output_dir))
    if trainer.args.should_save:
        copy_legacy_chat_template(model_name_or_path, output_dir)
        keep_tokenizer_layout(model_name_or_path, output_dir)
        logger.info("saved the final model to %s", output_dir)
    set_use_cache(model, False)


class KeepTokenizerLayoutCallback(TrainerCallback):
    """Rewrites each ``checkpoint-<step>`` tokenizer in the published Rex-Omni layout when the run started
    from one (``dataset/vocab_layout.py``), so every saved folder reads like the published checkpoint."""

    def __init__(self, model_name_or_path: str) -> None:
        self.source = model_name_or_path

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if args.should_save and folder.is_dir():
            keep_tokenizer_layout(self.source, folder)
