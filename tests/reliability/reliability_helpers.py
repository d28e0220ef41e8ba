"""Builders of small valid inputs that the reliability tests then corrupt."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from PIL import Image

from dataset.tsv import TsvPaths, TsvWriter

ANNOTATIONS = [
    {"boxes": [{"bbox": [1, 2, 20, 30], "phrase": "red circle"}]},
    {"boxes": [{"bbox": [5, 5, 25, 25], "phrase": "blue square"}, {"bbox": None, "phrase": "cat"}]},
    {"points": [{"point": [10, 12], "phrase": "green star"}]},
]


def jpeg_bytes(size: tuple[int, int] = (32, 32), colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A small valid JPEG."""
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="JPEG")
    return buf.getvalue()


def write_triple(directory: Path, annotations: list[dict[str, Any]] | None = None) -> TsvPaths:
    """A valid TSV triple (one 32x32 JPEG per sample) in ``directory``."""
    paths = TsvPaths.from_prefix(directory / "d")
    with TsvWriter(*paths) as writer:
        for ann in annotations if annotations is not None else ANNOTATIONS:
            writer.add(jpeg_bytes(), ann)
    return paths


def lines(path: str) -> list[bytes]:
    """The file's lines, newlines kept."""
    return Path(path).read_bytes().splitlines(keepends=True)


def replace_line(path: str, index: int, new: bytes) -> None:
    """Overwrite line ``index`` (0-based) of ``path`` with ``new`` (newline added if missing)."""
    content = lines(path)
    content[index] = new if new.endswith(b"\n") else new + b"\n"
    Path(path).write_bytes(b"".join(content))


def rewrite_lineidx_for(paths: TsvPaths) -> None:
    """Recompute the lineidx from the (edited) annotations file, so edits to line i stay readable."""
    offsets, pos = [], 0
    for line in lines(paths.ann_tsv):
        offsets.append(pos)
        pos += len(line)
    Path(paths.lineidx).write_text("".join(f"{o}\n" for o in offsets))


def write_jsonl(directory: Path, records: list[Any], raw_lines: dict[int, str] | None = None) -> Path:
    """``records`` as JSONL (``raw_lines`` replaces line i, 0-based, with raw text)."""
    text = [json.dumps(r) for r in records]
    for i, raw in (raw_lines or {}).items():
        text[i] = raw
    path = directory / "data.jsonl"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def leftover_files(directory: Path) -> list[str]:
    """Every file under ``directory`` (relative names), for 'nothing half-written' checks."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def no_temporaries(directory: Path) -> bool:
    """True when no writer temp file (``.name.XXXX.tmp``) is left in ``directory``."""
    return not [n for n in os.listdir(directory) if n.endswith(".tmp")]
