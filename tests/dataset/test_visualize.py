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


GREEN = (44, 160, 44)


def _far(pixels: np.ndarray, colour: tuple[int, int, int], at_least: int = 200) -> np.ndarray:
    """Which pixels differ from ``colour`` by at least ``at_least`` (sum of the three channel differences)."""
    return np.abs(pixels.astype(int) - np.array(colour)).sum(axis=-1) >= at_least


def test_a_green_label_and_box_stay_visible_on_a_green_object() -> None:
    # The whole image is the box's own colour: only a contrasting edge can show where label and box are.
    image = Image.new("RGB", (120, 100), GREEN)
    out = np.asarray(draw_objects(image, [ObjectAnnotation("tree", box=(20, 40, 100, 90))], {"tree": GREEN}))[:100]
    label_left_edge = out[30:39, 20]  # the label sits on the box's top-left corner, above the box
    assert _far(label_left_edge, GREEN).all()
    assert _far(out[30:39, 20:100], GREEN).sum() >= 20  # the edge and the text
    box_rows = out[41:89, 17:24]  # across the box's left side: an edge pixel beside the green line
    assert _far(box_rows, GREEN).any(axis=1).all()


def test_polygon_and_its_text_are_drawn() -> None:
    image = Image.new("RGB", (100, 80), (255, 255, 255))
    red = (214, 39, 40)
    polygon = (10.0, 30.0, 90.0, 30.0, 90.0, 70.0, 10.0, 70.0)
    out = np.asarray(draw_objects(image, [ObjectAnnotation("EXIT", polygon=polygon)], {"EXIT": red}))[:80]
    bottom_edge = out[70, 30:70]
    assert (np.abs(bottom_edge.astype(int) - red).sum(axis=-1) < 30).all()
    assert _far(out[15:30, 10:40], (255, 255, 255), 150).sum() > 20  # the label with the text above the polygon


def test_keypoint_skeleton_joins_labelled_joints_only() -> None:
    image = Image.new("RGB", (100, 100), (255, 255, 255))
    blue = (31, 119, 180)
    person = ObjectAnnotation("person", box=(5.0, 5.0, 95.0, 95.0), keypoint_type="person", keypoints={
        "left shoulder": (20.0, 50.0, 2), "left elbow": (80.0, 50.0, 1),  # a COCO skeleton edge
        "left wrist": (80.0, 90.0, 0),  # not labelled: no joint, no edge from the elbow
        "nose": (50.0, 25.0, 2)})  # labelled but not joined to either (no person edge nose-shoulder/elbow)
    out = np.asarray(draw_objects(image, [person], {"person": blue}))[:100]
    on_line = out[50, 30:70]
    assert (np.abs(on_line.astype(int) - blue).sum(axis=-1) < 30).all()
    assert (out[60:85, 80] == 255).all()  # the elbow-wrist edge is not drawn
    assert (out[30:45, 35] == 255).all() and (out[30:45, 65] == 255).all()  # nothing joins the nose
    assert (np.abs(out[25, 50].astype(int) - blue).sum() < 30)  # the nose joint itself is drawn


def test_joints_of_a_list_no_skeleton_knows_are_joined_to_the_first() -> None:
    image = Image.new("RGB", (100, 100), (255, 255, 255))
    figure = ObjectAnnotation("figure", keypoint_names=("head", "left hand"),
                              keypoints={"head": (50.0, 10.0, 2), "left hand": (50.0, 90.0, 2)})
    out = np.asarray(draw_objects(image, [figure], {"figure": GREEN}))[:100]
    assert (np.abs(out[30:70, 50].astype(int) - GREEN).sum(axis=-1) < 30).all()
