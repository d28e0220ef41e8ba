"""Counting and logging of samples that had to be skipped.

The counters live in shared memory created with the dataset, so DataLoader workers (forked or
spawned, and recreated every epoch) add to the same counts as the main process: the first skip of
each reason is logged once per run with its message, each epoch ends with one summary line of counts
by reason, and the run ends with the totals.
"""

import logging
import multiprocessing
import multiprocessing.context
from collections import Counter
from typing import Any

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
    """Per-reason skip counters for one dataset: this epoch's, the run's, and which reasons were logged.

    Args:
        name: the dataset's name, used in log lines.
        log_every: log a summary after every ``log_every`` skips of an epoch (0: never).
    """

    def __init__(self, name: str, log_every: int = 100) -> None:
        self.name = name
        self.log_every = log_every
        self._shared = _shared_counters()

    # Layout of the shared array: this epoch's count per reason, the run's, then a logged-yet flag.
    def _slot(self, part: int, reason: str) -> int:
        return part * len(SKIP_REASONS) + SKIP_REASONS.index(reason)

    @property
    def counts(self) -> Counter[str]:
        """This epoch's skips per reason."""
        return Counter({r: self._shared[self._slot(0, r)] for r in SKIP_REASONS if self._shared[self._slot(0, r)]})

    @property
    def total(self) -> int:
        """Number of skips this epoch."""
        return sum(self.counts.values())

    def record(self, skip: SkipSample, index: int) -> None:
        """Count one skip; the first of each reason in the run is logged with its message."""
        with self._shared.get_lock():
            self._shared[self._slot(0, skip.reason)] += 1
            self._shared[self._slot(1, skip.reason)] += 1
            first = not self._shared[self._slot(2, skip.reason)]
            self._shared[self._slot(2, skip.reason)] = 1
            total = sum(self._shared[: len(SKIP_REASONS)])
        if first:
            logger.warning("%s: skipping sample %d (%s); further skips are counted and summarised once per epoch",
                           self.name, index, skip)
        if self.log_every and total % self.log_every == 0:
            self.log_summary()

    def summary(self) -> dict[str, int]:
        """This epoch's counts per reason (reasons never seen are omitted)."""
        return dict(self.counts)

    def run_summary(self) -> dict[str, int]:
        """The run's counts per reason, every epoch together."""
        counts = {r: self._shared[self._slot(1, r)] for r in SKIP_REASONS}
        return {r: n for r, n in counts.items() if n}

    def log_summary(self) -> None:
        """Log this epoch's counts so far at WARNING level (nothing if there were no skips)."""
        if self.total:
            logger.warning("%s: %d samples skipped so far: %s", self.name, self.total, self.summary())

    def end_epoch(self, epoch: int) -> None:
        """Log epoch ``epoch``'s counts in one line (nothing if it skipped none) and start a new count."""
        if self.total:
            logger.warning("%s: epoch %d: %d samples skipped: %s", self.name, epoch, self.total, self.summary())
        self.reset()

    def log_run_summary(self) -> None:
        """Log the run's counts in one line (nothing if nothing was skipped)."""
        totals = self.run_summary()
        if totals:
            logger.warning("%s: %d samples skipped in this run: %s", self.name, sum(totals.values()), totals)

    def reset(self) -> None:
        """Forget this epoch's counts (the run's stay)."""
        with self._shared.get_lock():
            for reason in SKIP_REASONS:
                self._shared[self._slot(0, reason)] = 0

    def __getstate__(self) -> dict[str, Any]:
        # Starting a worker process passes the shared array itself; any other pickling (a deep copy,
        # Ray) gets a private copy of the counts.
        state = dict(self.__dict__)
        if multiprocessing.context.get_spawning_popen() is None:
            state["_shared"] = list(self._shared)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["_shared"], list):
            values, state["_shared"] = state["_shared"], _shared_counters()
            state["_shared"][:] = values
        self.__dict__.update(state)


def _shared_counters() -> Any:
    """Zeroed shared-memory integers: three per reason (epoch count, run count, logged flag). Their lock
    comes from the spawn context, which forked and spawned DataLoader workers can both inherit."""
    return multiprocessing.get_context("spawn").Array("q", 3 * len(SKIP_REASONS))
