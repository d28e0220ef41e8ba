"""bench/bench_sft_eval_overhead.py: the evaluations' share of a finished run, from its log history."""

from __future__ import annotations

import pytest

from bench.bench_sft_eval_overhead import evaluation_share

# A 600-step run evaluated at 200, 400 and 600 (HF's log_history entries, abridged).
HISTORY = [
    {"step": 1, "loss": 5.0},
    {"step": 200, "eval_loss": 1.0, "eval_runtime": 4.0},
    {"step": 400, "eval_loss": 0.8, "eval_runtime": 3.0},
    {"step": 600, "eval_loss": 0.7, "eval_runtime": 5.0},
    {"step": 600, "train_runtime": 212.0, "train_loss": 1.2},
]


def test_share_sums_the_evaluations_and_compares_them_with_the_rest_of_the_run() -> None:
    share = evaluation_share(HISTORY)
    assert share["eval_s"] == 12.0 and share["train_runtime_s"] == 212.0
    assert share["eval_runtime_by_step"] == {200: 4.0, 400: 3.0, 600: 5.0}
    assert share["without_eval_s"] == 200.0
    assert share["growth"] == pytest.approx(12 / 200)


def test_a_run_without_evaluations_or_unfinished_is_refused() -> None:
    with pytest.raises(ValueError, match="eval_runtime"):
        evaluation_share([h for h in HISTORY if "eval_runtime" not in h])
    with pytest.raises(ValueError, match="train_runtime"):
        evaluation_share(HISTORY[:-1])
