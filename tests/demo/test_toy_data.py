"""Tests for demo/toy_data.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from dataset.annotations import parse_annotation
from dataset.tsv import TsvReader
from demo.toy_data import COLOURS, SHAPES, make_scene, make_toy_datasets


def _all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    kwargs = {"num_train": 6, "num_val": 2, "image_size": (48, 40), "seed": 7}
    make_toy_datasets(str(tmp_path / "a"), **kwargs)
    make_toy_datasets(str(tmp_path / "b"), **kwargs)
    a, b = _all_files(tmp_path / "a"), _all_files(tmp_path / "b")
    assert a.keys() == b.keys() and a == b
    make_toy_datasets(str(tmp_path / "c"), **{**kwargs, "seed": 8})
    c = _all_files(tmp_path / "c")
    assert c["toy_grounding_train.images.tsv"] != a["toy_grounding_train.images.tsv"]


def test_outputs_and_image_size(small_toy_data) -> None:
    for key, count in [("toy_grounding_train", 12), ("toy_pointing_train", 12), ("toy_grounding_val", 4),
                       ("toy_pointing_val", 4)]:
        reader = TsvReader(*small_toy_data[key])
        assert len(reader) == count
        assert reader.read(0)[0].size == (64, 64)
    lines = Path(small_toy_data["jsonl"]).read_text().splitlines()
    assert len(lines) == 12
    names = [json.loads(line)["image_name"] for line in lines]
    assert all(os.path.isfile(os.path.join(small_toy_data["jsonl_image_root"], n)) for n in names)
    assert {n.rsplit(".", 1)[1] for n in names} == {"jpg", "png"}


def test_grounding_and_pointing_are_consistent(small_toy_data) -> None:
    ground = TsvReader(*small_toy_data["toy_grounding_train"])
    point = TsvReader(*small_toy_data["toy_pointing_train"])
    vocab = {f"{c} {s}" for c in COLOURS for s in SHAPES}
    num_negatives = 0
    for i in range(len(point)):
        g_objs = parse_annotation(ground.read_annotation(i)[1])
        p_objs = parse_annotation(point.read_annotation(i)[1])
        assert [o.phrase for o in g_objs] == [o.phrase for o in p_objs]
        assert {o.phrase for o in p_objs} <= vocab
        for g, p in zip(g_objs, p_objs):
            assert g.box == p.box
            if p.is_negative:
                num_negatives += 1
                assert p.phrase not in {o.phrase for o in p_objs if not o.is_negative}
                continue
            _check_geometry(p.box, p.point, p.mask)
    assert num_negatives > 0


def _check_geometry(box, point, rle) -> None:
    """Point inside the mask; mask inside the box; box tight around the mask."""
    mask = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)
    assert mask[int(point[1]), int(point[0])]
    ys, xs = np.nonzero(mask)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(int(v) for v in box)


def test_scenes_have_one_to_five_objects() -> None:
    rng = np.random.default_rng(0)
    counts = []
    for _ in range(30):
        image, objects, negatives = make_scene(rng, 96, 80)
        assert image.size == (96, 80) and image.mode == "RGB"
        counts.append(len(objects))
        for obj in objects:
            x0, y0, x1, y1 = obj.box
            assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 80
    assert 1 <= min(counts) and max(counts) <= 5 and len(set(counts)) > 2


def test_skip_rebuild_and_force(tmp_path: Path) -> None:
    out = str(tmp_path / "toy")
    paths = make_toy_datasets(out, num_train=3, num_val=1, image_size=40)
    stamp = os.stat(paths["toy_grounding_train"].image_tsv).st_mtime_ns
    make_toy_datasets(out, num_train=3, num_val=1, image_size=40)
    assert os.stat(paths["toy_grounding_train"].image_tsv).st_mtime_ns == stamp
    make_toy_datasets(out, num_train=3, num_val=1, image_size=40, force=True)
    assert os.stat(paths["toy_grounding_train"].image_tsv).st_mtime_ns != stamp
    make_toy_datasets(out, num_train=4, num_val=1, image_size=40)  # different args -> rebuild
    assert len(TsvReader(*paths["toy_grounding_train"])) == 4
    with pytest.raises(ValueError, match="image_size"):
        make_toy_datasets(out, image_size=8)


def test_positional_background_encodes_position_and_random_does_not() -> None:
    """``positional``: red rises with x and blue with y in every image; ``random`` varies per image."""
    for seed in range(5):
        image, _, _ = make_scene(np.random.default_rng(seed), 128, 96, background="positional")
        pixels = np.asarray(image, dtype=np.float32)
        # Medians across rows/columns ignore the shapes (each spans under half of either side).
        red_by_column = np.median(pixels[..., 0], axis=0)
        blue_by_row = np.median(pixels[..., 2], axis=1)
        assert red_by_column[-8:].mean() - red_by_column[:8].mean() > 80
        assert blue_by_row[-8:].mean() - blue_by_row[:8].mean() > 80
        assert abs(np.median(pixels[..., 1]) - 120) < 10
    top_left = [np.asarray(make_scene(np.random.default_rng(s), 64, 64)[0])[:2, :2].mean((0, 1)) for s in range(8)]
    assert np.stack(top_left).std(axis=0).max() > 10
    with pytest.raises(ValueError, match="background"):
        make_scene(np.random.default_rng(0), 64, 64, background="plaid")
    with pytest.raises(ValueError, match="background"):
        make_toy_datasets("unused", background="plaid")


def test_coded_scene_keeps_the_position_code_inside_the_shapes() -> None:
    """``coded``: red is the column and blue the row in every pixel; shapes only raise green, named by shape."""
    from demo.toy_data import CODED_SHAPE_GREEN, SHAPES

    for seed in range(4):
        image, objects, negatives = make_scene(np.random.default_rng(seed), 128, 96, max_objects=3,
                                               negative_rate=1.0, background="coded")
        pixels = np.asarray(image, dtype=np.float32)
        inside = np.zeros(pixels.shape[:2], dtype=bool)
        for obj in objects:
            assert obj.phrase in SHAPES
            inside |= mask_utils.decode(
                {"size": obj.rle["size"], "counts": obj.rle["counts"].encode("ascii")}).astype(bool)
        ys, xs = np.nonzero(np.ones(pixels.shape[:2], dtype=bool))
        expected_red = 20 + 215 * xs / 127
        expected_blue = 20 + 215 * ys / 95
        red, green, blue = (pixels[..., c].reshape(-1) for c in range(3))
        for where in (inside.reshape(-1), ~inside.reshape(-1)):  # shapes and canvas alike (JPEG-free here)
            assert np.abs(red[where] - expected_red[where]).mean() < 4
            assert np.abs(blue[where] - expected_blue[where]).mean() < 4
        assert abs(green[inside.reshape(-1)].mean() - CODED_SHAPE_GREEN) < 15
        assert abs(green[~inside.reshape(-1)].mean() - 30) < 3
        assert negatives and negatives[0] in SHAPES and negatives[0] not in {o.phrase for o in objects}


def test_object_alpha_blends_the_background_into_the_shapes() -> None:
    def scene(alpha: float):
        image, objects, _ = make_scene(np.random.default_rng(3), 96, 96, max_objects=1, background="positional",
                                       object_alpha=alpha)
        return np.asarray(image, dtype=np.float32), objects[0]

    opaque, obj = scene(1.0)
    half, obj_half = scene(0.5)
    assert obj_half == obj  # same shapes, boxes, points and masks
    mask = mask_utils.decode({"size": obj.rle["size"], "counts": obj.rle["counts"].encode("ascii")}).astype(bool)
    assert np.array_equal(opaque[~mask], half[~mask])
    # half = (opaque + background) / 2, so the background behind the shape follows the colour map.
    behind = 2 * half[mask] - opaque[mask]
    xs = np.nonzero(mask)[1]
    expected_red = 70 + 110 * xs / 95
    assert np.abs(behind[:, 0] - expected_red).mean() < 6
    with pytest.raises(ValueError, match="object_alpha"):
        make_scene(np.random.default_rng(0), 64, 64, object_alpha=0.0)
    with pytest.raises(ValueError, match="object_alpha"):
        make_toy_datasets("unused", object_alpha=1.5)  # refused before anything is written
    assert not os.path.exists("unused")
