"""Polygon geometry for OCR polygons: area, validity and IoU, exact and pure numpy.

A polygon is a ``(k, 2)`` array of (x, y) vertices in pixels (or any common unit: IoU is an area
ratio, so it is the same in bins and in pixels), or the flat ``[x0, y0, x1, y1, ...]`` list the
annotations and answers use. Valid, as the official metric (shapely) has it: at least 3 vertices,
a non-zero area and no self-intersection (no two non-adjacent edges touch). Invalid polygons have
IoU 0 with everything.

The intersection area of two simple polygons is computed exactly with Green's theorem: the
boundary of ``A ∩ B`` is the part of ``A``'s edges inside ``B`` plus the part of ``B``'s edges inside
``A``, so each edge is split where it crosses the other polygon, and each piece whose midpoint lies
inside contributes ``(x1 y2 - x2 y1) / 2``. An edge piece lying on the other polygon's boundary
counts once, from ``A``, when the two edges run the same way (shared edges of equal polygons).
:func:`pairwise_iou` does this for every pair at once in numpy; :func:`polygon_iou` is the same rule
for one pair in plain Python (the reference the benchmark compares against).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["as_vertices", "is_valid", "paired_iou", "pairwise_iou", "polygon_area", "polygon_iou", "signed_area"]

# Relative tolerance for "on the other polygon's boundary", times the coordinate scale.
_EPS = 1e-9


def as_vertices(polygon: Sequence[float] | np.ndarray) -> np.ndarray:
    """``(k, 2)`` float64 vertices of a flat ``[x0, y0, ...]`` list or an ``(k, 2)`` array; an odd
    trailing number is dropped."""
    arr = np.asarray(polygon, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 2:
        return arr
    flat = arr.reshape(-1)
    return flat[: len(flat) // 2 * 2].reshape(-1, 2)


def signed_area(vertices: np.ndarray) -> float:
    """Shoelace area; positive when the vertices run counter-clockwise in x-right, y-up axes
    (clockwise on screen, where y points down)."""
    v = as_vertices(vertices)
    if len(v) < 3:
        return 0.0
    x, y = v[:, 0], v[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2.0


def polygon_area(vertices: np.ndarray) -> float:
    """Absolute shoelace area (of a simple polygon)."""
    return abs(signed_area(vertices))


def _cross(ax: float, ay: float, bx: float, by: float) -> float:
    return ax * by - ay * bx


def _segments_touch(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float],
                    s: tuple[float, float]) -> bool:
    """Whether closed segments ``pq`` and ``rs`` share a point."""
    d1 = _cross(q[0] - p[0], q[1] - p[1], r[0] - p[0], r[1] - p[1])
    d2 = _cross(q[0] - p[0], q[1] - p[1], s[0] - p[0], s[1] - p[1])
    d3 = _cross(s[0] - r[0], s[1] - r[1], p[0] - r[0], p[1] - r[1])
    d4 = _cross(s[0] - r[0], s[1] - r[1], q[0] - r[0], q[1] - r[1])
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True

    def on(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], d: float) -> bool:
        return d == 0 and min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    return on(p, q, r, d1) or on(p, q, s, d2) or on(r, s, p, d3) or on(r, s, q, d4)


def is_valid(polygon: Sequence[float] | np.ndarray) -> bool:
    """At least 3 vertices, finite, non-zero area, no repeated vertex and no two non-adjacent edges
    touching (the official metric's shapely ``is_valid``, for the polygons a model can write)."""
    v = as_vertices(polygon)
    n = len(v)
    if n < 3 or not np.isfinite(v).all() or polygon_area(v) == 0.0:
        return False
    pts = [tuple(p) for p in v.tolist()]
    if len(set(pts)) != n:
        return False
    edges = [(pts[i], pts[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:  # adjacent through the closing edge
                continue
            if _segments_touch(*edges[i], *edges[j]):
                return False
    return True


def _oriented(v: np.ndarray) -> np.ndarray:
    return v if signed_area(v) > 0 else v[::-1]


def _inside(x: float, y: float, poly: list[tuple[float, float]]) -> bool:
    """Even-odd point in polygon (the point is not on the boundary)."""
    inside = False
    n = len(poly)
    for i in range(n):
        (x0, y0), (x1, y1) = poly[i], poly[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _on_edge(x: float, y: float, s: tuple[float, float], e: tuple[float, float], eps: float) -> bool:
    dx, dy = e[0] - s[0], e[1] - s[1]
    length2 = dx * dx + dy * dy
    if length2 == 0:
        return False
    cross = _cross(dx, dy, x - s[0], y - s[1])
    dot = dx * (x - s[0]) + dy * (y - s[1])
    return cross * cross <= eps * eps * length2 and -eps <= dot <= length2 + eps


def _boundary_part(a: list[tuple[float, float]], b: list[tuple[float, float]], count_shared: bool,
                   eps: float) -> float:
    """Twice the Green's-theorem contribution of ``a``'s edge pieces inside ``b``."""
    total = 0.0
    n, m = len(a), len(b)
    for i in range(n):
        s, e = a[i], a[(i + 1) % n]
        dx, dy = e[0] - s[0], e[1] - s[1]
        ts = [0.0, 1.0]
        for j in range(m):
            r, q = b[j], b[(j + 1) % m]
            ex, ey = q[0] - r[0], q[1] - r[1]
            d = _cross(dx, dy, ex, ey)
            if d == 0:
                continue
            t = _cross(r[0] - s[0], r[1] - s[1], ex, ey) / d
            u = _cross(r[0] - s[0], r[1] - s[1], dx, dy) / d
            if 0 <= t <= 1 and 0 <= u <= 1:
                ts.append(t)
        ts.sort()
        for t0, t1 in zip(ts, ts[1:]):
            x0, y0, x1, y1 = s[0] + t0 * dx, s[1] + t0 * dy, s[0] + t1 * dx, s[1] + t1 * dy
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            shared = [j for j in range(m) if _on_edge(mx, my, b[j], b[(j + 1) % m], eps)]
            if shared:
                same_way = any(dx * (b[(j + 1) % m][0] - b[j][0]) + dy * (b[(j + 1) % m][1] - b[j][1]) > 0
                               for j in shared)
                counted = count_shared and same_way
            else:
                counted = _inside(mx, my, b)
            if counted:
                total += x0 * y1 - x1 * y0
    return total


def polygon_iou(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """IoU of two polygons in plain Python; 0 when either is invalid (see :func:`is_valid`)."""
    va, vb = as_vertices(a), as_vertices(b)
    if not (is_valid(va) and is_valid(vb)):
        return 0.0
    va, vb = _oriented(va), _oriented(vb)
    scale = max(float(np.abs(va).max()), float(np.abs(vb).max()), 1.0)
    pa, pb = [tuple(p) for p in va.tolist()], [tuple(p) for p in vb.tolist()]
    inter = (_boundary_part(pa, pb, True, _EPS * scale) + _boundary_part(pb, pa, False, _EPS * scale)) / 2
    inter = max(inter, 0.0)
    union = polygon_area(va) + polygon_area(vb) - inter
    return min(inter / union, 1.0) if union > 0 else 0.0


# ---------------------------------------------------------------- vectorised, all pairs at once


def _padded(polygons: Sequence[np.ndarray]) -> np.ndarray:
    """``(n, k, 2)`` oriented vertices, each padded to the longest by repeating its last vertex
    (zero-length edges, which add nothing)."""
    k = max(len(p) for p in polygons)
    out = np.empty((len(polygons), k, 2))
    for i, p in enumerate(polygons):
        out[i, :len(p)] = p
        out[i, len(p):] = p[-1]
    return out


def _part(a: np.ndarray, b: np.ndarray, count_shared: bool, eps: float) -> np.ndarray:
    """Twice the contribution of ``a``'s edge pieces inside ``b``, pair by pair: ``a`` ``(p, k, 2)`` and
    ``b`` ``(p, l, 2)`` -> ``(p,)``."""
    s = a[:, :, None, :]                              # (p, k, 1, 2) edge starts of a
    d = (np.roll(a, -1, axis=1) - a)[:, :, None, :]   # (p, k, 1, 2) edge vectors of a
    r = b[:, None, :, :]                              # (p, 1, l, 2) edge starts of b
    e = (np.roll(b, -1, axis=1) - b)[:, None, :, :]
    den = d[..., 0] * e[..., 1] - d[..., 1] * e[..., 0]          # (p, k, l)
    rs = r - s
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (rs[..., 0] * e[..., 1] - rs[..., 1] * e[..., 0]) / den
        u = (rs[..., 0] * d[..., 1] - rs[..., 1] * d[..., 0]) / den
    hit = (den != 0) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
    t = np.where(hit, t, 1.0)
    n, k, _ = t.shape
    ts = np.concatenate([np.zeros((n, k, 1)), np.sort(t, axis=-1), np.ones((n, k, 1))], axis=-1)
    p = s + ts[..., None] * d                                        # (p, k, l+2, 2)
    p0, p1 = p[..., :-1, :], p[..., 1:, :]
    mid = (p0 + p1) / 2                                              # (p, k, l+1, 2)
    contrib = p0[..., 0] * p1[..., 1] - p1[..., 0] * p0[..., 1]
    # Point in b (even-odd) and on b's boundary, for every midpoint against every edge of b.
    mx, my = mid[..., 0][..., None], mid[..., 1][..., None]          # (p, k, l+1, 1)
    bs = b[:, None, None, :, :]                                      # (p, 1, 1, l, 2)
    be = np.roll(b, -1, axis=1)[:, None, None, :, :]
    y0, y1, x0, x1 = bs[..., 1], be[..., 1], bs[..., 0], be[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        crosses = ((y0 > my) != (y1 > my)) & (mx < x0 + (my - y0) * (x1 - x0) / (y1 - y0))
    inside = (np.count_nonzero(crosses, axis=-1) % 2).astype(bool)
    ex, ey = x1 - x0, y1 - y0
    length2 = ex * ex + ey * ey
    cross = ex * (my - y0) - ey * (mx - x0)
    dot = ex * (mx - x0) + ey * (my - y0)
    on = (length2 > 0) & (cross * cross <= eps * eps * length2) & (dot >= -eps) & (dot <= length2 + eps)
    on_any = on.any(axis=-1)
    if count_shared:
        same_way = (d[..., None, 0] * ex + d[..., None, 1] * ey) > 0  # (p, k, 1, l)
        counted = np.where(on_any, (on & same_way).any(axis=-1), inside)
    else:
        counted = inside & ~on_any
    return np.where(counted, contrib, 0.0).sum(axis=(-1, -2))


def _prepared(polygons: Sequence[Sequence[float] | np.ndarray]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Oriented vertices (an empty array for an invalid polygon), validity and areas."""
    vertices = [as_vertices(p) for p in polygons]
    valid = np.array([is_valid(v) for v in vertices], dtype=bool)
    oriented = [_oriented(v) if ok else v for v, ok in zip(vertices, valid)]
    areas = np.array([polygon_area(v) if ok else 0.0 for v, ok in zip(vertices, valid)])
    return oriented, valid, areas


def paired_iou(a: Sequence[Sequence[float] | np.ndarray], b: Sequence[Sequence[float] | np.ndarray],
               rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """IoU of the pairs ``(a[rows[i]], b[cols[i]])``, ``(len(rows),)``; the rule of :func:`polygon_iou`."""
    va, ok_a, area_a = _prepared(a)
    vb, ok_b, area_b = _prepared(b)
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    out = np.zeros(len(rows))
    keep = ok_a[rows] & ok_b[cols] if len(rows) else np.zeros(0, dtype=bool)
    if not keep.any():
        return out
    ia, ib = rows[keep], cols[keep]
    ua, inv_a = np.unique(ia, return_inverse=True)
    ub, inv_b = np.unique(ib, return_inverse=True)
    pa, pb = _padded([va[i] for i in ua])[inv_a], _padded([vb[j] for j in ub])[inv_b]
    eps = _EPS * max(float(np.abs(pa).max()), float(np.abs(pb).max()), 1.0)
    inter = np.maximum((_part(pa, pb, True, eps) + _part(pb, pa, False, eps)) / 2, 0.0)
    union = area_a[ia] + area_b[ib] - inter
    out[keep] = np.minimum(np.divide(inter, union, out=np.zeros_like(inter), where=union > 0), 1.0)
    return out


def pairwise_iou(a: Sequence[Sequence[float] | np.ndarray], b: Sequence[Sequence[float] | np.ndarray]) -> np.ndarray:
    """``(len(a), len(b))`` IoU of every polygon of ``a`` with every polygon of ``b``; the rule of
    :func:`polygon_iou` (invalid polygons 0), computed for all pairs in a few numpy calls."""
    rows, cols = np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij")
    return paired_iou(a, b, rows.reshape(-1), cols.reshape(-1)).reshape(len(a), len(b))
