"""Hungarian assignment against brute force."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rewards.assignment import max_weight_matching


def brute_force(w: np.ndarray) -> float:
    n, m = w.shape
    if n > m:
        w, n, m = w.T, m, n
    return max(sum(w[i, c] for i, c in enumerate(cols)) for cols in itertools.permutations(range(m), n))


weights = st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(
    lambda shape: arrays(np.float64, shape, elements=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]) | st.floats(0, 1))
)


@settings(max_examples=200, deadline=None)
@given(weights)
def test_optimal_and_one_to_one(w: np.ndarray) -> None:
    rows, cols = max_weight_matching(w)
    assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
    assert (w[rows, cols] > 0).all()
    assert abs(w[rows, cols].sum() - brute_force(w)) < 1e-9


def test_wide_matrix_pruning_keeps_the_optimum() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = rng.random((3, 15)) * (rng.random((3, 15)) < 0.3)
        rows, cols = max_weight_matching(w)
        assert abs(w[rows, cols].sum() - brute_force(w)) < 1e-9
