"""dataset/mask_geometry.py: the one mask decoder (RLE compressed or not, polygons) and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from dataset.mask_geometry import MaskError, decode_mask

# A 6 (rows) x 5 (columns) image with pixels of rows 1..3 and columns 2..4 set.
MASK = np.zeros((6, 5), dtype=bool)
MASK[1:4, 2:5] = True


def test_decode_compressed_and_uncompressed_rle() -> None:
    rle = mask_utils.encode(np.asfortranarray(MASK.astype(np.uint8)))
    compressed = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    assert np.array_equal(decode_mask(compressed, height=6, width=5), MASK)
    assert np.array_equal(decode_mask({"size": [6, 5], "counts": rle["counts"]}, height=6, width=5), MASK)
    # column-major runs by hand: 6 + 1 background pixels, then 3 set, 3 clear, 3 set, 3 clear, 3 set, 2 clear
    uncompressed = {"size": [6, 5], "counts": [13, 3, 3, 3, 3, 3, 2]}
    assert np.array_equal(decode_mask(uncompressed, height=6, width=5), MASK)


def test_decode_polygons_by_pixel_area() -> None:
    """COCO's rasterisation: vertices lie on pixel corners, so (2, 1)-(4, 3) covers the pixels of
    columns 2..3 and rows 1..2."""
    expected = np.zeros((6, 5), dtype=bool)
    expected[1:3, 2:4] = True
    assert np.array_equal(decode_mask([[2, 1, 4, 1, 4, 3, 2, 3]], height=6, width=5), expected)
    assert np.array_equal(decode_mask([2, 1, 4, 1, 4, 3, 2, 3], height=6, width=5), expected)  # one flat list


@pytest.mark.parametrize("mask, fragment", [
    ({"size": [6, 5], "counts": [13, 3, 3, 3, 3, 3, 2]}, "!= image"),  # decoded against a 7-row image
    ({"size": [7, 5], "counts": 12}, "counts must be"),
    ([[1, 2, 3, 4]], "polygon"),
])
def test_decode_errors_name_the_problem(mask: object, fragment: str) -> None:
    with pytest.raises(MaskError, match=fragment):
        decode_mask(mask, height=7, width=5)
