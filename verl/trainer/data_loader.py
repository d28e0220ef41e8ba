"""Build the GRPO train/val datasets from ``data.config_path`` and a resumable batch loader.

The mmengine file lists datasets (``train_dataset = [dict(type=TSVRLHFDataset, ...)]``, optional
``val_dataset``). Every entry gets the tokenizer, processor and the run's ``data.*`` prompt settings
(``format_prompt``, ``max_prompt_length``, ``filter_overlong_prompts``, ``seed``) unless it sets them itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from dataset.config_checks import load_data_config
from dataset.registry import build
from dataset.rlhf_dataset import RLHFCollator
from rewards import known_rewards
from verl.trainer.config import DataConfig

__all__ = ["ResumableBatchSampler", "StatefulLoader", "build_datasets", "build_loader", "check_reward_name",
           "unknown_reward_line"]

logger = logging.getLogger(__name__)


def build_datasets(data: DataConfig, tokenizer: Any, processor: Any) -> tuple[Dataset, Dataset | None]:
    """``(train, val or None)`` ConcatDatasets built from ``data.config_path``."""
    cfg = load_data_config(data.config_path)
    if "train_dataset" not in cfg:
        raise ValueError(f"{data.config_path}: defines no `train_dataset` list")
    defaults = dict(
        tokenizer=tokenizer, processor=processor, format_prompt=data.format_prompt,
        max_prompt_length=data.max_prompt_length, seed=data.seed,
        filter_overlong_prompts=getattr(data, "filter_overlong_prompts", True),
    )

    def concat(entries: Any, key: str) -> ConcatDataset:
        if not isinstance(entries, (list, tuple)) or not entries:
            raise ValueError(f"{data.config_path}: `{key}` must be a non-empty list of dataset configs")
        datasets = [build(dict(entry), **defaults) for entry in entries]
        for ds in datasets:
            check_reward_name(ds)
        for entry, ds in zip(entries, datasets):
            logger.info("%s: %s with %d samples", key, entry.get("dataset_name", type(ds).__name__), len(ds))
        return ConcatDataset(datasets)

    val = concat(cfg["val_dataset"], "val_dataset") if cfg.get("val_dataset") else None
    return concat(cfg["train_dataset"], "train_dataset"), val


def unknown_reward_line(dataset_name: str, reward_name: Any) -> str | None:
    """``"<dataset_name>: unknown reward_name ...; known: ..."`` when ``reward_name`` is set and not a
    registered reward, else ``None`` (the launcher's up-front check and the build-time one say the same)."""
    if reward_name is None or reward_name in known_rewards():
        return None
    return (f"{dataset_name}: unknown reward_name {reward_name!r}; known: {', '.join(known_rewards())} "
            "(add one with rewards.register_reward)")


def check_reward_name(dataset: Any) -> None:
    """Fail when the dataset is built (not at the first reward call) when its ``reward_name`` (if it has
    one) is not a registered reward; the message names the dataset."""
    line = unknown_reward_line(getattr(dataset, "dataset_name", type(dataset).__name__),
                               getattr(dataset, "reward_name", None))
    if line is not None:
        raise ValueError(line)


class ResumableBatchSampler:
    """Index batches for epoch ``epoch``: a permutation seeded by ``(seed, epoch)`` (or in order).

    ``state_dict()`` / ``load_state_dict()`` hold (epoch, batches already consumed in it), so a resumed
    run continues with the exact next batch. The last incomplete batch is dropped.
    """

    def __init__(self, num_samples: int, batch_size: int, shuffle: bool, seed: int) -> None:
        if num_samples < batch_size:
            raise ValueError(f"dataset has {num_samples} samples < batch size {batch_size}")
        self.num_samples, self.batch_size, self.shuffle, self.seed = num_samples, batch_size, shuffle, seed
        self.epoch, self.position = 0, 0

    def __len__(self) -> int:
        return self.num_samples // self.batch_size

    def order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.num_samples))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_samples, generator=generator).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        order, start = self.order(self.epoch), self.position
        for batch in range(start, len(self)):
            yield order[batch * self.batch_size:(batch + 1) * self.batch_size]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


class StatefulLoader:
    """Endless iterator of collated batches over epochs, with a resumable position.

    ``next_batch()`` returns ``(epoch, batch)``; the position advances when the batch is handed out,
    so a checkpoint taken after a step resumes with the following batch.
    """

    def __init__(self, dataset: Dataset, sampler: ResumableBatchSampler, collate: Any, num_workers: int) -> None:
        self.dataset, self.sampler, self.collate, self.num_workers = dataset, sampler, collate, num_workers
        self._iterator: Iterator[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.sampler)

    def _start_epoch(self) -> None:
        for ds in getattr(self.dataset, "datasets", [self.dataset]):
            if hasattr(ds, "set_epoch"):
                ds.set_epoch(self.sampler.epoch)
        loader = DataLoader(self.dataset, batch_sampler=self.sampler, collate_fn=self.collate,
                            num_workers=self.num_workers, persistent_workers=False)
        self._iterator = iter(loader)

    def next_batch(self) -> tuple[int, dict[str, Any]]:
        if self._iterator is None:
            self._start_epoch()
        assert self._iterator is not None
        try:
            batch = next(self._iterator)
        except StopIteration:
            self.sampler.epoch, self.sampler.position = self.sampler.epoch + 1, 0
            self._start_epoch()
            batch = next(self._iterator)
        epoch = self.sampler.epoch
        self.sampler.position += 1
        return epoch, batch

    def state_dict(self) -> dict[str, int]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.load_state_dict(state)
        self._iterator = None


def build_loader(dataset: Dataset, data: DataConfig, pad_token_id: int, batch_size: int | None = None,
                 shuffle: bool | None = None) -> StatefulLoader:
    """A :class:`StatefulLoader` of ``batch_size`` prompts (default ``data.rollout_batch_size``)."""
    sampler = ResumableBatchSampler(len(dataset), batch_size or data.rollout_batch_size,  # type: ignore[arg-type]
                                    data.shuffle if shuffle is None else shuffle, data.seed)
    return StatefulLoader(dataset, sampler, RLHFCollator(pad_token_id), data.num_workers)
