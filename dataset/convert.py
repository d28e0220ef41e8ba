"""JSONL (``{"image_name": ..., "annotation": {...}}`` per line) + image folder -> TSV triple.

Every image is re-encoded as JPEG (RGB). Bad lines are skipped and reported by line number, or
with ``strict=True`` fail the whole conversion. Output appears only if the conversion finishes.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from tqdm import tqdm

from dataset.tsv import TsvWriter, encode_image

__all__ = ["DEFAULT_JPEG_QUALITY", "ConversionError", "ConvertStats", "convert_jsonl_to_tsv", "ordered_map"]

logger = logging.getLogger(__name__)

# PIL's default JPEG quality: ``save(format="JPEG")`` without ``quality`` writes these exact bytes.
DEFAULT_JPEG_QUALITY = 75

# Errors that mean "this image file is bad" (skip the line); anything else is a crash.
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


class ConversionError(RuntimeError):
    """Raised in strict mode when any input line is bad; lists the offending line numbers."""


@dataclass
class ConvertStats:
    """Outcome of one conversion: samples written and ``(line number, reason)`` per skipped line."""

    num_written: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Task:
    line_no: int
    image_path: str
    annotation: dict[str, Any]


def _encode_task(task: _Task, quality: int) -> tuple[_Task, bytes | None, str | None]:
    """Worker body: returns RGB JPEG bytes, or the reason the image is unusable."""
    if not os.path.isfile(task.image_path):
        return task, None, f"image not found: {task.image_path}"
    try:
        img = Image.open(task.image_path)
        img.load()
    except _IMAGE_ERRORS as exc:
        return task, None, f"unreadable image {task.image_path}: {exc}"
    try:
        # Encoding errors are not the input's fault: let them propagate (no output is written).
        return task, encode_image(img, "JPEG", quality), None
    finally:
        img.close()


def _parse_line(line_no: int, text: str, image_root: str) -> _Task | str:
    """Return a task, or the reason the line is bad."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        return f"invalid JSON ({exc})"
    if not isinstance(record, dict):
        return "line is not a JSON object"
    for key in ("image_name", "annotation"):
        if key not in record:
            return f"missing key '{key}'"
    if not isinstance(record["image_name"], str) or not record["image_name"]:
        return "'image_name' must be a non-empty string"
    if not isinstance(record["annotation"], dict):
        return "'annotation' must be a JSON object"
    return _Task(line_no, os.path.join(image_root, record["image_name"]), record["annotation"])


def _iter_tasks(json_file: str, image_root: str, skipped: list[tuple[int, str]]) -> Iterator[_Task]:
    with open(json_file, encoding="utf-8") as fh:
        for line_no, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            parsed = _parse_line(line_no, text, image_root)
            if isinstance(parsed, str):
                skipped.append((line_no, parsed))
            else:
                yield parsed


def ordered_map(fn: Callable[..., Any], items: Iterable[Any], num_workers: int, *args: Any) -> Iterator[Any]:
    """``map(fn, items)`` over a process pool with a bounded look-ahead; results keep input order."""
    if num_workers <= 1:
        for item in items:
            yield fn(item, *args)
        return
    window: deque[Future[Any]] = deque()
    with ProcessPoolExecutor(max_workers=num_workers) as pool:
        for item in items:
            window.append(pool.submit(fn, item, *args))
            if len(window) >= 4 * num_workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def convert_jsonl_to_tsv(
    json_file: str,
    image_root: str,
    image_tsv: str,
    ann_tsv: str,
    lineidx: str,
    num_workers: int = 1,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    strict: bool = False,
    progress: bool = True,
) -> ConvertStats:
    """Convert a JSONL annotation file and its images into a TSV triple.

    Args:
        json_file: JSONL, one ``{"image_name": str, "annotation": object}`` per line.
        image_root: folder that ``image_name`` is relative to.
        image_tsv, ann_tsv, lineidx: output paths (written atomically).
        num_workers: processes encoding images; output is byte-identical for any value.
        jpeg_quality: JPEG quality (1-100) of the re-encoded images; the default 75 is PIL's own
            default, so the bytes match the original converter's.
        strict: raise ``ConversionError`` (and write nothing) if any line is bad.
        progress: show a tqdm bar.

    Returns:
        ``ConvertStats`` with the sample count and the skipped lines.
    """
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality must be in [1, 100], got {jpeg_quality}")
    stats = ConvertStats()
    tasks = _iter_tasks(json_file, image_root, stats.skipped)
    with TsvWriter(image_tsv, ann_tsv, lineidx) as writer:
        results = ordered_map(_encode_task, tasks, max(1, num_workers), jpeg_quality)
        for task, jpeg, reason in tqdm(results, desc="convert", unit="img", disable=not progress):
            if jpeg is None:
                stats.skipped.append((task.line_no, reason or "unknown error"))
                continue
            writer.add(jpeg, task.annotation)
        stats.num_written = writer.num_written
        stats.skipped.sort()
        if strict and stats.skipped:
            raise ConversionError(_skip_report(json_file, stats.skipped))
    if stats.skipped:
        logger.warning(_skip_report(json_file, stats.skipped))
    return stats


def _skip_report(json_file: str, skipped: list[tuple[int, str]]) -> str:
    lines = [f"{json_file}: {len(skipped)} bad line(s):"]
    lines += [f"  line {line_no}: {reason}" for line_no, reason in skipped]
    return "\n".join(lines)
