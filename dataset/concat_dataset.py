"""``ConcatDataset``: builds each child dataset from its config and concatenates them."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from typing import Any

from torch.utils.data import ConcatDataset as TorchConcatDataset
from torch.utils.data import Dataset

from dataset.registry import BUILDER
from dataset.sft_dataset import build_lazy_object

__all__ = ["ConcatDataset"]

logger = logging.getLogger(__name__)


def _flatten(items: Iterable[Any]) -> list[Any]:
    """Flatten nested lists/tuples of dataset configs (configs may group datasets in sub-lists)."""
    flat: list[Any] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            flat.extend(_flatten(item))
        else:
            flat.append(item)
    return flat


@BUILDER.register_module()
class ConcatDataset(TorchConcatDataset):
    """Concatenation of SFT datasets built from configs.

    Each config dict is deep-copied, given ``processor``, ``tokenizer``, ``seed`` and (if set)
    ``model_config`` unless it sets them itself, and built with ``BUILDER``; already-built
    datasets are used as they are.

    Args:
        datasets: dataset config dicts or datasets, possibly in nested lists.
        processor: the model's HF processor (injected by the trainer).
        tokenizer: the model's tokenizer (injected by the trainer; optional with a processor).
        seed: the run's seed, the same on every rank.
        model_config: the model's config, forwarded for ``get_rope_index`` (optional).
    """

    def __init__(
        self,
        datasets: Iterable[Any],
        processor: Any = None,
        tokenizer: Any = None,
        seed: int = 0,
        model_config: Any = None,
    ) -> None:
        injected = {"processor": processor, "tokenizer": tokenizer, "seed": seed}
        if model_config is not None:
            injected["model_config"] = model_config
        built: list[Dataset] = []
        for item in _flatten(datasets):
            if isinstance(item, dict):
                cfg = copy.deepcopy(dict(item))
                cfg["type"] = build_lazy_object(cfg.get("type"))
                for key, value in injected.items():
                    cfg.setdefault(key, value)
                built.append(BUILDER.build(cfg))
            else:
                built.append(build_lazy_object(item))
        if not built:
            raise ValueError("ConcatDataset needs at least one dataset")
        super().__init__(built)
        for ds in built:
            logger.info("dataset %s: %d samples", getattr(ds, "name", type(ds).__name__), len(ds))

    def set_epoch(self, epoch: int) -> None:
        """Forward ``set_epoch`` to every child that has it."""
        for ds in self.datasets:
            if hasattr(ds, "set_epoch"):
                ds.set_epoch(epoch)

    def log_skip_totals(self) -> None:
        """Forward ``log_skip_totals`` (the last epoch's and the run's skip summaries) to every child."""
        for ds in self.datasets:
            if hasattr(ds, "log_skip_totals"):
                ds.log_skip_totals()

    def skip_summary(self) -> dict[str, dict[str, int]]:
        """Per-child skip counts of this process, keyed by dataset name (``name#i`` if repeated)."""
        summary: dict[str, dict[str, int]] = {}
        for i, ds in enumerate(self.datasets):
            if hasattr(ds, "skip_summary"):
                name = getattr(ds, "name", str(i))
                summary[name if name not in summary else f"{name}#{i}"] = ds.skip_summary()
        return summary
