"""COCO / LVIS / RefCOCO / ODVG -> TSV triple: contents, round trip through TsvReader, failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from dataset.annotations import parse_annotation
from dataset.coco_formats import CategoryFilter
from dataset.convert import ConversionError
from dataset.real_data import SourceOptions, convert_records, iter_source_records
from dataset.tsv import TsvPaths, TsvReader


def convert(sources: dict[str, Any], out: Path, fmt: str, ann: str, **kw: Any) -> tuple[Any, list[tuple[Any, dict]]]:
    """Convert one fixture file; returns the stats and every (image, annotation) of the triple."""
    opts = {k: kw.pop(k) for k in ("refs_file", "refcoco_split", "label_map_file", "categories") if k in kw}
    options = SourceOptions(format=fmt, ann_file=str(sources["root"] / ann), **opts)
    stats = convert_records(iter_source_records(options, kw.pop("num_workers", 1)), str(sources["images"]),
                            tsv_prefix=str(out / fmt), progress=False, **kw)
    reader = TsvReader(*TsvPaths.from_prefix(out / fmt))
    return stats, [reader.read(i) for i in range(len(reader))]


def decode(rle: dict[str, Any]) -> np.ndarray:
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})


def test_coco_boxes_masks_points_crowd_and_empty(real_sources: dict[str, Any], tmp_path: Path) -> None:
    stats, samples = convert(real_sources, tmp_path, "coco", "coco.json")
    expected = real_sources["expected"]
    assert (stats.num_written, stats.num_empty, stats.bad) == (len(expected), 1, [])  # empty.png left out
    for (image, ann), objects in zip(samples, expected.values()):
        assert image.size == (64, 64)
        entries = ann["boxes"]
        assert [e["phrase"] for e in entries] == [o.phrase for o in objects]
        for entry, obj in zip(entries, objects):
            assert entry["bbox"] == [float(v) for v in obj.box]  # xywh in the file -> xyxy
            mask = decode(entry["mask"])
            x0, y0, x1, y1 = obj.box
            if obj.phrase.endswith(("square", "rectangle")):  # given as a polygon
                assert mask[y0:y1, x0:x1].mean() > 0.8 and mask.sum() <= (x1 - x0 + 1) * (y1 - y0 + 1)
            else:
                assert entry["mask"] == obj.rle
            x, y = entry["point"]
            assert mask[int(y), int(x)] == 1
        assert len(parse_annotation(ann)) == len(objects)  # the training parser reads every entry
    crowd_ann = samples[0][1]
    assert crowd_ann["crowd"] == [{"bbox": [0.0, 0.0, 16.0, 16.0], "phrase": expected[1][0].phrase}]
    assert all("crowd" not in ann for _, ann in samples[1:])


def test_point_is_inside_the_ring_not_its_box_centre(real_sources: dict[str, Any], tmp_path: Path) -> None:
    # A hand-made ring: its box centre is in the hole; the point must lie on the ring itself.
    from dataset.mask_geometry import interior_point

    yy, xx = np.mgrid[0:40, 0:40]
    r = np.hypot(xx - 19.5, yy - 19.5)
    ring = ((r >= 10) & (r <= 18)).astype(np.uint8)
    for seed in range(5):
        x, y = interior_point(ring, np.random.default_rng(seed))
        assert ring[int(y), int(x)] == 1
        assert 12 <= np.hypot(x - 20, y - 20) <= 16.5  # in the ring's middle band, away from its rims
    assert interior_point(ring, np.random.default_rng(3)) == interior_point(ring, np.random.default_rng(3))
    # A large ring (searched in blocks): still on the ring, in its middle band (radii 150..220).
    yy, xx = np.mgrid[0:480, 0:640]
    r = np.hypot(xx - 320, yy - 240)
    big = ((r >= 150) & (r <= 220)).astype(np.uint8)
    for seed in range(5):
        x, y = interior_point(big, np.random.default_rng(seed))
        assert big[int(y), int(x)] == 1 and 160 <= np.hypot(x - 320, y - 240) <= 210
    assert interior_point(np.zeros((4, 4), np.uint8), np.random.default_rng(0)) is None


def test_lvis_negatives_not_exhaustive_and_names(real_sources: dict[str, Any], tmp_path: Path) -> None:
    stats, samples = convert(real_sources, tmp_path, "lvis", "lvis.json")
    assert (stats.num_written, stats.num_empty) == (len(real_sources["expected"]) + 1, 0)  # empty.png: a negative
    image_ann = samples[0][1]
    assert image_ann["boxes"][-1] == {"bbox": None, "phrase": "pink elephant"}
    names = real_sources["names"]  # sorted; the fixture marks each image's lowest category id
    assert image_ann["not_exhaustive"] == [names[min(names.index(o.phrase) for o in real_sources["expected"][1])]]
    assert all(" " in e["phrase"] for e in image_ann["boxes"])  # underscores read as spaces
    empty = samples[-1][1]
    assert empty["boxes"] == [{"bbox": None, "phrase": "pink elephant"}]
    assert parse_annotation(empty)[0].is_negative


def test_refcoco_one_sample_per_sentence_and_split(real_sources: dict[str, Any], tmp_path: Path) -> None:
    stats, samples = convert(real_sources, tmp_path, "refcoco", "coco.json",
                             refs_file=str(real_sources["root"] / "refs.json"), refcoco_split="val")
    odd = [i for i in real_sources["expected"] if i % 2 == 1]
    assert stats.num_written == 2 * len(odd)
    first = real_sources["expected"][odd[0]][0]
    assert [s[1]["boxes"][0]["phrase"] for s in samples[:2]] == [f"the {first.phrase}",
                                                                 f"a {first.phrase} in the picture"]
    assert samples[0][1]["boxes"][0]["bbox"] == [float(v) for v in first.box]
    assert "point" in samples[0][1]["boxes"][0] and len(samples[0][1]["boxes"]) == 1


@pytest.mark.parametrize("ann", ["odvg_det.jsonl", "odvg_ground.jsonl"])
def test_odvg_detection_and_grounding(real_sources: dict[str, Any], tmp_path: Path, ann: str) -> None:
    stats, samples = convert(real_sources, tmp_path, "odvg", ann,
                             label_map_file=str(real_sources["root"] / "label_map.json"))
    assert stats.num_written == len(real_sources["expected"]) and stats.bad == []
    for (_, got), objects in zip(samples, real_sources["expected"].values()):
        assert got["boxes"] == [{"bbox": [float(v) for v in o.box], "phrase": o.phrase} for o in objects]


def test_category_filter_and_sample_limit(real_sources: dict[str, Any], tmp_path: Path) -> None:
    keep = real_sources["names"][0]
    stats, samples = convert(real_sources, tmp_path, "coco", "coco.json", categories=CategoryFilter((keep.upper(),)))
    with_keep = [i for i, objs in real_sources["expected"].items() if any(o.phrase == keep for o in objs)]
    assert stats.num_written == len(with_keep)
    assert {e["phrase"] for _, a in samples for e in a["boxes"]} == {keep}
    stats, samples = convert(real_sources, tmp_path / "b", "coco", "coco.json", max_samples=2,
                             categories=CategoryFilter((), (keep,)))
    assert stats.num_written == 2 and all(e["phrase"] != keep for _, a in samples for e in a["boxes"])


def test_workers_give_identical_files(real_sources: dict[str, Any], tmp_path: Path) -> None:
    convert(real_sources, tmp_path / "one", "coco", "coco.json")
    convert(real_sources, tmp_path / "two", "coco", "coco.json", num_workers=2)
    for a, b in zip(TsvPaths.from_prefix(tmp_path / "one" / "coco"), TsvPaths.from_prefix(tmp_path / "two" / "coco")):
        assert Path(a).read_bytes() == Path(b).read_bytes()


def _broken_coco(sources: dict[str, Any], folder: Path) -> Path:
    coco = json.loads(json.dumps(sources["coco"]))
    coco["annotations"][0]["bbox"] = [5, 5, 0, 4]  # zero width
    coco["annotations"][-2]["category_id"] = 404
    coco["images"][2]["file_name"] = "missing.png"
    path = folder / "broken.json"
    path.write_text(json.dumps(coco))
    return path


def test_bad_records_are_reported_with_ids_and_counted(real_sources: dict[str, Any], tmp_path: Path) -> None:
    path = _broken_coco(real_sources, tmp_path)
    bad_ann_image = real_sources["coco"]["annotations"][-2]["image_id"]
    options = SourceOptions(format="coco", ann_file=str(path))
    stats = convert_records(iter_source_records(options), str(real_sources["images"]), tsv_prefix=str(tmp_path / "x"),
                            jsonl_out=str(tmp_path / "x.jsonl"), progress=False)
    reasons = dict(stats.bad)
    assert "annotation 1: bbox [5, 5, 0, 4] is empty" in reasons["image 1"]
    assert "unknown category_id 404" in reasons[f"image {bad_ann_image}"]
    assert "image not found" in reasons["image 3"]
    assert len(stats.bad) == 3 and stats.num_written == len(real_sources["expected"]) - 3
    assert len((tmp_path / "x.jsonl").read_text().splitlines()) == stats.num_written


def test_strict_writes_nothing(real_sources: dict[str, Any], tmp_path: Path) -> None:
    options = SourceOptions(format="coco", ann_file=str(_broken_coco(real_sources, tmp_path)))
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match=r"(?s)image 1: .*image 3: image not found"):
        convert_records(iter_source_records(options), str(real_sources["images"]), tsv_prefix=str(out / "x"),
                        jsonl_out=str(out / "x.jsonl"), strict=True, progress=False)
    assert not out.exists() or list(out.iterdir()) == []
