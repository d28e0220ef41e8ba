"""``TSVRLHFDataset``: GRPO prompts and reward ground truths from a TSV triple.

One sample = one image and the question drawn by the same sample path as SFT
(``dataset.sample_source``; the answer is discarded). The prompt is the chat-template rendering of
``<image>\\n{question}`` after ``format_prompt`` (a jinja2 template over ``{{ content }}`` = the
question). The ground truth is ``dataset.sample_source.reward_ground_truth``'s.

Samples are returned unpadded; :class:`RLHFCollator` left-pads a batch to its longest prompt.
``verl.utils.dataset`` re-exports both (the import path of the original's configs). Whether
``reward_name`` is a registered reward is checked where GRPO builds its datasets
(``verl.trainer.data_loader``), since ``dataset/`` does not import the rewards.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from jinja2 import Template
from PIL import Image
from torch.utils.data import Dataset

from dataset.chat import DEFAULT_SYSTEM_MESSAGE, render_prompt
from dataset.mrope import MRopeIndexer
from dataset.registry import BUILDER, build
from dataset.sample_source import DEFAULT_MAX_RETRIES, SampleSource, SourceBacked
from dataset.sft_dataset import select_indices
from dataset.skip_stats import SkipSample, SkipStats
from dataset.tsv import TsvReader

__all__ = ["DEPRECATED_ARGUMENTS", "RLHFCollator", "TSVRLHFDataset", "resize_image"]

logger = logging.getLogger(__name__)

PADDED_KEYS = ("input_ids", "attention_mask", "position_ids")


# Old GRPO spellings of the dataset arguments -> the names SFT datasets use.
DEPRECATED_ARGUMENTS = {
    "image_tsv_file": "img_tsv_file",
    "anno_tsv_file": "ann_tsv_file",
    "anno_idx_file": "ann_lineidx_file",
    "min_pixels": "image_min_pixels",
    "max_pixels": "image_max_pixels",
}


def rename_deprecated(kwargs: dict[str, Any], owner: str) -> dict[str, Any]:
    """``kwargs`` with old GRPO argument names replaced by the current ones (warning once per name);
    both spellings of one argument is a ``TypeError``."""
    out = dict(kwargs)
    for old, new in DEPRECATED_ARGUMENTS.items():
        if old not in out:
            continue
        if new in out:
            raise TypeError(f"{owner}: got both {old!r} and {new!r}; use {new!r}")
        warnings.warn(f"{owner}: {old!r} is deprecated, use {new!r}", FutureWarning, stacklevel=3)
        out[new] = out.pop(old)
    return out


def resize_image(image: Image.Image, min_pixels: int | None, max_pixels: int | None) -> Image.Image:
    """Scale ``image`` (aspect kept) so that its area lies in [min_pixels, max_pixels]; RGB out.

    Same rule as the original ``process_image``; the processor's smart_resize runs afterwards.
    """
    width, height = image.size
    if max_pixels is not None and width * height > max_pixels:
        factor = math.sqrt(max_pixels / (width * height))
        image = image.resize((max(1, int(width * factor)), max(1, int(height * factor))))
    width, height = image.size
    if min_pixels is not None and width * height < min_pixels:
        factor = math.sqrt(min_pixels / (width * height))
        image = image.resize((int(width * factor) + 1, int(height * factor) + 1))
    return image.convert("RGB") if image.mode != "RGB" else image


@BUILDER.register_module()
class TSVRLHFDataset(SourceBacked, Dataset):
    """GRPO dataset over one TSV triple; the arguments are the SFT datasets' names.

    Args:
        img_tsv_file, ann_tsv_file, ann_lineidx_file: the TSV triple (``dataset.tsv``).
        tokenizer, processor: injected by the data loader.
        task_fn: a task function or its ``dict(type=GroundingTaskFn, ...)`` config.
        image_min_pixels, image_max_pixels: image area bounds applied before the processor (pixels).
        dataset_name, reward_name: copied into every ground truth.
        format_prompt: jinja2 template text, or a path to a ``.jinja`` file; ``None`` = the question as is.
        max_prompt_length: prompt tokens including image tokens (never truncated).
        filter_overlong_prompts: skip (and count) longer prompts; otherwise raise ``ValueError``.
        seed: base of the per-sample RNG (``SampleSource.rng``).
        box_format: ``bbox`` format in the annotations (``xyxy`` or ``xywh``).
        max_retries: consecutive unusable samples tolerated before a ``RuntimeError``.
        max_num_samples: keep a random subset of this many lines, seeded by ``seed`` (as the SFT datasets).
        **deprecated: the old GRPO names (``image_tsv_file``, ``anno_tsv_file``, ``anno_idx_file``,
            ``min_pixels``, ``max_pixels``), accepted with a ``FutureWarning``.
        system_message: text of the system turn (as the SFT dataset's).
    """

    def __init__(
        self,
        img_tsv_file: str | None = None,
        ann_tsv_file: str | None = None,
        ann_lineidx_file: str | None = None,
        tokenizer: Any = None,
        processor: Any = None,
        task_fn: Any = None,
        image_min_pixels: int | None = None,
        image_max_pixels: int | None = None,
        dataset_name: str = "custom_grounding",
        reward_name: str = "box_iou",
        format_prompt: str | None = None,
        max_prompt_length: int = 4096,
        filter_overlong_prompts: bool = True,
        seed: int = 1,
        box_format: str = "xyxy",
        system_message: str = DEFAULT_SYSTEM_MESSAGE,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_num_samples: int | None = None,
        **deprecated: Any,
    ) -> None:
        unknown = sorted(set(deprecated) - set(DEPRECATED_ARGUMENTS))
        if unknown:
            raise TypeError(f"TSVRLHFDataset got unexpected arguments {unknown}")
        current = {"img_tsv_file": img_tsv_file, "ann_tsv_file": ann_tsv_file, "ann_lineidx_file": ann_lineidx_file,
                   "image_min_pixels": image_min_pixels, "image_max_pixels": image_max_pixels}
        given = rename_deprecated({**{k: v for k, v in current.items() if v is not None}, **deprecated},
                                  "TSVRLHFDataset")
        missing = [k for k in ("img_tsv_file", "ann_tsv_file", "ann_lineidx_file") if k not in given]
        if missing:
            raise TypeError(f"TSVRLHFDataset needs {missing}")
        if processor is None or task_fn is None:
            raise ValueError("TSVRLHFDataset needs a processor (injected by the data loader) and a task_fn")
        reader = TsvReader(given["img_tsv_file"], given["ann_tsv_file"], given["ann_lineidx_file"])
        self.skips = SkipStats(dataset_name)
        self.source = SampleSource(reader, build(task_fn), dataset_name, seed=seed, box_format=box_format,
                                   lines=select_indices(len(reader), (0.0, 1.0), max_num_samples, seed),
                                   reward_name=reward_name, max_retries=max_retries, skip_stats=self.skips)
        self.processor = processor
        self.tokenizer = tokenizer if tokenizer is not None else processor.tokenizer
        self.min_pixels, self.max_pixels = given.get("image_min_pixels"), given.get("image_max_pixels")
        self.dataset_name, self.reward_name = dataset_name, reward_name
        self.template = _load_template(format_prompt)
        self.max_prompt_length = max_prompt_length
        self.filter_overlong_prompts = filter_overlong_prompts
        self.epoch = 0
        self.system_message = system_message
        image_token = getattr(processor, "image_token", "<|image_pad|>")
        merge_size = getattr(processor.image_processor, "merge_size", 2)
        self.mrope = MRopeIndexer(None, self.tokenizer.convert_tokens_to_ids(image_token), merge_size)

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch that seeds per-sample randomness (prompt template, phrase order); a new
        epoch logs the one that ended's skips by reason (DataLoader workers' included)."""
        if int(epoch) != self.epoch:
            self.skips.end_epoch(self.epoch)
        self.epoch = epoch

    def log_skip_totals(self) -> None:
        """At the end of training: the last epoch's skip summary, then the run's totals by reason."""
        self.skips.end_epoch(self.epoch)
        self.skips.log_run_summary()

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The sample at ``index``, or the next usable one within ``max_retries`` (counted, not recursive)."""
        sample, skipped = self.source.first_usable(index, self.load)
        sample["num_skipped"] = skipped
        return sample

    def load(self, index: int) -> dict[str, Any]:
        """Build one sample; raises ``SkipSample`` for unusable data."""
        loaded = self.source.load(index, self.epoch)
        question = loaded.task.question
        question = self.template.render(content=question) if self.template else question
        image = resize_image(loaded.image, self.min_pixels, self.max_pixels)
        sample = self.encode_prompt(image, question)
        sample["ground_truth"] = loaded.ground_truth
        sample["index"] = index
        return sample

    def encode_prompt(self, image: Image.Image, question: str) -> dict[str, Any]:
        """Tokens (expanded image pads), M-RoPE positions and processor outputs of one prompt."""
        text = render_prompt(self.processor, question, self.system_message)
        inputs = self.processor(images=[image], text=[text], add_special_tokens=False, return_tensors="pt")
        input_ids = inputs["input_ids"][0]
        if len(input_ids) > self.max_prompt_length:
            message = f"prompt has {len(input_ids)} tokens > max_prompt_length {self.max_prompt_length}"
            if self.filter_overlong_prompts:
                raise SkipSample("too_long", message)
            raise ValueError(f"{self.dataset_name}: {message} (set data.filter_overlong_prompts to skip)")
        grid = inputs["image_grid_thw"]
        return {
            "input_ids": input_ids,
            "attention_mask": inputs["attention_mask"][0],
            "position_ids": self.mrope.position_ids(input_ids, grid),
            "raw_prompt_ids": self.tokenizer.encode(text, add_special_tokens=False),
            "multi_modal_data": {"image": [image]},
            "multi_modal_inputs": {"pixel_values": inputs["pixel_values"], "image_grid_thw": grid},
            "prompt": question,
        }


def _load_template(format_prompt: str | None) -> Template | None:
    if not format_prompt:
        return None
    if format_prompt.endswith(".jinja"):
        with open(format_prompt, encoding="utf-8") as fh:
            format_prompt = fh.read()
    return Template(format_prompt)


class RLHFCollator:
    """Left-pads ``input_ids`` / ``attention_mask`` / ``position_ids`` to the batch's longest prompt.

    Every other key becomes a list (one entry per sample); keys must be the same in every sample.
    """

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        keys = set(samples[0])
        for sample in samples:
            if set(sample) != keys:
                raise ValueError(f"samples have different keys: {sorted(keys ^ set(sample))}")
        length = max(s["input_ids"].shape[-1] for s in samples)
        out: dict[str, Any] = {}
        for key in PADDED_KEYS:
            value = self.pad_token_id if key == "input_ids" else 0
            out[key] = torch.stack([_left_pad(s[key], length, value) for s in samples])
        for key in sorted(keys - set(PADDED_KEYS)):
            out[key] = [s[key] for s in samples]
        return out


def _left_pad(tensor: torch.Tensor, length: int, value: int) -> torch.Tensor:
    pad = length - tensor.shape[-1]
    return torch.nn.functional.pad(tensor, (pad, 0), value=value) if pad else tensor
