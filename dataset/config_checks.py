"""Checks of a data config's file paths, run before any training process starts.

A missing TSV file otherwise surfaces deep inside a dataset constructor, once per rank or Ray worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

__all__ = ["TSV_PATH_KEYS", "missing_data_paths"]

# The TSV triple's keys in SFT (``TSVDataset``) and GRPO (``TSVRLHFDataset``) dataset configs.
TSV_PATH_KEYS = ("img_tsv_file", "ann_tsv_file", "ann_lineidx_file", "image_tsv_file", "anno_tsv_file",
                 "anno_idx_file")


def _leaf_entries(value: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(location, dict)`` for every dict in a dataset config, however lists and ``datasets`` nest."""
    if isinstance(value, dict):
        yield where, value
        for key, child in value.items():
            if isinstance(child, (dict, list, tuple)):
                yield from _leaf_entries(child, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, child in enumerate(value):
            yield from _leaf_entries(child, f"{where}[{i}]")


def missing_data_paths(cfg: Any, keys: tuple[str, ...] = ("train_dataset", "val_dataset")) -> list[str]:
    """``"train_dataset[0].img_tsv_file=path"`` for every TSV path in ``cfg[keys]`` that is not a file.

    Relative paths resolve against the current directory, as the datasets open them.
    """
    missing = []
    for key in keys:
        value = cfg.get(key) if hasattr(cfg, "get") else None
        for where, entry in _leaf_entries(value, key):
            for path_key in TSV_PATH_KEYS:
                path = entry.get(path_key)
                if isinstance(path, str) and not os.path.isfile(path):
                    missing.append(f"{where}.{path_key}={path}")
    return missing
