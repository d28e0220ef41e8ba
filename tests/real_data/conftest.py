"""Small COCO / LVIS / RefCOCO / ODVG files built from toy scenes (never downloaded).

``real_sources`` (built once per session) holds, under one folder:

* ``images/``: 6 toy scenes ``img{i}.png`` (64x64) and ``empty.png`` (no objects);
* ``coco.json``: every toy shape as an object; shape masks are RLE, except squares and rectangles
  whose mask is given as the equivalent polygon; image 1 adds a crowd object (uncompressed RLE);
  ``empty.png`` has no annotation;
* ``lvis.json``: the same objects, ``coco_url`` instead of ``file_name``, names with underscores,
  negative and not-exhaustive category ids per image;
* ``refs.json`` (RefCOCO refs for ``coco.json``): one ref per image, two sentences, split
  ``train`` for even image ids and ``val`` for odd ones;
* ``odvg_det.jsonl`` (labels resolved through ``label_map.json``) and ``odvg_ground.jsonl``.

``expected`` maps image id -> the toy objects drawn on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from demo.toy_data import ToyObject, make_scene

NUM_IMAGES = 6
SIZE = 64
CROWD_IMAGE = 1
CROWD_BOX = [0, 0, 16, 16]  # xywh


def _polygon_shape(obj: ToyObject) -> bool:
    return obj.phrase.endswith(("square", "rectangle"))


def _segmentation(obj: ToyObject) -> Any:
    if _polygon_shape(obj):  # these masks are exactly their boxes
        x0, y0, x1, y1 = obj.box
        return [[x0, y0, x1, y0, x1, y1, x0, y1]]
    return obj.rle


def _crowd_rle() -> dict[str, Any]:
    """Uncompressed (list) RLE of the CROWD_BOX square, column-major as COCO stores crowds."""
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    x, y, w, h = CROWD_BOX
    mask[y:y + h, x:x + w] = 1
    flat = mask.flatten(order="F")
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    counts.append(run)
    return {"size": [SIZE, SIZE], "counts": [int(c) for c in counts]}


def _scenes(folder: Path) -> dict[int, list[ToyObject]]:
    rng = np.random.default_rng(7)
    scenes = {}
    for image_id in range(1, NUM_IMAGES + 1):
        image, objects, _ = make_scene(rng, SIZE, SIZE, max_objects=3, negative_rate=0.0)
        image.save(folder / f"img{image_id}.png")
        scenes[image_id] = objects
    Image.new("RGB", (SIZE, SIZE), (90, 90, 90)).save(folder / "empty.png")
    return scenes


def _coco(scenes: dict[int, list[ToyObject]], names: list[str]) -> dict[str, Any]:
    images = [{"id": i, "file_name": f"img{i}.png", "width": SIZE, "height": SIZE} for i in scenes]
    images.append({"id": 99, "file_name": "empty.png", "width": SIZE, "height": SIZE})
    annotations = []
    for image_id, objects in scenes.items():
        for obj in objects:
            x0, y0, x1, y1 = obj.box
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "iscrowd": 0,
                                "category_id": names.index(obj.phrase) + 1, "bbox": [x0, y0, x1 - x0, y1 - y0],
                                "segmentation": _segmentation(obj), "area": float((x1 - x0) * (y1 - y0))})
    first = scenes[CROWD_IMAGE][0]
    annotations.append({"id": 1000, "image_id": CROWD_IMAGE, "iscrowd": 1, "bbox": CROWD_BOX,
                        "category_id": names.index(first.phrase) + 1, "segmentation": _crowd_rle(), "area": 256.0})
    categories = [{"id": k + 1, "name": n} for k, n in enumerate(names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def _lvis(coco: dict[str, Any], scenes: dict[int, list[ToyObject]]) -> dict[str, Any]:
    lvis = json.loads(json.dumps(coco))
    for cat in lvis["categories"]:
        cat["name"] = cat["name"].replace(" ", "_")
    absent_id = len(lvis["categories"]) + 1
    lvis["categories"].append({"id": absent_id, "name": "pink_elephant"})
    for img in lvis["images"]:
        img["coco_url"] = f"http://images.cocodataset.org/val2017/{img.pop('file_name')}"
        img["neg_category_ids"] = [absent_id]
        present = sorted({a["category_id"] for a in coco["annotations"] if a["image_id"] == img["id"]})
        img["not_exhaustive_category_ids"] = present[:1]
    lvis["annotations"] = [a for a in lvis["annotations"] if not a["iscrowd"]]  # LVIS has no crowds
    return lvis


def _refs(coco: dict[str, Any]) -> list[dict[str, Any]]:
    refs = []
    for ann in coco["annotations"]:
        if ann["iscrowd"] or any(r["image_id"] == ann["image_id"] for r in refs):
            continue
        name = coco["categories"][ann["category_id"] - 1]["name"]
        refs.append({"ref_id": len(refs) + 1, "ann_id": ann["id"], "image_id": ann["image_id"],
                     "category_id": ann["category_id"], "split": "train" if ann["image_id"] % 2 == 0 else "val",
                     "sentences": [{"sent": f"the {name}"}, {"sent": f"a {name} in the picture"}]})
    return refs


def _odvg(folder: Path, scenes: dict[int, list[ToyObject]], names: list[str]) -> None:
    det, ground = [], []
    for image_id, objects in scenes.items():
        base = {"filename": f"img{image_id}.png", "height": SIZE, "width": SIZE}
        det.append({**base, "detection": {"instances": [
            {"bbox": list(o.box), "label": names.index(o.phrase)} for o in objects]}})
        ground.append({**base, "grounding": {"caption": " and ".join(o.phrase for o in objects), "regions": [
            {"bbox": [list(o.box)], "phrase": o.phrase} for o in objects]}})
    (folder / "odvg_det.jsonl").write_text("".join(json.dumps(r) + "\n" for r in det))
    (folder / "odvg_ground.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ground))
    (folder / "label_map.json").write_text(json.dumps({str(k): n for k, n in enumerate(names)}))


@pytest.fixture(scope="session")
def real_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Paths of the four formats' files built from toy scenes, and the drawn objects per image id."""
    folder = tmp_path_factory.mktemp("real_sources")
    (folder / "images").mkdir()
    scenes = _scenes(folder / "images")
    names = sorted({o.phrase for objects in scenes.values() for o in objects})
    coco = _coco(scenes, names)
    (folder / "coco.json").write_text(json.dumps(coco))
    (folder / "lvis.json").write_text(json.dumps(_lvis(coco, scenes)))
    (folder / "refs.json").write_text(json.dumps(_refs(coco)))
    _odvg(folder, scenes, names)
    return {"root": folder, "images": folder / "images", "expected": scenes, "names": names, "coco": coco}
