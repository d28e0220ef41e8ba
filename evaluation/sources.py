"""Images and annotations to evaluate on: a TSV triple, or a COCO/LVIS JSON with its image folder.

A COCO JSON is read with the converter's own record builder (:mod:`dataset.coco_formats`), so
evaluation sees exactly the annotations a converted TSV would hold.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from dataset.coco_formats import (
    CategoryFilter,
    SourceRecord,
    annotations_by_image,
    category_names,
    coco_image_record,
    load_coco,
)
from dataset.task_fns.base import DEFAULT_MAX_NEGATIVES
from dataset.tsv import TsvPaths, TsvReader

__all__ = ["SplitImage", "SplitSource", "ask_absent", "open_split"]

logger = logging.getLogger(__name__)


@dataclass
class SplitImage:
    """One image of a split: its position, name (as written to predictions), pixels and annotation."""

    index: int
    name: str
    image: Image.Image
    annotation: dict[str, Any]


class SplitSource:
    """``len()`` and ``read(i)`` over a TSV prefix or a list of COCO records with an image folder."""

    def __init__(self, split: str, reader: TsvReader | None = None, records: list[SourceRecord] | None = None,
                 image_root: str | None = None) -> None:
        self.split = split
        self.name = Path(split).stem if records is not None else Path(split).name
        self._reader, self._records, self._image_root = reader, records, image_root

    def __len__(self) -> int:
        return len(self._reader) if self._reader is not None else len(self._records or [])

    def image_name(self, index: int) -> str:
        """Image ``index``'s name as predictions files carry it."""
        if self._reader is not None:
            return f"{self.name}/{index:06d}"
        return (self._records or [])[index].image_name

    def read(self, index: int) -> SplitImage:
        """Image ``index`` (RGB) with its annotation; a missing image file raises ``FileNotFoundError``."""
        if self._reader is not None:
            image, annotation = self._reader.read(index)
            return SplitImage(index, self.image_name(index), image, annotation)
        record = (self._records or [])[index]
        path = os.path.join(self._image_root or "", record.image_name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image of {record.record_id} not found: {path}")
        with Image.open(path) as img:
            image = img.convert("RGB")
        return SplitImage(index, record.image_name, image, record.annotation or {})

    def iter(self, max_samples: int | None = None) -> Iterator[SplitImage]:
        """The first ``max_samples`` images (all when ``None``)."""
        count = len(self) if max_samples is None else min(max_samples, len(self))
        for index in range(count):
            yield self.read(index)


def ask_absent(record: SourceRecord, vocabulary: list[str], count: int = DEFAULT_MAX_NEGATIVES) -> SourceRecord:
    """An image without objects as a negative-only sample: ``count`` of the split's category names
    (a sample seeded by the record id, none of its crowd regions' names) become null entries, so the
    question asks for them as the task function asks negatives, and any box answered is a false positive."""
    crowd = {entry["phrase"] for entry in (record.annotation or {}).get("crowd", [])}
    pool = [name for name in vocabulary if name not in crowd]
    asked = random.Random(record.record_id).sample(pool, min(count, len(pool)))
    annotation = {**(record.annotation or {}), "boxes": [{"bbox": None, "phrase": name} for name in asked]}
    return SourceRecord(record.record_id, record.image_name, annotation)


def _coco_records(path: str, image_root: str, skip_empty: bool = False) -> list[SourceRecord]:
    """Usable records of a COCO/LVIS JSON whose image file exists under ``image_root``; bad and missing
    images are left out, counted and logged (as the converter does). Images without objects are asked
    for absent categories (:func:`ask_absent`), or left out with ``skip_empty``."""
    data = load_coco(path)
    lvis = any("neg_category_ids" in img or "file_name" not in img for img in data["images"])
    names = category_names(data, underscores_to_spaces=lvis)
    vocabulary = sorted(set(names.values()))
    by_image = annotations_by_image(data)
    records, bad, empty = [], [], 0
    for info in data["images"]:
        record = coco_image_record(info, by_image.get(info.get("id"), []), names, CategoryFilter(), seed=0)
        if record.error is not None:
            bad.append(f"{record.record_id}: {record.error}")
        elif not os.path.isfile(os.path.join(image_root, record.image_name)):
            bad.append(f"{record.record_id}: image file not found: {os.path.join(image_root, record.image_name)}")
        elif not (record.annotation or {}).get("boxes"):
            empty += 1
            records += [] if skip_empty else [ask_absent(record, vocabulary)]
        else:
            records.append(record)
    if bad or (empty and skip_empty):
        logger.warning("%s: left out %d image(s) without objects and %d bad or missing one(s)%s", path,
                       empty if skip_empty else 0, len(bad), "".join(f"\n  {line}" for line in bad))
    return records


def open_split(split: str, image_root: str | None = None, skip_empty: bool = False) -> SplitSource:
    """A TSV prefix (``PREFIX.images.tsv`` ...) or, for a ``.json`` path, a COCO/LVIS instances file
    whose images lie under ``image_root`` (``skip_empty``: leave out its images without objects
    instead of asking them for absent categories). Raises ``ValueError`` naming what is missing."""
    if split.endswith(".json"):
        if not image_root:
            raise ValueError(f"--split {split} is a COCO JSON: give --image_root, the folder of its images")
        if not os.path.isfile(split):
            raise ValueError(f"--split: file not found: {split}")
        records = _coco_records(split, image_root, skip_empty)
        if not records:
            raise ValueError(f"--split {split}: no usable image with an image file under {image_root}")
        return SplitSource(split, records=records, image_root=image_root)
    paths = TsvPaths.from_prefix(split)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise ValueError(f"--split {split}: not a TSV prefix or COCO JSON (missing {missing[0]})")
    return SplitSource(split, reader=TsvReader(*paths))
