"""GRPO checkpoints: layout, save/load of the sharded actor, rotation and the ``latest`` marker.

Layout under ``trainer.save_checkpoint_path``::

    latest_checkpointed_iteration.txt      # last complete step; written last, atomically (driver)
    metrics.jsonl                          # one JSON line per step (driver)
    global_step_<N>/
      trainer_state.json                   # global_step, dataloader position (driver)
      actor/
        dcp/                               # torch.distributed.checkpoint: model + optimizer, resharding-safe
        extra_state_rank_<r>.pt            # LR scheduler + RNG states (torch.load(weights_only=True))
        huggingface/                       # config, generation config, processor, tokenizer, chat template

A checkpoint counts only once the marker names it, so a crash mid-save is never resumed from.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

from dataset.atomic_write import write_text_atomic
from dataset.fault_injection import fault_point

__all__ = [
    "LATEST_FILE", "find_latest_checkpoint", "load_actor", "load_trainer_state", "rotate_checkpoints",
    "save_actor", "save_hf_metadata", "save_trainer_state", "step_dir", "write_latest",
]

logger = logging.getLogger(__name__)

LATEST_FILE = "latest_checkpointed_iteration.txt"
_STEP_DIR = re.compile(r"^global_step_(\d+)$")


def step_dir(root: str | os.PathLike[str], step: int) -> Path:
    return Path(root) / f"global_step_{step}"


# ------------------------------------------------------------------------------------------ worker side


def _rng_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(tuple(_as_tuple(v) for v in state["python"]))  # type: ignore[arg-type]
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def save_actor(actor_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: Any, rank: int, trainable_only: bool = False) -> None:
    """Collective: every rank writes its shards (DCP) and its extra state.

    ``trainable_only`` (LoRA) leaves the frozen base weights out: they stay in ``model_path``.
    """
    actor_dir.mkdir(parents=True, exist_ok=True)
    options = StateDictOptions(cpu_offload=False, ignore_frozen_params=trainable_only)
    model_sd, optim_sd = get_state_dict(model, optimizer, options=options)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(actor_dir / "dcp"))
    fault_point("save_actor", rank)  # crash tests: die between the shards and the rest of the checkpoint
    extra = {"lr_scheduler": scheduler.state_dict(), "rng": _rng_state()}
    torch.save(extra, actor_dir / f"extra_state_rank_{rank}.pt")


def load_actor(actor_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: Any, rank: int, trainable_only: bool = False) -> None:
    """Collective inverse of :func:`save_actor` (the world size may differ for model/optimizer)."""
    options = StateDictOptions(ignore_frozen_params=trainable_only, strict=not trainable_only)
    model_sd, optim_sd = get_state_dict(model, optimizer, options=options)
    state = {"model": model_sd, "optim": optim_sd}
    dcp.load(state, checkpoint_id=str(actor_dir / "dcp"))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"],
                   options=options)
    extra_path = actor_dir / f"extra_state_rank_{rank}.pt"
    if not extra_path.exists():
        extra_path = actor_dir / "extra_state_rank_0.pt"  # different world size: share rank 0's state
    extra = torch.load(extra_path, weights_only=True)
    scheduler.load_state_dict(extra["lr_scheduler"])
    _set_rng_state(extra["rng"])


def save_hf_metadata(hf_dir: Path, model_config: Any, generation_config: Any, processor: Any,
                     tokenizer_source: str | None = None) -> None:
    """Rank 0: everything but the weights, so the folder plus merged weights loads with ``from_pretrained``.

    A tokenizer loaded from a published-layout ``tokenizer_source`` is saved in that layout again.
    """
    from dataset.vocab_layout import keep_tokenizer_layout

    hf_dir.mkdir(parents=True, exist_ok=True)
    model_config.save_pretrained(hf_dir)
    if generation_config is not None:
        generation_config.save_pretrained(hf_dir)
    processor.save_pretrained(hf_dir)
    if tokenizer_source is not None:
        keep_tokenizer_layout(tokenizer_source, hf_dir)


# ------------------------------------------------------------------------------------------ driver side


def save_trainer_state(checkpoint: Path, state: dict[str, Any]) -> None:
    checkpoint.mkdir(parents=True, exist_ok=True)
    write_text_atomic(checkpoint / "trainer_state.json", json.dumps(state, indent=2) + "\n")


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / "trainer_state.json").read_text())


def write_latest(root: str | os.PathLike[str], step: int) -> None:
    """Mark ``global_step_<step>`` complete (call after every rank finished saving)."""
    write_text_atomic(Path(root) / LATEST_FILE, f"{step}\n")


def find_latest_checkpoint(root: str | os.PathLike[str]) -> Path | None:
    """The checkpoint named by the marker, or ``None`` when there is none (or it vanished)."""
    marker = Path(root) / LATEST_FILE
    if not marker.is_file():
        return None
    path = step_dir(root, int(marker.read_text().strip()))
    if not (path / "trainer_state.json").is_file():
        logger.warning("%s names %s, which is incomplete; starting fresh", marker, path)
        return None
    return path


def checkpoint_step(path: str | os.PathLike[str]) -> int:
    match = _STEP_DIR.match(Path(path).name)
    if match is None:
        raise ValueError(f"checkpoint folder must be named global_step_<N>, got {path}")
    return int(match.group(1))


def rotate_checkpoints(root: str | os.PathLike[str], keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` ``global_step_*`` folders (``keep <= 0``: keep all)."""
    if keep <= 0:
        return []
    found = sorted((p for p in Path(root).iterdir() if _STEP_DIR.match(p.name) and p.is_dir()),
                   key=checkpoint_step)
    removed = found[:-keep]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
        logger.info("removed old checkpoint %s (save_limit=%d)", path, keep)
    return removed
