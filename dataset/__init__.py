"""Data: TSV triples, annotations, the answer grammar, task functions, the SFT datasets and the GRPO one.

The dataset classes are imported lazily so that pure modules (``dataset.grammar``, ...) can be used
without importing torch or transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "TSVDataset": "dataset.sft_dataset",
    "GroundingTSVDataset": "dataset.sft_dataset",
    "PointingTSVDataset": "dataset.sft_dataset",
    "ConcatDataset": "dataset.concat_dataset",
    "DataCollatorForSupervisedDataset": "dataset.collator",
    "FlattenedDataCollatorForSupervisedDataset": "dataset.collator",
    "TSVRLHFDataset": "dataset.rlhf_dataset",
    "RLHFCollator": "dataset.rlhf_dataset",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dataset' has no attribute {name!r}")
