"""GT mask formats: COCO RLE (compressed or not) and polygons, as run lengths (the bitmap decoder is
``dataset.mask_geometry.decode_mask``).

Accepted masks, in pixels of a ``W x H`` image: ``{"size": [H, W], "counts": str | bytes | list[int]}``
or polygons ``[[x0, y0, x1, y1, ...], ...]`` (one flat list also works). Point look-ups work on
the run lengths directly, so a mask is never expanded to ``H x W`` just to test a few pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from rewards.ground_truth import GroundTruthError


def _polygons(mask: list[Any]) -> list[list[float]]:
    polys = mask if mask and isinstance(mask[0], (list, tuple)) else [mask]
    for poly in polys:
        if len(poly) < 6 or len(poly) % 2 or not all(isinstance(v, (int, float)) for v in poly):
            raise GroundTruthError(f"a polygon mask needs an even number (>= 6) of coordinates, got {poly!r}")
    return [[float(v) for v in poly] for poly in polys]


def _coco_rle(mask: Any, width: int, height: int) -> dict[str, Any]:
    """The mask as a COCO RLE dict (counts bytes, or a list for uncompressed input)."""
    if isinstance(mask, Mapping):
        if "counts" not in mask or "size" not in mask:
            raise GroundTruthError(f"an RLE mask needs 'size' and 'counts', got keys {sorted(mask)}")
        if list(mask["size"]) != [height, width]:
            raise GroundTruthError(f"RLE mask size {list(mask['size'])} != image [H, W] {[height, width]}")
        counts = mask["counts"]
        if not isinstance(counts, (str, bytes, list)):
            raise GroundTruthError(f"RLE 'counts' must be a string or a list, got {type(counts).__name__}")
        return {"size": [height, width], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    if isinstance(mask, (list, tuple)):
        return mask_utils.merge(mask_utils.frPyObjects(_polygons(list(mask)), height, width))
    raise GroundTruthError(f"a mask must be an RLE dict or polygons, got {type(mask).__name__}")


def _uncompress(counts: bytes) -> np.ndarray:
    """Run lengths from COCO's compressed counts string (pycocotools ``rleFrString``, vectorised)."""
    c = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    if len(c) == 0:
        return np.zeros(0, dtype=np.int64)
    last = (c & 0x20) == 0  # each number is little-endian 5-bit chunks; bit 0x20 means "more follows"
    starts = np.flatnonzero(np.concatenate([[True], last[:-1]]))
    number = np.cumsum(np.concatenate([[0], last[:-1]]))
    shift = 5 * (np.arange(len(c)) - starts[number])
    values = np.add.reduceat((c & 0x1F) << shift, starts)
    negative = (c[last] & 0x10) != 0  # sign bit of the final chunk
    values[negative] -= np.int64(1) << (shift[last][negative] + 5)
    # From the fourth number on, each is stored as a difference to the number two places back.
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    return runs


def mask_runs(mask: Any, width: int, height: int) -> np.ndarray:
    """Run lengths (column-major, starting with a background run) of one GT mask."""
    rle = _coco_rle(mask, width, height)
    counts = rle["counts"]
    runs = np.asarray(counts, dtype=np.int64) if isinstance(counts, list) else _uncompress(counts)
    if (runs < 0).any() or runs.sum() != width * height:
        raise GroundTruthError(f"RLE mask counts do not cover the {width}x{height} image")
    return runs


def runs_contain(runs: np.ndarray, rows: np.ndarray, cols: np.ndarray, height: int) -> np.ndarray:
    """Whether pixels ``(rows[i], cols[i])`` are set, for a column-major RLE of an image ``height`` tall."""
    ends = np.cumsum(runs)
    run = np.searchsorted(ends, cols * height + rows, side="right")
    return run % 2 == 1
