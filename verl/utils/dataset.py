"""The GRPO dataset and collator under the import path the original's configs use
(``from verl.utils.dataset import TSVRLHFDataset``); they are defined in :mod:`dataset.rlhf_dataset`."""

from dataset.rlhf_dataset import DEPRECATED_ARGUMENTS, RLHFCollator, TSVRLHFDataset, resize_image

__all__ = ["DEPRECATED_ARGUMENTS", "RLHFCollator", "TSVRLHFDataset", "resize_image"]
