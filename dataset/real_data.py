"""Convert COCO / LVIS / RefCOCO / ODVG files to the JSONL converter's input and/or a TSV triple.

Records come from :mod:`dataset.coco_formats`; images are re-encoded by
:func:`dataset.convert.convert_jsonl_to_tsv`. Outputs appear only when the whole conversion
succeeds: the JSONL is written to a temp file and renamed last, the TSV triple is atomic itself.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dataset.coco_formats import (
    FORMATS,
    CategoryFilter,
    FormatError,
    SourceRecord,
    annotations_by_image,
    category_names,
    coco_image_record,
    iter_odvg_records,
    iter_refcoco_records,
    load_coco,
)
from dataset.convert import ConversionError, convert_jsonl_to_tsv, ordered_map
from dataset.tsv import TsvPaths

__all__ = ["RealDataStats", "SourceOptions", "convert_records", "iter_source_records"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceOptions:
    """What to read: the format, its files, and which objects to keep."""

    format: str
    ann_file: str                      # instances JSON (coco, lvis, refcoco) or ODVG JSONL
    refs_file: str | None = None       # refcoco: refs(unc).p / refs.json
    refcoco_split: str | None = None   # refcoco: keep refs of this split (train, val, testA, ...)
    label_map_file: str | None = None  # odvg: JSON {"label id": "name"} for instances without 'category'
    categories: CategoryFilter = field(default_factory=CategoryFilter)
    seed: int = 0                      # seeds the interior points (same seed, same points)

    def check(self) -> None:
        """Raise ``FormatError`` naming a missing option or file."""
        if self.format not in FORMATS:
            raise FormatError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.format == "refcoco" and not self.refs_file:
            raise FormatError("--format refcoco needs --refs_file (refs(unc).p or a refs JSON)")
        for path in (self.ann_file, self.refs_file, self.label_map_file):
            if path and not os.path.isfile(path):
                raise FormatError(f"file not found: {path}")


@dataclass
class RealDataStats:
    """Outcome: samples written, images without any kept object, and ``(record id, reason)`` per bad record."""

    num_written: int = 0
    num_empty: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)


def _coco_task(task: tuple[Any, ...]) -> SourceRecord:
    return coco_image_record(*task)


def iter_source_records(options: SourceOptions, num_workers: int = 1) -> Iterator[SourceRecord]:
    """Records of the source files in file order (COCO/LVIS images built by ``num_workers`` processes)."""
    options.check()
    if options.format == "odvg":
        label_map = {}
        if options.label_map_file:
            with open(options.label_map_file, encoding="utf-8") as fh:
                label_map = {str(k): v for k, v in json.load(fh).items()}
        yield from iter_odvg_records(options.ann_file, label_map, options.categories)
        return
    data = load_coco(options.ann_file)
    if options.format == "refcoco":
        yield from iter_refcoco_records(options.refs_file or "", data, options.refcoco_split,
                                        options.categories, options.seed)
        return
    names = category_names(data, underscores_to_spaces=options.format == "lvis")
    by_image = annotations_by_image(data)
    tasks = ((info, by_image.get(info.get("id"), []), names, options.categories, options.seed)
             for info in data["images"])
    yield from ordered_map(_coco_task, tasks, max(1, num_workers))


def _has_targets(annotation: dict[str, Any]) -> bool:
    """Whether the record holds any object entry (boxes, points, polygons or keypoints; negatives count)."""
    return any(annotation.get(key) for key in ("boxes", "points", "polygons", "keypoints"))


def _collect(records: Iterable[SourceRecord], image_root: str, stats: RealDataStats, max_samples: int | None,
             progress: bool) -> list[SourceRecord]:
    """Good, non-empty records whose image file exists (at most ``max_samples``); bad and empty
    ones counted in ``stats``."""
    kept: list[SourceRecord] = []
    for record in tqdm(records, desc="read annotations", unit="rec", disable=not progress):
        if record.error is not None or record.annotation is None:
            stats.bad.append((record.record_id, record.error or "no annotation"))
        elif not os.path.isfile(os.path.join(image_root, record.image_name)):
            stats.bad.append((record.record_id, f"image not found: {os.path.join(image_root, record.image_name)}"))
        elif not _has_targets(record.annotation):
            stats.num_empty += 1
        else:
            kept.append(record)
            if max_samples is not None and len(kept) >= max_samples:
                break
    return kept


def _report(stats: RealDataStats) -> str:
    lines = [f"{len(stats.bad)} bad record(s):"] + [f"  {rid}: {reason}" for rid, reason in stats.bad]
    return "\n".join(lines)


def convert_records(
    records: Iterable[SourceRecord],
    image_root: str,
    jsonl_out: str | None = None,
    tsv_prefix: str | None = None,
    max_samples: int | None = None,
    num_workers: int = 1,
    jpeg_quality: int = 95,
    strict: bool = False,
    progress: bool = True,
) -> RealDataStats:
    """Write ``records`` as JSONL (``jsonl_out``) and/or a TSV triple (``tsv_prefix``).

    Images without any kept object or negative are left out (counted in ``num_empty``). Bad
    records, missing images and, in the TSV case, unreadable images are skipped and listed; with
    ``strict`` any of them raises ``ConversionError`` and nothing is written.
    """
    if not jsonl_out and not tsv_prefix:
        raise ValueError("give jsonl_out, tsv_prefix or both")
    stats = RealDataStats()
    kept = _collect(records, image_root, stats, max_samples, progress)
    if strict and stats.bad:
        raise ConversionError(_report(stats))
    out_dir = Path(jsonl_out).parent if jsonl_out else Path(tsv_prefix or ".").parent
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".real_data.", suffix=".jsonl", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for record in kept:
                fh.write(json.dumps({"image_name": record.image_name, "annotation": record.annotation}) + "\n")
        stats.num_written = len(kept)
        if tsv_prefix:
            tsv_stats = convert_jsonl_to_tsv(tmp, image_root, *TsvPaths.from_prefix(tsv_prefix), num_workers=num_workers,
                                             jpeg_quality=jpeg_quality, strict=strict, progress=progress)
            stats.num_written = tsv_stats.num_written
            stats.bad += [(kept[line - 1].record_id, reason) for line, reason in tsv_stats.skipped]
        if jsonl_out:
            os.replace(tmp, jsonl_out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    if stats.bad:
        logger.warning(_report(stats))
    return stats
