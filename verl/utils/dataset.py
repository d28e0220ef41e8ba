"""``TSVRLHFDataset``: GRPO prompts and reward ground truths from a TSV triple.

One sample = one image and the question drawn by the same task function as SFT (the answer is
discarded). The prompt is ``dataset.chat.render_prompt`` (the same ``<image>\\n{question}`` turn as
SFT and evaluation) of the question after ``format_prompt`` (a jinja2 template over ``{{ content }}`` =
the question). The ground truth follows the reward schema: ``{"reward_name", "dataset_name",
"image_size": [W, H], "answer": {cleaned phrase: {"boxes", "points", "masks"}}}`` in pixels of the
original image.

Samples are returned unpadded; :class:`RLHFCollator` left-pads a batch to its longest prompt.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from collections.abc import Sequence
from typing import Any

import torch
from jinja2 import Template
from PIL import Image
from torch.utils.data import Dataset

from dataset.annotations import AnnotationError, parse_annotation
from dataset.chat import DEFAULT_SYSTEM_MESSAGE, render_prompt
from dataset.mrope import MRopeIndexer
from dataset.skip_stats import SkipSample, SkipStats
from dataset.task_fns import EmptySampleError
from dataset.tsv import TsvFormatError, TsvReader
from finetuning.registry import BUILDER, build

__all__ = ["RLHFCollator", "TSVRLHFDataset", "resize_image", "sample_seed"]

logger = logging.getLogger(__name__)

PADDED_KEYS = ("input_ids", "attention_mask", "position_ids")


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """Stable 64-bit seed of (seed, epoch, index); independent of PYTHONHASHSEED and worker layout."""
    digest = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


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
class TSVRLHFDataset(Dataset):
    """GRPO dataset over one TSV triple (kwargs as the seed's ``configs/grpo.py``).

    Args:
        image_tsv_file, anno_tsv_file, anno_idx_file: the TSV triple (``dataset.tsv``).
        tokenizer, processor: injected by the data loader.
        task_fn: a task function or its ``dict(type=GroundingTaskFn, ...)`` config.
        min_pixels, max_pixels: image area bounds applied before the processor (pixels).
        dataset_name, reward_name: copied into every ground truth.
        format_prompt: jinja2 template text, or a path to a ``.jinja`` file; ``None`` = the question as is.
        max_prompt_length: prompt tokens including image tokens (never truncated).
        filter_overlong_prompts: skip (and count) longer prompts; otherwise raise ``ValueError``.
        seed: base of the per-sample RNG ``random.Random(sample_seed(seed, epoch, index))``.
        box_format: ``bbox`` format in the annotations (``xyxy`` or ``xywh``).
        system_message: text of the system turn (as the SFT dataset's).
    """

    def __init__(
        self,
        image_tsv_file: str,
        anno_tsv_file: str,
        anno_idx_file: str,
        tokenizer: Any = None,
        processor: Any = None,
        task_fn: Any = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        dataset_name: str = "custom_grounding",
        reward_name: str = "box_iou",
        format_prompt: str | None = None,
        max_prompt_length: int = 4096,
        filter_overlong_prompts: bool = True,
        seed: int = 1,
        box_format: str = "xyxy",
        system_message: str = DEFAULT_SYSTEM_MESSAGE,
    ) -> None:
        if processor is None or task_fn is None:
            raise ValueError("TSVRLHFDataset needs a processor (injected by the data loader) and a task_fn")
        _check_reward_name(dataset_name, reward_name)
        self.reader = TsvReader(image_tsv_file, anno_tsv_file, anno_idx_file)
        self.processor = processor
        self.tokenizer = tokenizer if tokenizer is not None else processor.tokenizer
        self.task_fn = build(task_fn)
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.dataset_name, self.reward_name = dataset_name, reward_name
        self.template = _load_template(format_prompt)
        self.max_prompt_length = max_prompt_length
        self.filter_overlong_prompts = filter_overlong_prompts
        self.seed, self.epoch, self.box_format = seed, 0, box_format
        self.system_message = system_message
        image_token = getattr(processor, "image_token", "<|image_pad|>")
        merge_size = getattr(processor.image_processor, "merge_size", 2)
        self.mrope = MRopeIndexer(None, self.tokenizer.convert_tokens_to_ids(image_token), merge_size)
        self.skips = SkipStats(dataset_name)

    def __len__(self) -> int:
        return len(self.reader)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch that seeds per-sample randomness (prompt template, phrase order)."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The sample at ``index``; an unusable one is skipped for the next index (counted, not recursive)."""
        for attempt in range(len(self)):
            current = (index + attempt) % len(self)
            try:
                sample = self.load(current)
            except SkipSample as skip:
                self.skips.record(skip, current)
                continue
            sample["num_skipped"] = attempt
            return sample
        raise RuntimeError(f"{self.dataset_name}: every sample is unusable: {self.skips.summary()}")

    def load(self, index: int) -> dict[str, Any]:
        """Build one sample; raises ``SkipSample`` for unusable data."""
        try:
            image, annotation = self.reader.read(index)
            objects = parse_annotation(annotation, self.box_format)
        except TsvFormatError as exc:
            raise SkipSample("unreadable", str(exc)) from exc
        except AnnotationError as exc:
            raise SkipSample("bad_annotation", str(exc)) from exc
        width, height = image.size
        rng = random.Random(sample_seed(self.seed, self.epoch, index))
        try:
            task = self.task_fn(objects, width, height, rng)
        except EmptySampleError as exc:
            raise SkipSample("empty", str(exc)) from exc
        question = self.template.render(content=task.question) if self.template else task.question
        image = resize_image(image, self.min_pixels, self.max_pixels)
        sample = self.encode_prompt(image, question)
        sample["ground_truth"] = {
            "reward_name": self.reward_name,
            "dataset_name": self.dataset_name,
            "image_size": [width, height],
            "answer": task.ground_truth,
        }
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


def _check_reward_name(dataset_name: str, reward_name: str) -> None:
    """Fail at construction (not at the first reward call) when ``reward_name`` is not registered."""
    from verl.rewards import known_rewards

    if reward_name not in known_rewards():
        raise ValueError(f"{dataset_name}: unknown reward_name {reward_name!r}; known: {known_rewards()} "
                         "(add one with verl.rewards.register_reward)")


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
