"""Maximum-weight one-to-one assignment (Hungarian algorithm, potentials form, numpy inner loop)."""

from __future__ import annotations

import numpy as np


def _min_cost_rows(cost: np.ndarray) -> np.ndarray:
    """Column chosen for every row of ``cost`` (rows <= columns), minimising the total.

    The O(n^2 m) shortest-augmenting-path algorithm with row/column potentials; the scan over
    columns is vectorised, so n rows cost n^2 numpy passes of length m.
    """
    n, m = cost.shape
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    row_of_col = np.zeros(m + 1, dtype=np.int64)  # 1-based row matched to column j; 0 = free
    way = np.zeros(m + 1, dtype=np.int64)
    for row in range(1, n + 1):
        row_of_col[0] = row
        col = 0
        min_slack = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[col] = True
            r = row_of_col[col]
            free = ~used
            free[0] = False
            slack = cost[r - 1] - u[r] - v[1:]
            better = free[1:] & (slack < min_slack[1:])
            min_slack[1:][better] = slack[better]
            way[1:][better] = col
            candidates = np.where(free, min_slack, np.inf)
            next_col = int(np.argmin(candidates))
            delta = candidates[next_col]
            u[row_of_col[used]] += delta
            v[used] -= delta
            min_slack[free] -= delta
            col = next_col
            if row_of_col[col] == 0:
                break
        while col:  # flip the augmenting path
            prev = way[col]
            row_of_col[col] = row_of_col[prev]
            col = prev
    assigned = np.empty(n, dtype=np.int64)
    cols = np.nonzero(row_of_col[1:])[0]
    assigned[row_of_col[1:][cols] - 1] = cols
    return assigned


def max_weight_matching(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(rows, cols)`` of a one-to-one assignment maximising ``weights[rows, cols].sum()``.

    ``weights`` is a non-negative ``(n, m)`` matrix (e.g. IoUs). Rows and columns whose weights
    are all zero cannot add anything, so they are left out before solving; every returned pair
    has positive weight.
    """
    weights = np.asarray(weights, dtype=np.float64)
    rows = np.nonzero(weights.max(axis=1, initial=0.0) > 0)[0]
    cols = np.nonzero(weights.max(axis=0, initial=0.0) > 0)[0]
    if len(rows) == 0 or len(cols) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    sub = weights[np.ix_(rows, cols)]
    if len(rows) <= len(cols):
        r, c = np.arange(len(rows)), _min_cost_rows(-sub)
    else:
        c, r = np.arange(len(cols)), _min_cost_rows(-sub.T)
    keep = sub[r, c] > 0
    return rows[r[keep]], cols[c[keep]]
