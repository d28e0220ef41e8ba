"""Batch collators for SFT samples from ``TSVDataset``.

``DataCollatorForSupervisedDataset`` right-pads to ``(B, Lmax)``.
``FlattenedDataCollatorForSupervisedDataset`` packs the batch into one row ``(1, sum L)``; the
sample boundaries travel in a 4th, text-only row of ``position_ids`` that restarts at 0 for each
sample. transformers 5.x (Qwen2.5-VL) reads that row when ``attention_mask`` is absent: sdpa/eager
get a block-causal mask (``masking_utils.find_packed_sequence_indices``) and flash-attention gets
``cu_seqlens`` for its varlen kernel (``prepare_fa_kwargs_from_position_ids``).

Packing is detected only without a KV cache (``_preprocess_mask_arguments`` skips it when one
exists), and ``use_cache`` defaults to ``config.use_cache`` (True) even in training unless gradient
checkpointing is on; with a cache, sdpa silently attends across samples. The packed collator
therefore returns ``use_cache=False`` in the batch.

Both return only model-call kwargs, so ``model(**batch)`` is safe. Never add a ``cu_seqlens`` key
to a model call: Qwen2.5-VL's forward hands unknown kwargs to the vision tower, which takes
``cu_seqlens`` as *its own* patch boundaries (``vision_utils.get_vision_cu_seqlens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from dataset.chat import IGNORE_INDEX
from dataset.registry import BUILDER

__all__ = [
    "POSITION_PAD_VALUE",
    "DataCollatorForSupervisedDataset",
    "FlattenedDataCollatorForSupervisedDataset",
    "cu_seqlens_from_lengths",
]

# Position id written into padding (as in the original). Padded positions are masked out of
# attention (right padding + causal mask) and of the loss, so the value never matters.
POSITION_PAD_VALUE = 1

Sample = dict[str, torch.Tensor]


def _pad_token_id(tokenizer: Any, processor: Any, pad_token_id: int | None) -> int:
    if pad_token_id is not None:
        return int(pad_token_id)
    tokenizer = tokenizer if tokenizer is not None else getattr(processor, "tokenizer", None)
    if tokenizer is None or tokenizer.pad_token_id is None:
        raise ValueError("collator needs pad_token_id, or a tokenizer/processor whose tokenizer has one")
    return int(tokenizer.pad_token_id)


def cu_seqlens_from_lengths(lengths: Sequence[int]) -> torch.Tensor:
    """Cumulative sequence lengths ``[0, L1, L1+L2, ...]`` (int32), the varlen-attention format."""
    return torch.nn.functional.pad(
        torch.tensor(lengths, dtype=torch.int32).cumsum(0, dtype=torch.int32), (1, 0)
    )


def _images(instances: Sequence[Sample]) -> dict[str, torch.Tensor]:
    """Patches concatenated on dim 0 ``(sum N, 1176)`` and grids stacked ``(num_images, 3)``."""
    with_images = [x for x in instances if "pixel_values" in x]
    if not with_images:
        return {}
    return {
        "pixel_values": torch.cat([x["pixel_values"] for x in with_images], dim=0),
        "image_grid_thw": torch.cat([x["image_grid_thw"].view(-1, 3) for x in with_images], dim=0),
    }


@BUILDER.register_module()
class DataCollatorForSupervisedDataset:
    """Right-pads a list of samples.

    Returns ``input_ids (B, L)`` (padded with ``pad_token_id``), ``labels (B, L)`` (-100),
    ``attention_mask (B, L)`` (int64, 1 for the first ``len(sample)`` positions: built from the
    lengths, not by comparing with the pad id), ``position_ids (3, B, L)`` (padded with
    ``POSITION_PAD_VALUE``), ``pixel_values (sum N, 1176)`` and ``image_grid_thw (B, 3)``.

    Args:
        tokenizer, processor: where ``pad_token_id`` comes from (either; injected by the trainer).
        pad_token_id: explicit pad id, overriding both.
    """

    def __init__(self, tokenizer: Any = None, processor: Any = None, pad_token_id: int | None = None) -> None:
        self.pad_token_id = _pad_token_id(tokenizer, processor, pad_token_id)

    def __call__(self, instances: Sequence[Sample]) -> dict[str, torch.Tensor]:
        if not instances:
            raise ValueError("cannot collate an empty batch")
        lengths = [int(x["input_ids"].shape[0]) for x in instances]
        batch, max_len = len(instances), max(lengths)
        input_ids = torch.full((batch, max_len), self.pad_token_id, dtype=torch.long)
        labels = torch.full((batch, max_len), IGNORE_INDEX, dtype=torch.long)
        position_ids = torch.full((3, batch, max_len), POSITION_PAD_VALUE, dtype=torch.long)
        for row, (x, n) in enumerate(zip(instances, lengths)):
            input_ids[row, :n] = x["input_ids"]
            labels[row, :n] = x["labels"]
            position_ids[:, row, :n] = x["position_ids"]
        attention_mask = (torch.arange(max_len)[None, :] < torch.tensor(lengths)[:, None]).long()
        return {
            "input_ids": input_ids,
            "labels": labels,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
            **_images(instances),
        }


@BUILDER.register_module()
class FlattenedDataCollatorForSupervisedDataset:
    """Packs a list of samples into one row, with attention kept inside each sample.

    Returns ``input_ids (1, S)``, ``labels (1, S)`` with ``S = sum L``, ``position_ids (4, 1, S)``
    (row 0: text positions ``0..L_i-1`` per sample, which mark the boundaries; rows 1-3: each
    sample's M-RoPE ids), ``pixel_values`` and ``image_grid_thw`` as the padded collator, and no
    ``attention_mask`` (it must be absent for transformers to detect the packing), and
    ``use_cache=False`` (a bool, not a tensor; see the module doc). The first label of every sample
    is -100 (system prompt), so the loss never crosses a boundary either.

    Args:
        tokenizer, processor, pad_token_id: accepted for config symmetry; packing needs no padding.
        return_cu_seqlens: also return ``cu_seqlens (B+1,)`` int32, e.g. for logging or a custom
            kernel. It is not a model input: pop it before ``model(**batch)`` (see module doc).
    """

    def __init__(
        self,
        tokenizer: Any = None,
        processor: Any = None,
        pad_token_id: int | None = None,
        return_cu_seqlens: bool = False,
    ) -> None:
        self.return_cu_seqlens = return_cu_seqlens

    def __call__(self, instances: Sequence[Sample]) -> dict[str, Any]:
        if not instances:
            raise ValueError("cannot collate an empty batch")
        lengths = [int(x["input_ids"].shape[0]) for x in instances]
        text_positions = torch.cat([torch.arange(n, dtype=torch.long) for n in lengths])
        mrope = torch.cat([x["position_ids"].view(3, -1) for x in instances], dim=1)
        out: dict[str, Any] = {
            "input_ids": torch.cat([x["input_ids"] for x in instances])[None],
            "labels": torch.cat([x["labels"] for x in instances])[None],
            "position_ids": torch.cat([text_positions[None], mrope], dim=0)[:, None, :],
            **_images(instances),
            "use_cache": False,
        }
        if self.return_cu_seqlens:
            out["cu_seqlens"] = cu_seqlens_from_lengths(lengths)
        return out
