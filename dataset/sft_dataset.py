"""SFT datasets: TSV triple -> task function -> image processor + chat tokens -> model tensors.

One sample is ``dict(input_ids (L,), labels (L,), position_ids (3, L), pixel_values (N, 1176),
image_grid_thw (1, 3))``. Unusable samples are skipped (the next index is tried, a bounded number
of times); see ``dataset.skip_stats`` for the reasons and the counting across DataLoader workers.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

from dataset.annotations import BOX_FORMATS
from dataset.chat import DEFAULT_SYSTEM_MESSAGE, ChatEncoder, EncodedText
from dataset.mrope import MRopeIndexer
from dataset.registry import BUILDER
from dataset.sample_source import DEFAULT_MAX_RETRIES, SampleSource, SourceBacked
from dataset.skip_stats import SkipSample, SkipStats
from dataset.task_fns import TaskSample
from dataset.tsv import TsvReader

__all__ = [
    "DEFAULT_SYSTEM_MESSAGE",
    "GroundingTSVDataset",
    "PointingTSVDataset",
    "TSVDataset",
    "select_indices",
]

logger = logging.getLogger(__name__)

# Torch intra-op threads for the image processor. Its tensors are small (one image), so thread
# hand-offs cost more than they save and stall on a loaded machine. DataLoader workers already use 1.
IMAGE_PROCESSOR_THREADS = 1


@contextmanager
def torch_threads(num_threads: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(num_threads)``, restoring the previous count after."""
    previous = torch.get_num_threads()
    if previous == num_threads:
        yield
        return
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def select_indices(
    num_lines: int, ratio_range: Sequence[float], max_num_samples: int | None, seed: int
) -> np.ndarray:
    """TSV line numbers used by a dataset: the ``ratio_range`` slice, then a seeded subset.

    The subset depends only on the arguments, so every rank and worker selects the same lines; it
    is returned sorted (the sampler shuffles anyway, and sorted reads are disk-friendly).
    """
    start, stop = (float(r) for r in ratio_range)
    if not 0.0 <= start <= stop <= 1.0:
        raise ValueError(f"ratio_range must satisfy 0 <= a <= b <= 1, got {list(ratio_range)}")
    lines = np.arange(int(num_lines * start), int(num_lines * stop), dtype=np.int64)
    if max_num_samples is not None:
        if max_num_samples <= 0:
            raise ValueError(f"max_num_samples must be a positive int or None, got {max_num_samples}")
        if max_num_samples < len(lines):
            chosen = np.random.default_rng(seed).choice(len(lines), size=max_num_samples, replace=False)
            lines = lines[np.sort(chosen)]
    return lines


def build_lazy_object(obj: Any) -> Any:
    """Build mmengine lazy-import objects (configs loaded in lazy mode hold them for classes)."""
    if hasattr(obj, "_module") and hasattr(obj, "build"):
        return obj.build()
    return obj


def build_task_fn(task_fn: Any) -> Any:
    """A task function from a config dict (built with BUILDER) or an already-built callable.

    Original-style functions, ``fn(example, width, height)``, are wrapped to the current call shape.
    """
    if task_fn is None:
        raise ValueError("task_fn is required: a GroundingTaskFn/PointingTaskFn or its config dict")
    if isinstance(task_fn, dict):
        cfg = dict(task_fn)
        cfg["type"] = build_lazy_object(cfg.get("type"))
        return BUILDER.build(cfg)
    task_fn = build_lazy_object(task_fn)
    if not callable(task_fn):
        raise TypeError(f"task_fn must be callable or a config dict, got {type(task_fn).__name__}")
    return task_fn


@BUILDER.register_module()
class TSVDataset(SourceBacked, Dataset):
    """SFT dataset over one TSV triple; the task function decides boxes or points.

    Args:
        img_tsv_file, ann_tsv_file, ann_lineidx_file: the TSV triple.
        image_min_pixels, image_max_pixels: this dataset's resize limits (pixels of the resized
            image), passed per call to the image processor; the shared processor is never changed.
        task_fn: a task function, or its config dict (built with ``BUILDER``).
        processor: the model's HF processor (image processor, tokenizer, chat template); injected.
        tokenizer: overrides ``processor.tokenizer`` if given.
        dataset_name: name for logs (default: the annotation file's base name).
        system_message: text of the system turn.
        max_num_samples: keep a random subset of this many lines, seeded by ``seed``.
        ratio_range: ``[a, b]`` fractions of the lines to use, before subsetting.
        ori_box_format: ``"xyxy"`` or ``"xywh"`` boxes in the annotations.
        max_length: samples with more tokens are skipped (never truncated).
        seed: seeds the subset and the per-sample task RNG; must be equal on every rank.
        model_config: the model's config for ``get_rope_index`` (optional; see ``MRopeIndexer``).
        max_retries: consecutive unusable samples tolerated before raising ``RuntimeError``.
        log_skips_every: log a skip summary after every this many skips of an epoch (all workers together).
        if_convert_raw_data: accepted for old configs; unused (as in the original).
    """

    def __init__(
        self,
        img_tsv_file: str,
        ann_tsv_file: str,
        ann_lineidx_file: str,
        image_min_pixels: int,
        image_max_pixels: int,
        task_fn: Any,
        processor: Any = None,
        tokenizer: Any = None,
        dataset_name: str | None = None,
        system_message: str = DEFAULT_SYSTEM_MESSAGE,
        max_num_samples: int | None = None,
        ratio_range: Sequence[float] = (0.0, 1.0),
        ori_box_format: str = "xyxy",
        max_length: int = 4096,
        seed: int = 0,
        model_config: Any = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        log_skips_every: int = 100,
        if_convert_raw_data: bool = True,
    ) -> None:
        if processor is None or not hasattr(processor, "image_processor"):
            raise ValueError(
                f"{type(self).__name__} needs `processor` (the model's HF processor), injected "
                "by ConcatDataset(processor=...)"
            )
        for key, value in (("image_min_pixels", image_min_pixels), ("image_max_pixels", image_max_pixels)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{key} must be an int (pixels), got {value!r}")
        if not 0 < image_min_pixels <= image_max_pixels:
            raise ValueError(
                f"need 0 < image_min_pixels <= image_max_pixels, got {image_min_pixels}, {image_max_pixels}"
            )
        if ori_box_format not in BOX_FORMATS:
            raise ValueError(f"ori_box_format must be one of {BOX_FORMATS}, got {ori_box_format!r}")
        if max_retries < 1:
            raise ValueError(f"max_retries must be >= 1, got {max_retries}")
        reader = TsvReader(img_tsv_file, ann_tsv_file, ann_lineidx_file)
        self.name = dataset_name or os.path.basename(ann_tsv_file)
        self.skip_stats = SkipStats(self.name, log_skips_every)
        self.source = SampleSource(
            reader, build_task_fn(task_fn), self.name,
            lines=select_indices(len(reader), ratio_range, max_num_samples, seed), seed=seed,
            box_format=ori_box_format, max_retries=max_retries, skip_stats=self.skip_stats,
        )
        self.image_processor = processor.image_processor
        self.image_size = {"shortest_edge": int(image_min_pixels), "longest_edge": int(image_max_pixels)}
        self.patch_size = int(self.image_processor.patch_size)
        self.merge_size = int(self.image_processor.merge_size)
        self.chat = ChatEncoder(processor, tokenizer, system_message)
        self.rope = MRopeIndexer(model_config, self.chat.image_token_id, self.merge_size)
        self.max_length = max_length
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.lines)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose per-sample RNG streams are used (call before each epoch).

        Persistent DataLoader workers hold their own copy: recreate them (the default) or this
        has no effect inside them. A new epoch logs the one that ended's skips by reason (every worker's)
        and starts a new count.
        """
        if int(epoch) != self.epoch:
            self.skip_stats.end_epoch(self.epoch)
        self.epoch = int(epoch)

    def log_skip_totals(self) -> None:
        """At the end of training: the last epoch's skip summary, then the run's totals by reason."""
        self.skip_stats.end_epoch(self.epoch)
        self.skip_stats.log_run_summary()

    def sample_rng(self, index: int) -> random.Random:
        """The task function's RNG for sample ``index`` in the current epoch (``SampleSource.rng``)."""
        return self.source.rng(index, self.epoch)

    def skip_summary(self) -> dict[str, int]:
        """Skips per reason in the current epoch, DataLoader workers' included."""
        return self.skip_stats.summary()

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Sample ``index``, or the next usable one within ``max_retries`` tries (wrapping around)."""
        sample, _ = self.source.first_usable(index, self.build_sample)
        return sample

    # Stages, public so the benchmark can time them one by one.
    def build_sample(self, index: int) -> dict[str, torch.Tensor]:
        """Build sample ``index`` or raise ``SkipSample``."""
        image, annotation = self.read(index)
        task = self.make_task(annotation, image.size, self.sample_rng(index))
        text = self.encode_text(task, image.size)
        pixel_values, grid_thw = self.process_image(image, text.num_image_tokens)
        return self.assemble(text, pixel_values, grid_thw)

    def read(self, index: int) -> tuple[Image.Image, dict[str, Any]]:
        """Decode the image and annotation JSON of sample ``index``."""
        return self.source.read(index)

    def make_task(self, annotation: dict[str, Any], size: tuple[int, int], rng: random.Random) -> TaskSample:
        """Parse the annotation and run the task function on the original ``(width, height)``."""
        return self.source.ask(annotation, size, rng)

    def num_image_tokens(self, size: tuple[int, int]) -> int:
        """``<|image_pad|>`` count for an image of ``(width, height)`` under this dataset's limits."""
        factor = self.patch_size * self.merge_size
        try:
            height, width = smart_resize(
                size[1], size[0], factor, self.image_size["shortest_edge"], self.image_size["longest_edge"]
            )
        except ValueError as exc:  # aspect ratio above 200
            raise SkipSample("bad_image_size", str(exc)) from exc
        return (height // factor) * (width // factor)

    def encode_text(self, task: TaskSample, size: tuple[int, int]) -> EncodedText:
        """Token ids and labels; skips the sample if it is longer than ``max_length``."""
        num_image_tokens = self.num_image_tokens(size)
        question_ids, answer_ids = self.chat.tokenize(task.question, task.answer)
        length = self.chat.length(question_ids, answer_ids, num_image_tokens)
        if length > self.max_length:
            raise SkipSample(
                "too_long",
                f"{length} tokens > max_length {self.max_length} ({num_image_tokens} image tokens)",
            )
        return self.chat.assemble(question_ids, answer_ids, num_image_tokens)

    def process_image(self, image: Image.Image, num_image_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``pixel_values (N, C*T*P*P)`` and ``image_grid_thw (1, 3)`` with this dataset's pixel limits."""
        with torch_threads(IMAGE_PROCESSOR_THREADS):  # same output, see IMAGE_PROCESSOR_THREADS
            out = self.image_processor(images=image, size=self.image_size, return_tensors="pt")
        grid_thw = out["image_grid_thw"]
        got = int(grid_thw.prod()) // self.merge_size**2
        if got != num_image_tokens:  # our smart_resize and the processor's must agree
            raise RuntimeError(f"{self.name}: processor made {got} image tokens, expected {num_image_tokens}")
        return out["pixel_values"], grid_thw

    def assemble(
        self, text: EncodedText, pixel_values: torch.Tensor, grid_thw: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Tensors of one sample, with M-RoPE ``position_ids (3, L)``."""
        input_ids = torch.tensor(text.input_ids, dtype=torch.long)
        return {
            "input_ids": input_ids,
            "labels": torch.tensor(text.labels, dtype=torch.long),
            "position_ids": self.rope.position_ids(input_ids, grid_thw),
            "pixel_values": pixel_values,
            "image_grid_thw": grid_thw,
        }


@BUILDER.register_module()
class GroundingTSVDataset(TSVDataset):
    """Grounding SFT data (use a ``GroundingTaskFn``); same behaviour as ``TSVDataset``."""


@BUILDER.register_module()
class PointingTSVDataset(TSVDataset):
    """Pointing SFT data (use a ``PointingTaskFn``); same behaviour as ``TSVDataset``."""
