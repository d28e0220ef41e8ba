"""dataset.polygons: areas, validity and IoU against hand values and an independent grid count."""

from __future__ import annotations

import numpy as np
import pytest

from dataset.polygons import is_valid, pairwise_iou, polygon_area, polygon_iou, signed_area

SQUARE = [0, 0, 2, 0, 2, 2, 0, 2]
SHIFTED = [1, 1, 3, 1, 3, 3, 1, 3]
BOWTIE = [0, 0, 2, 2, 2, 0, 0, 2]  # self-intersecting


def grid_iou(a: list[float], b: list[float], n: int = 1200, side: float = 10.0) -> float:
    """IoU by counting cell centres inside each polygon (even-odd rule), an independent estimate."""
    g = (np.arange(n) + 0.5) / n * side
    xs, ys = np.meshgrid(g, g)

    def inside(flat: list[float]) -> np.ndarray:
        v = np.asarray(flat, dtype=float).reshape(-1, 2)
        out = np.zeros(xs.shape, bool)
        for (x0, y0), (x1, y1) in zip(v, np.roll(v, -1, axis=0)):
            if y0 != y1:
                out ^= ((y0 > ys) != (y1 > ys)) & (xs < x0 + (ys - y0) * (x1 - x0) / (y1 - y0))
        return out

    ia, ib = inside(a), inside(b)
    return float((ia & ib).sum() / (ia | ib).sum())


def test_area_and_orientation() -> None:
    assert polygon_area(SQUARE) == 4.0
    assert signed_area(SQUARE) == 4.0  # TL, TR, BR, BL on screen: positive
    assert signed_area(SQUARE[::-1]) < 0 or signed_area([0, 0, 0, 2, 2, 2, 2, 0]) == -4.0


@pytest.mark.parametrize("polygon, valid", [
    (SQUARE, True), (BOWTIE, False), ([0, 0, 1, 1], False), ([0, 0, 1, 1, 2, 2], False),
    ([0, 0, 2, 0, 2, 0, 0, 2], False), ([0, 0, 4, 0, 4, 4, 2, 1, 0, 4], True),
])
def test_validity(polygon: list[float], valid: bool) -> None:
    assert is_valid(polygon) is valid


def test_hand_computed_ious() -> None:
    assert polygon_iou(SQUARE, SHIFTED) == pytest.approx(1 / 7)  # overlap 1, union 4 + 4 - 1
    assert polygon_iou(SQUARE, SQUARE) == pytest.approx(1.0)
    assert polygon_iou(SQUARE, [0, 0, 0, 2, 2, 2, 2, 0]) == pytest.approx(1.0)  # other orientation
    assert polygon_iou([0, 0, 4, 0, 4, 4, 0, 4], [0, 0, 4, 0, 4, 2, 0, 2]) == pytest.approx(0.5)  # shared edges
    assert polygon_iou([0, 0, 4, 0, 4, 4, 0, 4], [4, 0, 8, 0, 8, 4, 4, 4]) == 0.0  # touching only
    assert polygon_iou(SQUARE, BOWTIE) == 0.0
    assert polygon_iou(SQUARE, [0, 0, 1]) == 0.0


def star(rng: np.random.Generator, k: int) -> list[float]:
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radii, centre = rng.uniform(1, 3, k), rng.uniform(3, 7, 2)
    return np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1).reshape(-1).tolist()


def test_non_convex_polygons_match_a_grid_count_and_the_vectorised_form() -> None:
    rng = np.random.default_rng(0)
    polygons = [star(rng, k) for k in (3, 4, 5, 6, 8, 4)]
    matrix = pairwise_iou(polygons, polygons + [BOWTIE])
    assert (matrix[:, -1] == 0).all()
    for i, a in enumerate(polygons):
        for j, b in enumerate(polygons):
            exact = polygon_iou(a, b)
            assert matrix[i, j] == pytest.approx(exact, abs=1e-9)
            assert exact == pytest.approx(grid_iou(a, b), abs=0.01)


def test_pairwise_handles_empty_inputs() -> None:
    assert pairwise_iou([], [SQUARE]).shape == (0, 1)
    assert pairwise_iou([BOWTIE], [SQUARE]).tolist() == [[0.0]]
