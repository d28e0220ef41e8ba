"""Tests for dataset/visualize.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset.annotations import ObjectAnnotation
from dataset.tsv import TsvPaths, TsvReader, TsvWriter, encode_image
from dataset.visualize import draw_comparison, draw_objects, phrase_colours, select_indices, visualize_tsv


@pytest.mark.parametrize("task", ["grounding", "pointing"])
def test_visualize_toy_files(small_toy_data, tmp_path: Path, task: str) -> None:
    paths = small_toy_data[f"toy_{task}_train"]
    stats = visualize_tsv(*paths, str(tmp_path), indices=[0, 3, 5])
    assert stats.skipped == [] and [Path(p).name for p in stats.written] == ["000000.png", "000003.png", "000005.png"]
    raw, _ = TsvReader(*paths).read(3)
    drawn = Image.open(tmp_path / "000003.png")
    assert drawn.height > raw.height  # legend strip below the image
    top = np.asarray(drawn.convert("RGB"))[: raw.height, : raw.width]
    assert not np.array_equal(top, np.asarray(raw))
    assert not list(tmp_path.glob("*.tmp"))


def test_random_selection_is_seeded(small_toy_data, tmp_path: Path) -> None:
    assert select_indices(12, 4, None, seed=1) == select_indices(12, 4, None, seed=1)
    assert len(set(select_indices(12, 50, None, seed=1))) == 12
    stats = visualize_tsv(*small_toy_data["toy_pointing_val"], str(tmp_path), num_samples=2, seed=5)
    assert len(stats.written) == 2


def test_bad_samples_are_counted(tmp_path: Path) -> None:
    paths = TsvPaths(*(str(tmp_path / n) for n in ("i.tsv", "a.tsv", "a.lineidx")))
    jpeg = encode_image(Image.new("RGB", (20, 20), "gray"))
    with TsvWriter(*paths) as writer:
        writer.add(jpeg, {"boxes": [{"bbox": [1, 2, 3], "phrase": "bad box"}]})
        writer.add(jpeg, {"points": [{"point": [5, 5], "phrase": "ok"}]})
        writer.add(jpeg, {"points": [{"point": [5, 5], "phrase": "m", "mask": {"size": [3, 3], "counts": "09"}}]})
    stats = visualize_tsv(*paths, str(tmp_path / "vis"), indices=[0, 1, 2, 7])
    assert [i for i, _ in stats.skipped] == [0, 2, 7]
    assert [Path(p).name for p in stats.written] == ["000001.png"]


def test_draw_objects_colours_and_negatives() -> None:
    assert phrase_colours(["a", "b", "a"]) == {"a": phrase_colours(["a"])["a"], "b": phrase_colours(["x", "b"])["b"]}
    image = Image.new("RGB", (60, 40), (128, 128, 128))
    objs = [ObjectAnnotation("cat", box=(5, 5, 30, 30)), ObjectAnnotation("dot", point=(45.0, 20.0)),
            ObjectAnnotation("ghost")]
    out = draw_objects(image, objs)
    assert out.width >= 60 and out.height > 40
    only_negative = draw_objects(image, [ObjectAnnotation("ghost")])
    assert np.array_equal(np.asarray(only_negative)[:40, :60], np.asarray(image))


def test_draw_comparison_panels_share_phrase_colours() -> None:
    image = Image.new("RGB", (60, 40), (128, 128, 128))
    truth = [ObjectAnnotation("cat", box=(5, 5, 30, 30))]
    predicted = [ObjectAnnotation("dog", point=(45.0, 20.0)), ObjectAnnotation("cat", box=(6, 6, 31, 31))]
    out = draw_comparison(image, truth, predicted, titles=("GT", "pred"))
    left, right = draw_objects(image, truth), draw_objects(image, predicted)
    assert out.width == left.width + right.width
    # the cat box is drawn in the same colour on both sides: the first phrase's palette entry
    cat = phrase_colours(["cat"])["cat"]
    assert out.getpixel((5, 14 + 15)) == cat and out.getpixel((left.width + 6, 14 + 15)) == cat
    small = draw_comparison(Image.new("RGB", (600, 400)), truth, predicted, max_side=300)
    assert small.width == round(draw_comparison(Image.new("RGB", (600, 400)), truth, predicted).width / 2)
