"""Loading a data config (the mmengine files in ``configs/``) and checking its file paths.

Every stage loads data configs through :func:`load_data_config`, so ``_base_`` inheritance and the
``type=`` classes behave the same in SFT, GRPO and evaluation. The path check runs before any training
process starts: a missing TSV file otherwise surfaces deep inside a dataset constructor, once per rank.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

from mmengine.config import Config

__all__ = ["TSV_PATH_KEYS", "DataConfigError", "has_key", "load_data_config", "missing_data_paths"]

# The TSV triple's keys in SFT (``TSVDataset``) and GRPO (``TSVRLHFDataset``) dataset configs.
TSV_PATH_KEYS = ("img_tsv_file", "ann_tsv_file", "ann_lineidx_file", "image_tsv_file", "anno_tsv_file",
                 "anno_idx_file")


class DataConfigError(ValueError):
    """A data config file that cannot be read; the message is one line starting with the file's path."""


def load_data_config(path: str | os.PathLike[str]) -> Config:
    """Read the mmengine config ``path``, with its ``_base_`` files merged in (``_base_ = ["./x.py"]``).

    Its imports are executed (``lazy_import=False``), so ``type=`` holds the real classes whether or not
    a file of the chain imports modules. Raises ``DataConfigError`` naming the file and the problem.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataConfigError(f"{path}: no such file")
    with open(path, encoding="utf-8") as f:
        if "read_base()" in f.read():  # mmengine's lazy-import style; without lazy import it fails obscurely
            raise DataConfigError(f"{path}: `with read_base():` is not supported; inherit with "
                                  f'`_base_ = ["./_base_/sft.py"]` as configs/sft.py does')
    try:
        return Config.fromfile(path, lazy_import=False)
    except Exception as exc:  # executing the file runs the user's code: any error is the config's
        detail = (str(exc).strip().splitlines() or [""])[0]
        raise DataConfigError(f"{path}: cannot load it: {type(exc).__name__}: {detail}") from exc


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


def has_key(path: str | os.PathLike[str], key: str) -> bool:
    """Whether the config ``path`` sets ``key`` to something other than ``None``, ``_base_`` files included."""
    return load_data_config(path).get(key) is not None


def main(argv: list[str] | None = None) -> int:
    """``python -m dataset.config_checks --has KEY CONFIG``: prints ``yes`` or ``no`` and exits 0; a config
    that cannot be read is one line on stderr and exit 2. ``scripts/sft.sh`` asks it for ``val_dataset``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 3 or argv[0] != "--has":
        print("usage: python -m dataset.config_checks --has KEY CONFIG", file=sys.stderr)
        return 2
    key, path = argv[1], argv[2]
    try:
        print("yes" if has_key(path, key) else "no")
    except DataConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
