"""The one sample path shared by SFT, GRPO and evaluation: TSV line -> image + annotation -> parsed
objects -> task function -> question, answer and reward ground truth.

Every consumer seeds the task function the same way (:meth:`SampleSource.rng`), retries an unusable
sample the same bounded number of times (:meth:`SampleSource.first_usable`) and builds the same
ground-truth dict (:func:`reward_ground_truth`). What happens to the image afterwards (processor
tensors for SFT, a prompt for GRPO, generation for evaluation) is the consumer's business.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from dataset.annotations import BOX_FORMATS, AnnotationError, ObjectAnnotation, parse_annotation
from dataset.skip_stats import SkipSample, SkipStats
from dataset.task_fns import EmptySampleError, TaskSample
from dataset.task_fns.original_style import accept_original_style
from dataset.tsv import TsvFormatError, TsvReader

__all__ = ["DEFAULT_MAX_RETRIES", "MIN_IMAGE_SIDE", "SampleSource", "SourceBacked", "SourceSample",
           "reward_ground_truth"]

MIN_IMAGE_SIDE = 28  # pixels; smaller images are skipped (as in the original)
DEFAULT_MAX_RETRIES = 20  # consecutive unusable samples tolerated before a loud error

T = TypeVar("T")


def reward_ground_truth(task: TaskSample, reward_name: str, dataset_name: str,
                        image_size: tuple[int, int]) -> dict[str, Any]:
    """The reward schema's ground truth of one sample: ``{"reward_name", "dataset_name",
    "image_size": [W, H], "answer": {phrase: {"boxes", "points", "masks"}}}`` in original pixels,
    plus the task's ``extras`` (``ignore``, ``exemplars``, ``keypoint_names``) when it has any."""
    return {
        **task.extras,
        "reward_name": reward_name,
        "dataset_name": dataset_name,
        "image_size": [int(image_size[0]), int(image_size[1])],
        "answer": task.ground_truth,
    }


@dataclass
class SourceSample:
    """One usable sample: ``index`` is the position in the source, ``line`` the TSV line, ``annotation``
    the raw annotation JSON."""

    index: int
    line: int
    image: Image.Image
    annotation: dict[str, Any]
    task: TaskSample
    ground_truth: dict[str, Any]


class SampleSource:
    """Reads, parses and asks one TSV triple's samples.

    Args:
        reader: the TSV triple, or anything with ``len()``, ``read(line) -> (image, annotation)`` and
            ``ann_tsv`` (a name for messages).
        task_fn: ``task_fn(objects, width, height, rng) -> TaskSample`` (``dataset.task_fns``), or an
            original-style ``fn(example, width, height)`` (wrapped by ``accept_original_style``).
        name: the dataset name; part of the RNG seed and of every error message.
        lines: TSV line numbers in use (default: all), e.g. from ``select_indices``.
        seed: base of the per-sample RNG; equal on every rank.
        box_format: ``xyxy`` or ``xywh`` boxes in the annotations.
        reward_name: copied into the ground truth.
        max_retries: consecutive unusable samples tolerated by :meth:`first_usable`.
        skip_stats: where skips are counted (default: a fresh ``SkipStats``).
    """

    def __init__(self, reader: TsvReader | Any, task_fn: Callable[..., TaskSample], name: str,
                 lines: np.ndarray | None = None, seed: int = 0, box_format: str = "xyxy",
                 reward_name: str = "box_iou", max_retries: int = DEFAULT_MAX_RETRIES,
                 skip_stats: SkipStats | None = None) -> None:
        if box_format not in BOX_FORMATS:
            raise ValueError(f"{name}: box format must be one of {BOX_FORMATS}, got {box_format!r}")
        if max_retries < 1:
            raise ValueError(f"{name}: max_retries must be >= 1, got {max_retries}")
        self.reader, self.task_fn, self.name = reader, accept_original_style(task_fn), name
        self.lines = np.arange(len(reader), dtype=np.int64) if lines is None else lines
        self.seed, self.box_format, self.reward_name = int(seed), box_format, reward_name
        self.max_retries = max_retries
        self.skip_stats = skip_stats if skip_stats is not None else SkipStats(name)

    def __len__(self) -> int:
        return len(self.lines)

    def rng(self, index: int, epoch: int = 0) -> random.Random:
        """The task function's RNG for sample ``index`` in ``epoch``. String seeds are hashed with
        SHA-512, so the stream is the same in every process, rank and worker."""
        return random.Random(f"{self.name}|{self.seed}|{epoch}|{index}")

    def read(self, index: int) -> tuple[Image.Image, dict[str, Any]]:
        """The decoded image and annotation JSON of sample ``index``; raises ``SkipSample``."""
        line = int(self.lines[index])
        try:
            image, annotation = self.reader.read(line)
        except TsvFormatError as exc:
            raise SkipSample("unreadable", str(exc)) from exc
        if min(image.size) < MIN_IMAGE_SIDE:
            raise SkipSample("too_small", f"TSV line {line}: image {image.size[0]}x{image.size[1]} px")
        return image, annotation

    def ask(self, annotation: dict[str, Any], size: tuple[int, int], rng: random.Random) -> TaskSample:
        """Parse ``annotation`` and run the task function for an image of ``(width, height)``."""
        try:
            objects: list[ObjectAnnotation] = parse_annotation(annotation, self.box_format)
        except AnnotationError as exc:
            raise SkipSample("bad_annotation", str(exc)) from exc
        try:
            return self.task_fn(objects, size[0], size[1], rng)
        except EmptySampleError as exc:
            raise SkipSample("empty", str(exc)) from exc

    def load(self, index: int, epoch: int = 0) -> SourceSample:
        """Sample ``index`` of ``epoch``, or ``SkipSample`` when it is unusable."""
        image, annotation = self.read(index)
        task = self.ask(annotation, image.size, self.rng(index, epoch))
        truth = reward_ground_truth(task, self.reward_name, self.name, image.size)
        return SourceSample(index, int(self.lines[index]), image, annotation, task, truth)

    def first_usable(self, index: int, build: Callable[[int], T]) -> tuple[T, int]:
        """``(build(position), skipped)`` for the first position from ``index`` on (wrapping round)
        where ``build`` does not raise ``SkipSample``; skips are counted. After ``max_retries``
        consecutive skips, ``RuntimeError`` names the file, positions and TSV lines."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{self.name}: index {index} out of range [0, {n})")
        index %= n
        tried: list[int] = []
        last: SkipSample | None = None
        for attempt in range(min(self.max_retries, n)):
            position = (index + attempt) % n
            try:
                return build(position), attempt
            except SkipSample as skip:
                self.skip_stats.record(skip, position)
                tried.append(position)
                last = skip
        lines = [int(self.lines[p]) for p in tried]
        raise RuntimeError(
            f"{self.name} ({self.reader.ann_tsv}): {len(tried)} consecutive samples unusable "
            f"(dataset indices {tried}, TSV lines {lines}); last: {last}; skips so far: {self.skip_stats.summary()}"
        )


class SourceBacked:
    """For a dataset holding a :class:`SampleSource` as ``self.source``: its reader, line selection, task
    function, seed and box format, read through the source so there is one copy of each."""

    source: SampleSource

    @property
    def reader(self) -> TsvReader | Any:
        return self.source.reader

    @property
    def lines(self) -> np.ndarray:
        return self.source.lines

    @property
    def task_fn(self) -> Callable[..., TaskSample]:
        return self.source.task_fn

    @property
    def seed(self) -> int:
        return self.source.seed

    @property
    def box_format(self) -> str:
        return self.source.box_format
