"""Public keypoint, OCR, GUI and visual-prompt formats -> records in the TSV annotation schema.

Every record is checked by :func:`dataset.annotations.parse_annotation` (the one validator of the
schema) before it is yielded; a record it rejects, or one this module cannot read, comes out as a
:class:`~dataset.coco_formats.SourceRecord` with an ``error`` naming it, so the caller can count and
report it (as for the COCO formats).

* ``coco_keypoints`` (COCO person keypoints, AP-10K and any COCO-style keypoint file): one record per
  image, a ``keypoints`` entry per instance; joint names are the category's ``keypoints`` list with
  ``_`` read as a space. When that list is the person or animal list, the entry names its
  ``keypoint_type``; otherwise the sample carries ``keypoint_names``.
* ``icdar2015``: one ``gt_<image stem>.txt`` per image, lines ``x1,y1,...,x4,y4,transcription``;
  ``###`` marks a don't-care region (``"ignore": true``).
* ``totaltext``: one ``poly_gt_<image stem>.txt`` (or ``gt_...``) per image, lines
  ``x: [[...]], y: [[...]], ornt: [u'c'], transcriptions: [u'text']``; ``#`` is don't care.
* ``hiertext``: one JSON with ``annotations[*].paragraphs[*].lines[*](.words[*])`` of
  ``vertices`` + ``text`` + ``legible``; illegible text is don't care.
* ``screenspot``: a JSON list of ``{"img_filename", "bbox", "instruction"}``; all elements of one
  screenshot form one record (the GUI task functions draw one per sample).
* visual prompting: COCO/LVIS image records plus a ``visual_prompt`` exemplar list per phrase.
"""

from __future__ import annotations

import ast
import json
import os
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dataset.annotations import AnnotationError, parse_annotation
from dataset.coco_formats import (
    CategoryFilter,
    FormatError,
    SourceRecord,
    annotations_by_image,
    coco_xyxy,
    image_name,
    load_coco,
    load_json,
)
from dataset.task_fns.task_prompts.other_tasks import KEYPOINT_NAMES

__all__ = ["ICDAR_DONT_CARE", "TOTALTEXT_DONT_CARE", "add_exemplars", "checked_record", "iter_hiertext_records",
           "iter_icdar2015_records", "iter_keypoint_records", "iter_screenspot_records", "iter_totaltext_records",
           "joint_names_of", "polygon_box"]

ICDAR_DONT_CARE = "###"
TOTALTEXT_DONT_CARE = "#"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", ".bmp", ".gif")


def checked_record(record_id: str, name: str, annotation: dict[str, Any]) -> SourceRecord:
    """The record, or an error record when the schema validator rejects ``annotation``."""
    try:
        parse_annotation(annotation)
    except AnnotationError as exc:
        return SourceRecord(record_id, error=f"invalid annotation: {exc}")
    return SourceRecord(record_id, name, annotation)


def polygon_box(polygon: list[float]) -> list[float]:
    """The xyxy hull box of a flat ``[x0, y0, x1, y1, ...]`` polygon."""
    xs, ys = polygon[0::2], polygon[1::2]
    return [min(xs), min(ys), max(xs), max(ys)]


# ---------------------------------------------------------------- keypoints

def joint_names_of(category: dict[str, Any]) -> tuple[tuple[str, ...], str | None]:
    """A COCO category's joint names (``_`` -> space) and the keypoint type whose list they equal."""
    raw = category.get("keypoints")
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
        raise ValueError(f"category {category.get('name')!r} has no 'keypoints' name list")
    names = tuple(n.replace("_", " ") for n in raw)
    kind = next((t for t, ref in KEYPOINT_NAMES.items() if ref == names), None)
    return names, kind


def _keypoint_entry(ann: dict[str, Any], phrase: str, names: tuple[str, ...], kind: str | None,
                    width: int, height: int) -> dict[str, Any]:
    flat = ann.get("keypoints")
    if not isinstance(flat, list) or len(flat) != 3 * len(names):
        raise ValueError(f"'keypoints' must hold {3 * len(names)} numbers (x, y, v per joint), "
                         f"got {len(flat) if isinstance(flat, list) else type(flat).__name__}")
    joints = {n: [float(flat[3 * i]), float(flat[3 * i + 1]), int(flat[3 * i + 2])] for i, n in enumerate(names)}
    entry: dict[str, Any] = {"bbox": coco_xyxy(ann.get("bbox"), width, height), "phrase": phrase, "keypoints": joints}
    if kind is not None:
        entry["keypoint_type"] = kind
    return entry


def _keypoint_record(info: dict[str, Any], anns: list[dict[str, Any]], categories: dict[Any, dict[str, Any]],
                     keep: CategoryFilter, min_keypoints: int) -> SourceRecord:
    record_id = f"image {info.get('id')}"
    try:
        width, height = int(info["width"]), int(info["height"])
        entries, crowd, sample_names = [], [], None
        for ann in anns:
            category = categories.get(ann.get("category_id"))
            if category is None:
                raise ValueError(f"annotation {ann.get('id')}: unknown category_id {ann.get('category_id')!r}")
            if not keep.keeps(category["name"]):
                continue
            try:
                if ann.get("iscrowd"):
                    crowd.append({"bbox": coco_xyxy(ann.get("bbox"), width, height), "phrase": category["name"]})
                    continue
                names, kind = joint_names_of(category)
                entry = _keypoint_entry(ann, category["name"], names, kind, width, height)
            except ValueError as exc:
                raise ValueError(f"annotation {ann.get('id')}: {exc}") from exc
            if sum(v > 0 for _, _, v in entry["keypoints"].values()) < min_keypoints:
                continue
            if kind is None:
                if sample_names not in (None, names):
                    raise ValueError(f"annotation {ann.get('id')}: joint list differs from the image's other "
                                     "instances (one sample names one list)")
                sample_names = names
            entries.append(entry)
        annotation: dict[str, Any] = {"keypoints": entries}
        if sample_names is not None:
            annotation["keypoint_names"] = list(sample_names)
        if crowd:
            annotation["crowd"] = crowd
        return checked_record(record_id, image_name(info), annotation)
    except (KeyError, TypeError, ValueError) as exc:
        return SourceRecord(record_id, error=str(exc) if not isinstance(exc, KeyError) else f"missing key {exc}")


def iter_keypoint_records(path: str, keep: CategoryFilter, min_keypoints: int = 1) -> Iterator[SourceRecord]:
    """Records of a COCO-style keypoint file (COCO person keypoints, AP-10K, ...), one per image.

    Instances with fewer than ``min_keypoints`` labelled joints (v > 0) are left out; crowd
    instances go to the ``crowd`` list.
    """
    data = load_coco(path)
    categories = {c["id"]: c for c in data["categories"]}
    by_image = annotations_by_image(data)
    for info in data["images"]:
        yield _keypoint_record(info, by_image.get(info.get("id"), []), categories, keep, min_keypoints)


# ---------------------------------------------------------------- OCR

def _image_for(stem: str, image_root: str) -> str:
    """The file in ``image_root`` named ``stem`` plus an image suffix (``stem.jpg`` when none exists)."""
    for suffix in _IMAGE_SUFFIXES:
        if os.path.isfile(os.path.join(image_root, stem + suffix)):
            return stem + suffix
    return stem + ".jpg"


def _text_entry(polygon: list[float], text: str, dont_care: bool, level: str) -> dict[str, Any]:
    return {"polygon": polygon, "bbox": polygon_box(polygon), "phrase": text, "level": level, "ignore": dont_care}


def icdar2015_line(text: str) -> tuple[list[float], str]:
    """``x1,y1,...,x4,y4,transcription`` -> (8 floats, transcription; commas in it kept)."""
    parts = text.lstrip("\ufeff").rstrip("\r\n").split(",", 8)
    if len(parts) != 9:
        raise ValueError(f"expected 8 coordinates and a transcription, got {text.strip()!r}")
    return [float(v) for v in parts[:8]], parts[8]


def _gt_files(ann_dir: str, prefixes: tuple[str, ...]) -> list[tuple[str, Path]]:
    """``(image stem, file)`` for every ``<prefix><stem>.txt`` in ``ann_dir``, sorted by name."""
    root = Path(ann_dir)
    if not root.is_dir():
        raise FormatError(f"annotation folder not found: {ann_dir}")
    out = []
    for path in sorted(root.glob("*.txt")):
        prefix = next((p for p in prefixes if path.stem.startswith(p)), "")
        out.append((path.stem[len(prefix):], path))
    return out


def _iter_line_files(ann_dir: str, image_root: str, prefixes: tuple[str, ...], level: str,
                     read_line: Callable[[str], tuple[list[float], str]], dont_care: str) -> Iterator[SourceRecord]:
    """One record per ``<prefix><stem>.txt`` of ``ann_dir`` whose non-blank lines ``read_line`` turns into
    ``(polygon, transcription)``; a bad line makes its file a bad record naming the line."""
    for stem, path in _gt_files(ann_dir, prefixes):
        record_id = path.name
        try:
            entries = []
            for line_no, text in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
                if not text.strip():
                    continue
                try:
                    polygon, transcription = read_line(text)
                except ValueError as exc:
                    raise ValueError(f"line {line_no}: {exc}") from exc
                entries.append(_text_entry(polygon, transcription, transcription == dont_care, level))
            yield checked_record(record_id, _image_for(stem, image_root), {"polygons": entries})
        except (ValueError, UnicodeDecodeError) as exc:
            yield SourceRecord(record_id, error=str(exc))


def iter_icdar2015_records(ann_dir: str, image_root: str, level: str = "word") -> Iterator[SourceRecord]:
    """One record per ``gt_<stem>.txt`` of ``ann_dir`` (ICDAR2015 incidental text and the like)."""
    return _iter_line_files(ann_dir, image_root, ("gt_",), level, icdar2015_line, ICDAR_DONT_CARE)


_TOTALTEXT_FIELD = re.compile(r"(x|y|ornt|transcriptions)\s*:\s*(\[.*?\])(?=\s*,\s*(?:x|y|ornt|transcriptions)\s*:|\s*$)")


def totaltext_line(text: str) -> tuple[list[float], str]:
    """One Total-Text ``x: [[...]], y: [[...]], ornt: [...], transcriptions: [u'...']`` line."""
    fields = {k: v for k, v in _TOTALTEXT_FIELD.findall(text.strip())}
    if not {"x", "y", "transcriptions"} <= set(fields):
        raise ValueError(f"expected x, y and transcriptions fields, got {text.strip()!r}")
    xs = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", fields["x"])]
    ys = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", fields["y"])]
    if len(xs) != len(ys) or len(xs) < 3:
        raise ValueError(f"x and y must list the same number (>= 3) of coordinates, got {len(xs)} and {len(ys)}")
    try:
        texts = ast.literal_eval(fields["transcriptions"].replace("[u'", "['").replace('[u"', '["'))
    except (ValueError, SyntaxError) as exc:
        raise ValueError(f"unreadable transcriptions {fields['transcriptions']!r}") from exc
    if not isinstance(texts, list) or len(texts) != 1 or not isinstance(texts[0], str):
        raise ValueError(f"transcriptions must hold one string, got {fields['transcriptions']!r}")
    return [c for xy in zip(xs, ys) for c in xy], texts[0]


def iter_totaltext_records(ann_dir: str, image_root: str, level: str = "word") -> Iterator[SourceRecord]:
    """One record per ``poly_gt_<stem>.txt`` / ``gt_<stem>.txt`` of ``ann_dir`` (Total-Text)."""
    return _iter_line_files(ann_dir, image_root, ("poly_gt_", "gt_"), level, totaltext_line, TOTALTEXT_DONT_CARE)


def _hiertext_entry(item: dict[str, Any], level: str) -> dict[str, Any]:
    vertices = item["vertices"]
    if not isinstance(vertices, list) or len(vertices) < 3:
        raise ValueError(f"'vertices' must list >= 3 [x, y] points, got {vertices!r}")
    polygon = [float(c) for xy in vertices for c in xy]
    return _text_entry(polygon, str(item["text"]), not item.get("legible", True), level)


def iter_hiertext_records(path: str, level: str = "text line") -> Iterator[SourceRecord]:
    """One record per image of a HierText JSON, with its ``text line`` (or ``word``) polygons."""
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise FormatError(f"{path}: not a HierText file (no 'annotations' list)")
    for k, image in enumerate(data["annotations"]):
        record_id = f"image {image.get('image_id', k) if isinstance(image, dict) else k}"
        try:
            entries = []
            for paragraph in image["paragraphs"]:
                for line in paragraph["lines"]:
                    items = line["words"] if level == "word" else [line]
                    entries += [_hiertext_entry(item, level) for item in items]
            name = str(image["image_id"])
            yield checked_record(record_id, name if Path(name).suffix else name + ".jpg", {"polygons": entries})
        except KeyError as exc:
            yield SourceRecord(record_id, error=f"missing key {exc}")
        except (TypeError, ValueError) as exc:
            yield SourceRecord(record_id, error=str(exc))


# ---------------------------------------------------------------- GUI

def _screen_box(bbox: Any, box_format: str) -> list[float]:
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, (int, float)) for v in bbox):
        raise ValueError(f"bbox must be 4 numbers, got {bbox!r}")
    x0, y0, a, b = (float(v) for v in bbox)
    box = [x0, y0, x0 + a, y0 + b] if box_format == "xywh" else [x0, y0, a, b]
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"bbox {bbox} ({box_format}) has no area")
    return box


def iter_screenspot_records(path: str, box_format: str = "xywh") -> Iterator[SourceRecord]:
    """Records of a ScreenSpot-style JSON list, one per screenshot (elements in file order).

    ``box_format``: ``xywh`` (ScreenSpot, ScreenSpot-v2) or ``xyxy`` (ScreenSpot-Pro). An element's
    optional ``point`` ``[x, y]`` (pixels) is kept as the pointing target.
    """
    data = load_json(path)
    if not isinstance(data, list):
        raise FormatError(f"{path}: a ScreenSpot file is a JSON list of elements")
    by_image: dict[str, list[dict[str, Any]]] = defaultdict(list)
    bad: dict[str, str] = {}
    for k, item in enumerate(data):
        try:
            name = item["img_filename"]
            entry = {"bbox": _screen_box(item["bbox"], box_format), "phrase": str(item["instruction"])}
            if item.get("point") is not None:
                entry["point"] = [float(v) for v in item["point"]]
            by_image[name].append(entry)
        except KeyError as exc:
            bad.setdefault(f"element {k}", f"missing key {exc}")
        except (TypeError, ValueError) as exc:
            bad.setdefault(f"element {k}", str(exc))
    for record_id, reason in bad.items():
        yield SourceRecord(record_id, error=reason)
    for name, entries in by_image.items():
        yield checked_record(f"screenshot {name}", name, {"boxes": entries})


# ---------------------------------------------------------------- visual prompting

def add_exemplars(record: SourceRecord, num_exemplars: int, seed: int,
                  given: dict[str, dict[str, list[list[float]]]] | None = None) -> SourceRecord:
    """``record`` (COCO/LVIS boxes) plus a ``visual_prompt`` per phrase.

    Exemplars are ``given[image_name]`` when that holds the image, else up to ``num_exemplars`` of the
    phrase's boxes drawn with a generator seeded by ``seed`` and the image name (``0``: none are
    written; the task function then draws them anew each epoch).
    """
    if record.error is not None or record.annotation is None:
        return record
    annotation = dict(record.annotation)
    if given is not None and record.image_name in given:
        annotation["visual_prompt"] = given[record.image_name]
    elif num_exemplars > 0:
        boxes: dict[str, list[list[float]]] = defaultdict(list)
        for entry in annotation.get("boxes", []):
            if entry.get("bbox") is not None:
                boxes[entry["phrase"]].append(entry["bbox"])
        rng = random.Random(f"{seed}:{record.image_name}")
        prompt = {p: rng.sample(b, min(num_exemplars, len(b))) for p, b in sorted(boxes.items())}
        if prompt:
            annotation["visual_prompt"] = prompt
    return checked_record(record.record_id, record.image_name, annotation)


def load_given_exemplars(path: str) -> dict[str, dict[str, list[list[float]]]]:
    """A ``{image file name: {phrase: [[x0, y0, x1, y1], ...]}}`` JSON of given exemplars."""
    data = load_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise FormatError(f"{path}: exemplars must be an object image name -> {{phrase: [boxes]}}")
    return {str(k): {str(p): json.loads(json.dumps(b)) for p, b in v.items()} for k, v in data.items()}
