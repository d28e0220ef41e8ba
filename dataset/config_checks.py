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

__all__ = ["TSV_PATH_KEYS", "DataConfigError", "data_paths", "has_key", "load_data_config", "missing_data_paths",
           "reads_folder"]

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


def data_paths(cfg: Any, keys: tuple[str, ...] = ("train_dataset", "val_dataset")) -> list[tuple[str, str]]:
    """``("train_dataset[0].img_tsv_file", path)`` for every TSV path named in ``cfg[keys]``, in order."""
    found = []
    for key in keys:
        value = cfg.get(key) if hasattr(cfg, "get") else None
        for where, entry in _leaf_entries(value, key):
            for path_key in TSV_PATH_KEYS:
                path = entry.get(path_key)
                if isinstance(path, str):
                    found.append((f"{where}.{path_key}", path))
    return found


def missing_data_paths(cfg: Any, keys: tuple[str, ...] = ("train_dataset", "val_dataset")) -> list[str]:
    """``"train_dataset[0].img_tsv_file=path"`` for every TSV path in ``cfg[keys]`` that is not a file.

    Relative paths resolve against the current directory, as the datasets open them.
    """
    return [f"{where}={path}" for where, path in data_paths(cfg, keys) if not os.path.isfile(path)]


def reads_folder(cfg: Any, folder: str | os.PathLike[str]) -> bool:
    """Whether a TSV path of the config's ``train_dataset`` or ``val_dataset`` lies inside ``folder``
    (relative paths against the current directory; ``scripts/sft.sh`` asks it about the toy data folder)."""
    root = os.path.abspath(folder)
    return any(os.path.commonpath([root, os.path.abspath(path)]) == root for _, path in data_paths(cfg))


def has_key(path: str | os.PathLike[str], key: str) -> bool:
    """Whether the config ``path`` sets ``key`` to something other than ``None``, ``_base_`` files included."""
    return load_data_config(path).get(key) is not None


USAGE = "usage: python -m dataset.config_checks (--has KEY | --get KEY | --reads FOLDER)... CONFIG"


def answer(cfg: Any, query: str, argument: str) -> str:
    """One query's printed answer: ``--has KEY`` yes/no (set and not ``None``), ``--get KEY`` the value
    (empty when unset or ``None``), ``--reads FOLDER`` yes/no (:func:`reads_folder`)."""
    if query == "--has":
        return "yes" if cfg.get(argument) is not None else "no"
    if query == "--get":
        value = cfg.get(argument)
        return "" if value is None else str(value)
    return "yes" if reads_folder(cfg, argument) else "no"


def main(argv: list[str] | None = None) -> int:
    """``python -m dataset.config_checks QUERY ARG [QUERY ARG ...] CONFIG``: one answer line per query, in
    order (:func:`answer`), exit 0; a config that cannot be read is one line on stderr and exit 2.
    ``scripts/sft.sh`` asks ``--has val_dataset --get model_name_or_path --reads work_dirs/toy_data`` on a CPU."""
    argv = list(sys.argv[1:] if argv is None else argv)
    queries = list(zip(argv[:-1:2], argv[1:-1:2]))
    if len(argv) < 3 or len(argv) % 2 == 0 or any(q not in ("--has", "--get", "--reads") for q, _ in queries):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        cfg = load_data_config(argv[-1])
    except DataConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for query, argument in queries:
        print(answer(cfg, query, argument))
    return 0


if __name__ == "__main__":
    sys.exit(main())
