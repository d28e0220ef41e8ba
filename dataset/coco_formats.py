"""COCO, LVIS, RefCOCO and ODVG annotation files -> records in the JSONL converter's schema.

A record is ``{"image_name": str, "annotation": {"boxes": [...]}}`` with xyxy pixel boxes:

* COCO / LVIS instances: one record per image, phrase = category name. Each object entry keeps
  ``bbox``, the COCO RLE ``mask`` and a seeded ``point`` inside the mask (see
  :func:`dataset.mask_geometry.interior_point`), so the same file trains grounding and pointing.
  ``iscrowd`` objects are not objects to find: they go to a separate ``crowd`` list (ignored by
  training, used by evaluation to ignore predictions on the crowd, as COCOeval does).
  LVIS ``neg_category_ids`` become ``{"bbox": null}`` negatives; ``not_exhaustive_category_ids``
  are listed under ``not_exhaustive`` (those categories may have unlabelled instances).
* RefCOCO / RefCOCO+ / RefCOCOg (refs + instances): one record per referring sentence, the
  sentence as the phrase of its object's entry.
* ODVG JSONL: ``detection`` (instances with ``category`` or a ``label`` looked up in a label
  map) and ``grounding`` (regions with a ``phrase``); no masks, so no points.

Records come out as :class:`SourceRecord`; a bad image or annotation yields a record with an
``error`` naming it instead of raising, so the caller can count and report it.
"""

from __future__ import annotations

import json
import pickle
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dataset.mask_geometry import MaskError, decode_mask, interior_point, segmentation_to_rle

__all__ = ["FORMATS", "CategoryFilter", "FormatError", "SourceRecord", "annotations_by_image", "category_names",
           "coco_image_record", "coco_xyxy", "image_name", "iter_odvg_records", "iter_refcoco_records", "load_coco",
           "load_json", "object_entry", "odvg_record"]

FORMATS = ("coco", "lvis", "refcoco", "odvg")


class FormatError(ValueError):
    """An input file as a whole is unusable (not JSON, missing a top-level key); names the file."""


@dataclass(frozen=True)
class SourceRecord:
    """One output sample, or why it could not be made. ``record_id`` names it in reports."""

    record_id: str
    image_name: str = ""
    annotation: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class CategoryFilter:
    """Keep only ``include`` names (all when empty), then drop ``exclude`` names; case-insensitive."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def keeps(self, name: str) -> bool:
        """Whether objects named ``name`` are kept."""
        key = name.lower()
        if self.include and key not in {n.lower() for n in self.include}:
            return False
        return key not in {n.lower() for n in self.exclude}


def load_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except ValueError as exc:
        raise FormatError(f"{path}: not valid JSON ({exc})") from exc


def load_coco(path: str) -> dict[str, Any]:
    """Read a COCO/LVIS instances JSON; checks the ``images``, ``annotations``, ``categories`` keys."""
    data = load_json(path)
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data, dict) or k not in data]
    if missing:
        raise FormatError(f"{path}: not a COCO instances file (missing {', '.join(missing)})")
    return data


def image_name(info: dict[str, Any]) -> str:
    """The image's file name (LVIS has only ``coco_url``: its last path part)."""
    name = info.get("file_name") or str(info.get("coco_url", "")).rsplit("/", 1)[-1]
    if not name:
        raise ValueError("image has neither 'file_name' nor 'coco_url'")
    return name


def coco_xyxy(bbox: Any, width: int, height: int) -> list[float]:
    """COCO xywh -> xyxy, checked to have positive size and to overlap the image."""
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, (int, float)) for v in bbox):
        raise ValueError(f"bbox must be [x, y, w, h] numbers, got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0 or x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise ValueError(f"bbox {bbox} is empty or outside the {width}x{height} image")
    return [x, y, x + w, y + h]


def object_entry(ann: dict[str, Any], phrase: str, width: int, height: int, seed: int) -> dict[str, Any]:
    """Box, mask and a seeded interior point of one COCO annotation (box only without segmentation)."""
    entry: dict[str, Any] = {"bbox": coco_xyxy(ann.get("bbox"), width, height), "phrase": phrase}
    segmentation = ann.get("segmentation")
    if segmentation:
        rle = segmentation_to_rle(segmentation, height, width)
        point = interior_point(decode_mask(rle, height=height, width=width), np.random.default_rng([seed, int(ann.get("id", 0))]))
        if point is None:
            raise MaskError("segmentation covers no pixel")
        entry.update(point=list(point), mask=rle)
    return entry


def coco_image_record(info: dict[str, Any], anns: list[dict[str, Any]], names: dict[int, str],
                      keep: CategoryFilter, seed: int) -> SourceRecord:
    """One COCO/LVIS image's record (see the module docstring); ``names``: category id -> phrase."""
    record_id = f"image {info.get('id')}"
    try:
        width, height = int(info["width"]), int(info["height"])
        boxes, crowd = [], []
        for ann in anns:
            name = names.get(ann.get("category_id"))
            if name is None:
                raise ValueError(f"annotation {ann.get('id')}: unknown category_id {ann.get('category_id')!r}")
            if not keep.keeps(name):
                continue
            try:
                if ann.get("iscrowd"):
                    crowd.append({"bbox": coco_xyxy(ann.get("bbox"), width, height), "phrase": name})
                else:
                    boxes.append(object_entry(ann, name, width, height, seed))
            except (ValueError, MaskError) as exc:
                raise ValueError(f"annotation {ann.get('id')}: {exc}") from exc
        negatives = [names[c] for c in info.get("neg_category_ids", []) if c in names and keep.keeps(names[c])]
        annotation: dict[str, Any] = {"boxes": boxes + [{"bbox": None, "phrase": n} for n in negatives]}
        if crowd:
            annotation["crowd"] = crowd
        not_exhaustive = [names[c] for c in info.get("not_exhaustive_category_ids", []) if c in names]
        if not_exhaustive:
            annotation["not_exhaustive"] = not_exhaustive
        return SourceRecord(record_id, image_name(info), annotation)
    except (KeyError, TypeError, ValueError) as exc:
        return SourceRecord(record_id, error=str(exc) if not isinstance(exc, KeyError) else f"missing key {exc}")


def category_names(data: dict[str, Any], underscores_to_spaces: bool) -> dict[int, str]:
    """Category id -> phrase (LVIS names like ``traffic_light`` read as ``traffic light``)."""
    return {c["id"]: c["name"].replace("_", " ") if underscores_to_spaces else c["name"] for c in data["categories"]}


def annotations_by_image(data: dict[str, Any]) -> dict[Any, list[dict[str, Any]]]:
    """Image id -> its annotations, in file order."""
    by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ann in data["annotations"]:
        by_image[ann.get("image_id")].append(ann)
    return by_image


def _load_refs(path: str) -> list[dict[str, Any]]:
    """RefCOCO refs: the original pickle (``refs(unc).p``) or the same list as JSON."""
    if Path(path).suffix in (".p", ".pkl", ".pickle"):
        with open(path, "rb") as fh:  # the datasets ship as pickles; only open files you trust
            refs = pickle.load(fh)
    else:
        refs = load_json(path)
    if not isinstance(refs, list):
        raise FormatError(f"{path}: refs must be a list of ref objects")
    return refs


def iter_refcoco_records(refs_path: str, data: dict[str, Any], split: str | None,
                         keep: CategoryFilter, seed: int) -> Iterator[SourceRecord]:
    """One record per sentence of every ref in ``split`` (all splits when ``None``)."""
    images = {img["id"]: img for img in data["images"]}
    anns = {ann["id"]: ann for ann in data["annotations"]}
    names = category_names(data, underscores_to_spaces=False)
    for ref in _load_refs(refs_path):
        if split is not None and ref.get("split") != split:
            continue
        for k, sentence in enumerate(ref.get("sentences", [])):
            record_id = f"ref {ref.get('ref_id')} sentence {k}"
            try:
                ann, info = anns[ref["ann_id"]], images[ref["image_id"]]
                if not keep.keeps(names.get(ann.get("category_id"), "")):
                    continue
                phrase = sentence["sent"] if isinstance(sentence, dict) else str(sentence)
                entry = object_entry(ann, phrase, int(info["width"]), int(info["height"]), seed)
                yield SourceRecord(record_id, image_name(info), {"boxes": [entry]})
            except KeyError as exc:
                yield SourceRecord(record_id, error=f"missing key or id {exc}")
            except (TypeError, ValueError) as exc:
                yield SourceRecord(record_id, error=str(exc))


def _odvg_boxes(bbox: Any) -> list[list[float]]:
    """An ODVG ``bbox``: one xyxy box or a list of them."""
    boxes = bbox if bbox and isinstance(bbox[0], list) else [bbox]
    for box in boxes:
        if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, (int, float)) for v in box):
            raise ValueError(f"bbox must be [x0, y0, x1, y1] numbers, got {box!r}")
        if box[2] <= box[0] or box[3] <= box[1]:
            raise ValueError(f"bbox {box} has no area")
    return [[float(v) for v in box] for box in boxes]


def odvg_record(line_no: int, item: Any, label_map: dict[str, str], keep: CategoryFilter) -> SourceRecord:
    """One ODVG line (detection or grounding variant) as a record."""
    record_id = f"line {line_no}"
    try:
        entries: list[dict[str, Any]] = []
        if "detection" in item:
            for inst in item["detection"]["instances"]:
                name = inst.get("category") or label_map.get(str(inst.get("label")))
                if name is None:
                    raise ValueError(f"instance has no 'category' and label {inst.get('label')!r} "
                                     "is not in the label map")
                entries += [{"bbox": b, "phrase": name} for b in _odvg_boxes(inst["bbox"]) if keep.keeps(name)]
        elif "grounding" in item:
            for region in item["grounding"]["regions"]:
                phrase = region["phrase"]
                entries += [{"bbox": b, "phrase": phrase} for b in _odvg_boxes(region["bbox"]) if keep.keeps(phrase)]
        else:
            raise ValueError("line has neither 'detection' nor 'grounding'")
        return SourceRecord(record_id, str(item["filename"]), {"boxes": entries})
    except KeyError as exc:
        return SourceRecord(record_id, error=f"missing key {exc}")
    except (TypeError, ValueError, AttributeError) as exc:
        return SourceRecord(record_id, error=str(exc))


def iter_odvg_records(path: str, label_map: dict[str, str], keep: CategoryFilter) -> Iterator[SourceRecord]:
    """Records of an ODVG JSONL file; blank lines are skipped, a bad line is a bad record."""
    with open(path, encoding="utf-8") as fh:
        for line_no, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                item = json.loads(text)
            except ValueError as exc:
                yield SourceRecord(f"line {line_no}", error=f"invalid JSON ({exc})")
                continue
            yield odvg_record(line_no, item, label_map, keep)
