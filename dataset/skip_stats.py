"""Counting and logging of SFT samples that had to be skipped.

Counts live in the dataset object, so inside DataLoader workers each worker counts its own skips
(and logs its own summaries); the main process only sees skips of samples it loads itself.
"""

from __future__ import annotations

import logging
from collections import Counter

__all__ = ["SKIP_REASONS", "SkipSample", "SkipStats"]

logger = logging.getLogger(__name__)

# Why a sample can be unusable; the keys of ``SkipStats.counts``.
SKIP_REASONS: tuple[str, ...] = (
    "unreadable",  # TsvFormatError: bad offset, base64 or image bytes
    "bad_annotation",  # AnnotationError: annotation JSON does not follow the schema
    "too_small",  # an image side below the minimum (28 px)
    "bad_image_size",  # the processor rejects the size (aspect ratio above 200)
    "empty",  # EmptySampleError: no usable object or negative phrase
    "too_long",  # more tokens than max_length (image tokens are never truncated)
)


class SkipSample(Exception):
    """Raised inside a dataset when a sample cannot be used; ``reason`` is one of ``SKIP_REASONS``."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in SKIP_REASONS:
            raise ValueError(f"unknown skip reason {reason!r}; expected one of {SKIP_REASONS}")
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class SkipStats:
    """Per-reason skip counters for one dataset.

    Args:
        name: the dataset's name, used in log lines.
        log_every: log a summary after every ``log_every`` skips (0: never; call ``log_summary``).
    """

    def __init__(self, name: str, log_every: int = 100) -> None:
        self.name = name
        self.log_every = log_every
        self.counts: Counter[str] = Counter()

    @property
    def total(self) -> int:
        """Number of skips recorded so far."""
        return sum(self.counts.values())

    def record(self, skip: SkipSample, index: int) -> None:
        """Count one skip; the first of each reason is logged with its message."""
        self.counts[skip.reason] += 1
        if self.counts[skip.reason] == 1:
            logger.warning(
                "%s: skipping sample %d (%s); further skips are summarised", self.name, index, skip
            )
        if self.log_every and self.total % self.log_every == 0:
            self.log_summary()

    def summary(self) -> dict[str, int]:
        """Counts per reason (reasons never seen are omitted)."""
        return {reason: self.counts[reason] for reason in SKIP_REASONS if self.counts[reason]}

    def log_summary(self) -> None:
        """Log the counts so far at WARNING level (nothing if there were no skips)."""
        if self.total:
            logger.warning("%s: %d samples skipped so far: %s", self.name, self.total, self.summary())

    def reset(self) -> None:
        """Forget all counts (e.g. at the start of an epoch)."""
        self.counts.clear()
