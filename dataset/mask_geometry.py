"""COCO segmentations -> compressed RLE or a bitmap, and a seeded point deep inside a mask (for pointing data).

Masks are ``(H, W)`` bitmaps in image pixels. A point is the centre of a mask pixel, ``(x + 0.5,
y + 0.5)``, so ``int(x), int(y)`` (how pointing is scored) lands on that pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

__all__ = ["MaskError", "decode_mask", "interior_point", "segmentation_to_rle"]

COARSE_SIDE = 64  # masks larger than this (pixels, longest side) are searched in blocks


class MaskError(ValueError):
    """A segmentation cannot be turned into a mask; the message says why."""


def segmentation_to_rle(segmentation: Any, height: int, width: int) -> dict[str, Any]:
    """A COCO ``segmentation`` (polygons, uncompressed or compressed RLE) as compressed RLE with
    ``counts`` as a str and ``size`` ``[height, width]``."""
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if isinstance(p, list)]
        if not polygons or any(len(p) < 6 or len(p) % 2 for p in polygons):
            raise MaskError("polygon segmentation needs flat [x, y, ...] lists of >= 3 points")
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        if list(segmentation["size"]) != [height, width]:
            raise MaskError(f"RLE size {segmentation['size']} != image [height, width] {[height, width]}")
        counts = segmentation["counts"]
        if isinstance(counts, list):  # uncompressed RLE (COCO crowd objects)
            rle = mask_utils.frPyObjects(segmentation, height, width)
        elif isinstance(counts, str):
            rle = {"size": [height, width], "counts": counts.encode("ascii")}
        else:
            raise MaskError(f"RLE counts must be a list or a str, got {type(counts).__name__}")
    else:
        raise MaskError(f"segmentation must be polygons or an RLE dict, got {type(segmentation).__name__}")
    counts = rle["counts"]
    return {"size": [height, width], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def decode_mask(mask: Any, *, height: int, width: int) -> np.ndarray:
    """One mask of a ``width`` x ``height`` image (pixels) as a bool ``(height, width)`` bitmap.

    ``mask``: COCO RLE ``{"size": [height, width], "counts": ...}`` with compressed (str or bytes) or
    uncompressed (list) counts, or polygons ``[[x0, y0, x1, y1, ...], ...]`` (one flat list also works),
    rasterised by pycocotools as the rewards and metrics see them. The one mask decoder of the project
    (conversion, metrics and drawing). Raises ``MaskError`` naming the problem (size other than the
    image's, counts of another type, a polygon of fewer than 3 points).
    """
    if isinstance(mask, (list, tuple)) and mask and not isinstance(mask[0], (list, tuple)):
        mask = [mask]  # one flat polygon
    if isinstance(mask, (list, tuple)):
        mask = [list(polygon) if isinstance(polygon, tuple) else polygon for polygon in mask]
    if isinstance(mask, dict) and isinstance(mask.get("counts"), bytes):
        mask = {**mask, "counts": mask["counts"].decode("ascii")}
    rle = segmentation_to_rle(mask, height, width)
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)


def _depth(mask: np.ndarray) -> np.ndarray:
    """Per pixel, how many 4-neighbour erosions it survives (0 outside, 1 on the border)."""
    depth = np.zeros(mask.shape, dtype=np.int32)
    current = mask.astype(bool)
    level = 0
    while current.any():
        level += 1
        depth[current] = level
        padded = np.pad(current, 1)
        current = (current & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return depth


def _deep_pixels(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the pixels at least half as deep as the deepest (see :func:`_depth`)."""
    depth = _depth(mask)
    return np.nonzero(depth >= max(1, (int(depth.max()) + 1) // 2))


def interior_point(mask: np.ndarray, rng: np.random.Generator) -> tuple[float, float] | None:
    """A pixel-centre point ``(x, y)`` drawn by ``rng`` among the mask's deepest pixels (at least
    half the maximal erosion depth), so it lies well inside the shape rather than on its rim
    (a box centre can miss a ring or an L shape altogether). ``None`` for an empty mask.

    Masks over ``COARSE_SIDE`` pixels are first cut into square blocks; if some block lies wholly
    on the mask, the depth is measured in blocks and the point drawn inside a deep block, which
    keeps large objects fast and the point still on the mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    y0, x0 = int(ys.min()), int(xs.min())
    crop = mask[y0:int(ys.max()) + 1, x0:int(xs.max()) + 1].astype(bool)
    block = -(-max(crop.shape) // COARSE_SIDE)
    if block > 1:
        h, w = -(-crop.shape[0] // block) * block, -(-crop.shape[1] // block) * block
        padded = np.zeros((h, w), dtype=bool)
        padded[:crop.shape[0], :crop.shape[1]] = crop
        full = padded.reshape(h // block, block, w // block, block).all(axis=(1, 3))
        if full.any():
            rows, cols = _deep_pixels(full)
            pick = int(rng.integers(len(cols)))
            dy, dx = (int(v) for v in rng.integers(block, size=2))
            return float(x0 + cols[pick] * block + dx) + 0.5, float(y0 + rows[pick] * block + dy) + 0.5
    rows, cols = _deep_pixels(crop)
    pick = int(rng.integers(len(cols)))
    return float(cols[pick] + x0) + 0.5, float(rows[pick] + y0) + 0.5
