"""dataset/skip_stats.py: one warning per reason per run, one summary per epoch, totals at the end,
counted across processes."""

from __future__ import annotations

import logging
import multiprocessing

import pytest

from dataset.skip_stats import SkipSample, SkipStats


def _skip(reason: str = "bad_annotation") -> SkipSample:
    return SkipSample(reason, "'bbox' must be a list of 4 numbers")


def test_a_reason_is_explained_once_per_run_and_counted_per_epoch(caplog: pytest.LogCaptureFixture) -> None:
    stats = SkipStats("toy", log_every=0)
    with caplog.at_level(logging.WARNING, logger="dataset.skip_stats"):
        for epoch in range(3):
            stats.record(_skip(), 7)
            stats.record(_skip("too_small"), 9)
            stats.record(_skip(), 11)
            stats.end_epoch(epoch)
        stats.log_run_summary()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("skipping sample" in m for m in lines) == 2  # the first bad_annotation and the first too_small
    assert lines[2:] == [f"toy: epoch {e}: 3 samples skipped: {{'bad_annotation': 2, 'too_small': 1}}" for e in range(3)] \
        + ["toy: 9 samples skipped in this run: {'bad_annotation': 6, 'too_small': 3}"]


def test_an_epoch_without_skips_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    stats = SkipStats("toy")
    with caplog.at_level(logging.WARNING, logger="dataset.skip_stats"):
        stats.end_epoch(0)
        stats.log_run_summary()
    assert caplog.records == []


def _record_in_child(stats: SkipStats) -> None:
    stats.record(_skip(), 1)
    stats.record(_skip(), 2)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_counts_from_a_worker_process_reach_the_parent(method: str, caplog: pytest.LogCaptureFixture) -> None:
    stats = SkipStats("toy", log_every=0)
    child = multiprocessing.get_context(method).Process(target=_record_in_child, args=(stats,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert stats.summary() == {"bad_annotation": 2} and stats.run_summary() == {"bad_annotation": 2}
    with caplog.at_level(logging.WARNING, logger="dataset.skip_stats"):
        stats.record(_skip(), 3)  # the child already explained this reason
    assert not any("skipping sample" in r.getMessage() for r in caplog.records)


def test_a_copy_outside_a_worker_start_counts_on_its_own() -> None:
    import copy

    stats = SkipStats("toy", log_every=0)
    stats.record(_skip(), 1)
    twin = copy.deepcopy(stats)
    twin.record(_skip(), 2)
    assert stats.summary() == {"bad_annotation": 1} and twin.summary() == {"bad_annotation": 2}
