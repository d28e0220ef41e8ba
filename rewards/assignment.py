"""Maximum-weight one-to-one assignment (the Hungarian algorithm) for reward matching."""

from __future__ import annotations

import numpy as np


def _min_cost_rows(cost: list[list[float]], num_cols: int) -> list[int]:
    """Column chosen for every row of ``cost`` (rows <= columns), minimising the total.

    The O(n^2 m) shortest-augmenting-path algorithm with row/column potentials. Plain Python:
    per class the matrices are small (tens of boxes), where list loops beat numpy's call overhead.
    """
    inf = float("inf")
    u = [0.0] * (len(cost) + 1)
    v = [0.0] * (num_cols + 1)
    row_of_col = [0] * (num_cols + 1)  # 1-based row matched to column j; 0 = free
    way = [0] * (num_cols + 1)
    for row in range(1, len(cost) + 1):
        row_of_col[0], col = row, 0
        min_slack = [inf] * (num_cols + 1)
        used = [False] * (num_cols + 1)
        while row_of_col[col] != 0:
            used[col] = True
            r = row_of_col[col]
            costs, ur, delta, next_col = cost[r - 1], u[r], inf, 0
            for j in range(1, num_cols + 1):
                if not used[j]:
                    slack = costs[j - 1] - ur - v[j]
                    if slack < min_slack[j]:
                        min_slack[j], way[j] = slack, col
                    if min_slack[j] < delta:
                        delta, next_col = min_slack[j], j
            for j in range(num_cols + 1):
                if used[j]:
                    u[row_of_col[j]] += delta
                    v[j] -= delta
                else:
                    min_slack[j] -= delta
            col = next_col
        while col:  # flip the augmenting path
            prev = way[col]
            row_of_col[col] = row_of_col[prev]
            col = prev
    assigned = [0] * len(cost)
    for j in range(1, num_cols + 1):
        if row_of_col[j]:
            assigned[row_of_col[j] - 1] = j - 1
    return assigned


def _solve_rows(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal pairs for ``weights`` with rows <= columns (all rows assigned)."""
    n, m = weights.shape
    best = weights.argmax(axis=1)
    if len(np.unique(best)) == n:  # every row gets its own maximum: the upper bound is reached
        return np.arange(n), best
    if m > n:
        # Some optimum gives every row one of that row's n best columns (one of them is always
        # free), so the other columns can go: at most n^2 remain, usually far fewer.
        keep = np.unique(np.argpartition(-weights, n - 1, axis=1)[:, :n])
        if len(keep) < m:
            rows, cols = _solve_rows(weights[:, keep])
            return rows, keep[cols]
    greedy = _greedy_if_optimal(weights)
    if greedy is not None:
        return greedy
    cols = _min_cost_rows((-weights).tolist(), m)
    return np.arange(n), np.asarray(cols, dtype=np.int64)


def _greedy_if_optimal(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Greedy pairs (largest weight first) when they reach the bound sum of row maxima, else None."""
    order = np.argsort(-weights, axis=None, kind="stable")
    rows, cols = np.unravel_index(order, weights.shape)
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for r, c in zip(rows.tolist(), cols.tolist()):
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            pairs.append((r, c))
            if len(pairs) == min(weights.shape):
                break
    r_idx, c_idx = (np.asarray(x, dtype=np.int64) for x in zip(*pairs))
    bound = min(weights.max(axis=1).sum(), weights.max(axis=0).sum())
    return (r_idx, c_idx) if weights[r_idx, c_idx].sum() >= bound - 1e-12 else None


def max_weight_matching(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(rows, cols)`` of a one-to-one assignment maximising ``weights[rows, cols].sum()``.

    ``weights`` is a non-negative ``(n, m)`` matrix (e.g. IoUs). Rows and columns whose weights
    are all zero cannot add anything and are left out before solving; every returned pair has
    positive weight.
    """
    weights = np.asarray(weights, dtype=np.float64)
    rows = np.nonzero(weights.max(axis=1, initial=0.0) > 0)[0]
    cols = np.nonzero(weights.max(axis=0, initial=0.0) > 0)[0]
    if len(rows) == 0 or len(cols) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    sub = weights[np.ix_(rows, cols)]
    if len(rows) <= len(cols):
        r, c = _solve_rows(sub)
    else:
        c, r = _solve_rows(sub.T)
    keep = sub[r, c] > 0
    return rows[r[keep]], cols[c[keep]]
