"""Tests for dataset/convert.py (JSONL + images -> TSV triple)."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dataset.convert as convert_mod
from dataset.convert import ConversionError, convert_jsonl_to_tsv
from dataset.tsv import TsvPaths, TsvReader, encode_image


def _convert(jsonl: Path, root: Path, paths: TsvPaths, **kwargs):
    return convert_jsonl_to_tsv(str(jsonl), str(root), *paths, progress=False, **kwargs)


def test_roundtrip_every_line(jsonl_dataset, triple_paths: TsvPaths, triple_checker) -> None:
    jsonl, root, records = jsonl_dataset
    stats = _convert(jsonl, root, triple_paths)
    assert stats.num_written == len(records) and stats.skipped == []
    assert len(triple_checker(triple_paths)) == len(records)
    reader = TsvReader(*triple_paths)
    assert len(reader) == len(records)
    for i, (name, ann) in enumerate(records):
        image, got = reader.read(i)
        assert got == ann
        with Image.open(root / name) as src:
            expected = Image.open(io.BytesIO(encode_image(src, "JPEG", 75))).convert("RGB")
        assert image.size == expected.size
        assert np.array_equal(np.asarray(image), np.asarray(expected)), name


def test_parallel_output_is_byte_identical(jsonl_dataset, tmp_path: Path) -> None:
    jsonl, root, _ = jsonl_dataset
    outputs = []
    for workers in (1, 2):
        paths = TsvPaths(*(str(tmp_path / f"w{workers}" / n) for n in ("i.tsv", "a.tsv", "a.lineidx")))
        _convert(jsonl, root, paths, num_workers=workers)
        outputs.append([Path(p).read_bytes() for p in paths])
    assert outputs[0] == outputs[1]


def test_default_output_is_byte_identical_to_plain_pil_encode(jsonl_dataset, triple_paths: TsvPaths) -> None:
    # The original converter stores Image.open(p).convert("RGB") saved as JPEG with PIL's defaults.
    jsonl, root, records = jsonl_dataset
    _convert(jsonl, root, triple_paths)
    lines = Path(triple_paths.image_tsv).read_bytes().splitlines()
    assert len(lines) == len(records)
    for line, (name, _) in zip(lines, records):
        buf = io.BytesIO()
        with Image.open(root / name) as src:
            src.convert("RGB").save(buf, format="JPEG")
        assert base64.b64decode(line.split(b"\t")[1]) == buf.getvalue(), name


def test_jpeg_quality_changes_images(jsonl_dataset, tmp_path: Path) -> None:
    jsonl, root, _ = jsonl_dataset
    sizes = []
    for quality in (30, 95):
        paths = TsvPaths(*(str(tmp_path / f"q{quality}" / n) for n in ("i.tsv", "a.tsv", "a.lineidx")))
        _convert(jsonl, root, paths, jpeg_quality=quality)
        sizes.append(os.path.getsize(paths.image_tsv))
    assert sizes[0] < sizes[1]


def test_crash_midway_leaves_no_output(jsonl_dataset, triple_paths: TsvPaths, monkeypatch) -> None:
    jsonl, root, _ = jsonl_dataset
    real_encode = convert_mod.encode_image
    calls = {"n": 0}

    def flaky_encode(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("injected encoder crash")
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(convert_mod, "encode_image", flaky_encode)
    with pytest.raises(RuntimeError, match="injected"):
        _convert(jsonl, root, triple_paths)
    out_dir = Path(triple_paths.image_tsv).parent
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def _bad_jsonl(jsonl_dataset) -> tuple[Path, Path, list[int]]:
    """Valid lines interleaved with every kind of bad line; returns the bad line numbers."""
    jsonl, root, records = jsonl_dataset
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    good = [json.dumps({"image_name": n, "annotation": a}) for n, a in records[:2]]
    lines = [
        good[0],                                                   # 1
        "{not json",                                               # 2 invalid JSON
        "",                                                        # 3 blank: ignored, not bad
        json.dumps({"annotation": {}}),                            # 4 missing image_name
        json.dumps({"image_name": "rgb.jpg"}),                     # 5 missing annotation
        json.dumps({"image_name": "nope.jpg", "annotation": {}}),  # 6 missing image
        json.dumps({"image_name": "broken.jpg", "annotation": {}}),  # 7 unreadable image
        good[1],                                                   # 8
        json.dumps([1, 2]),                                        # 9 not an object
    ]
    path = jsonl.with_name("bad.jsonl")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, root, [2, 4, 5, 6, 7, 9]


def test_bad_lines_are_skipped_and_reported(jsonl_dataset, triple_paths, caplog) -> None:
    path, root, bad = _bad_jsonl(jsonl_dataset)
    with caplog.at_level(logging.WARNING, logger="dataset.convert"):
        stats = _convert(path, root, triple_paths)
    assert stats.num_written == 2
    assert [line for line, _ in stats.skipped] == bad
    reasons = dict(stats.skipped)
    assert "invalid JSON" in reasons[2] and "image_name" in reasons[4] and "annotation" in reasons[5]
    assert "not found" in reasons[6] and "unreadable" in reasons[7]
    for line in bad:
        assert f"line {line}:" in caplog.text
    records = jsonl_dataset[2]
    assert [TsvReader(*triple_paths).read_annotation(i)[1] for i in range(2)] == [records[0][1], records[1][1]]


def test_strict_mode_fails_without_output(jsonl_dataset, triple_paths) -> None:
    path, root, bad = _bad_jsonl(jsonl_dataset)
    with pytest.raises(ConversionError, match="6 bad line") as info:
        _convert(path, root, triple_paths, strict=True)
    for line in bad:
        assert f"line {line}:" in str(info.value)
    assert not any(os.path.exists(p) for p in triple_paths)
