"""Images and annotations to evaluate on: a TSV triple, or a COCO/LVIS JSON with its image folder.

A COCO JSON is read with the converter's own record builder (:mod:`dataset.coco_formats`), so
evaluation sees exactly the annotations a converted TSV would hold.
"""

from __future__ import annotations

import logging
import os
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
from dataset.tsv import TsvReader

__all__ = ["SplitImage", "SplitSource", "open_split"]

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


def _coco_records(path: str, image_root: str) -> list[SourceRecord]:
    """Usable, non-empty records of a COCO/LVIS JSON whose image file exists under ``image_root``; bad,
    empty and missing images are left out, counted and logged (as the converter does)."""
    data = load_coco(path)
    lvis = any("neg_category_ids" in img or "file_name" not in img for img in data["images"])
    names = category_names(data, underscores_to_spaces=lvis)
    by_image = annotations_by_image(data)
    records, bad, empty = [], [], 0
    for info in data["images"]:
        record = coco_image_record(info, by_image.get(info.get("id"), []), names, CategoryFilter(), seed=0)
        if record.error is not None:
            bad.append(f"{record.record_id}: {record.error}")
        elif not (record.annotation or {}).get("boxes"):
            empty += 1
        elif not os.path.isfile(os.path.join(image_root, record.image_name)):
            bad.append(f"{record.record_id}: image file not found: {os.path.join(image_root, record.image_name)}")
        else:
            records.append(record)
    if bad or empty:
        logger.warning("%s: left out %d image(s) without objects and %d bad or missing one(s)%s", path, empty,
                       len(bad), "".join(f"\n  {line}" for line in bad))
    return records


def open_split(split: str, image_root: str | None = None) -> SplitSource:
    """A TSV prefix (``PREFIX.images.tsv`` ...) or, for a ``.json`` path, a COCO/LVIS instances file
    whose images lie under ``image_root``. Raises ``ValueError`` naming what is missing."""
    if split.endswith(".json"):
        if not image_root:
            raise ValueError(f"--split {split} is a COCO JSON: give --image_root, the folder of its images")
        if not os.path.isfile(split):
            raise ValueError(f"--split: file not found: {split}")
        records = _coco_records(split, image_root)
        if not records:
            raise ValueError(f"--split {split}: no image with objects and an image file under {image_root}")
        return SplitSource(split, records=records, image_root=image_root)
    paths = (f"{split}.images.tsv", f"{split}.annotations.tsv", f"{split}.annotations.tsv.lineidx")
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise ValueError(f"--split {split}: not a TSV prefix or COCO JSON (missing {missing[0]})")
    return SplitSource(split, reader=TsvReader(*paths))
