"""Bad converter inputs: bad lines are skipped and counted by line number; strict mode, unwritable
outputs and a SIGKILL mid-run leave no output at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from reliability_helpers import jpeg_bytes, leftover_files, no_temporaries, write_jsonl

from dataset.convert import ConversionError, convert_jsonl_to_tsv
from dataset.tsv import TsvPaths, TsvReader
from tools.convert_json_data_to_tsv import main as convert_cli

REPO = Path(__file__).resolve().parents[2]
GOOD = {"boxes": [{"bbox": [1, 1, 10, 10], "phrase": "cat"}]}


def _images(root: Path, names: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).write_bytes(jpeg_bytes())


def _outputs(tmp_path: Path) -> TsvPaths:
    return TsvPaths.from_prefix(tmp_path / "out" / "x")


# Line 2 (1-based) of a 3-line JSONL is replaced by the bad input; the reason must name the problem.
BAD_LINES: dict[str, tuple[str | None, dict[str, Any] | None, str]] = {
    "invalid JSON": ('{"image_name": "b.jpg", "annotation": {', None, "invalid JSON"),
    "not an object": ("[1, 2, 3]", None, "not a JSON object"),
    "missing image_name": (None, {"annotation": GOOD}, "missing key 'image_name'"),
    "missing annotation": (None, {"image_name": "b.jpg"}, "missing key 'annotation'"),
    "image_name not a string": (None, {"image_name": 7, "annotation": GOOD}, "'image_name' must be a non-empty string"),
    "annotation not an object": (None, {"image_name": "b.jpg", "annotation": [1]}, "'annotation' must be a JSON object"),
    "missing image file": (None, {"image_name": "missing.jpg", "annotation": GOOD}, "image not found"),
    "unreadable image": (None, {"image_name": "garbage.jpg", "annotation": GOOD}, "unreadable image"),
    "truncated image": (None, {"image_name": "truncated.png", "annotation": GOOD}, "unreadable image"),
}


def _bad_jsonl(tmp_path: Path, case: str) -> tuple[Path, Path]:
    raw, record, _ = BAD_LINES[case]
    root = tmp_path / "images"
    _images(root, ["a.jpg", "b.jpg", "c.jpg"])
    (root / "garbage.jpg").write_bytes(b"this is not an image")
    png = root / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(png)
    (root / "truncated.png").write_bytes(png.read_bytes()[:300])
    records: list[Any] = [{"image_name": n, "annotation": GOOD} for n in ("a.jpg", "b.jpg", "c.jpg")]
    if record is not None:
        records[1] = record
    return write_jsonl(tmp_path, records, {1: raw} if raw is not None else None), root


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_bad_line_is_skipped_and_counted(tmp_path: Path, case: str) -> None:
    jsonl, root = _bad_jsonl(tmp_path, case)
    outputs = _outputs(tmp_path)
    stats = convert_jsonl_to_tsv(str(jsonl), str(root), *outputs, progress=False)
    assert stats.num_written == 2
    assert len(stats.skipped) == 1 and stats.skipped[0][0] == 2, stats.skipped
    assert BAD_LINES[case][2] in stats.skipped[0][1]
    assert len(TsvReader(*outputs)) == 2


@pytest.mark.parametrize("case", ["invalid JSON", "missing image file"])
def test_strict_writes_nothing(tmp_path: Path, case: str) -> None:
    jsonl, root = _bad_jsonl(tmp_path, case)
    outputs = _outputs(tmp_path)
    with pytest.raises(ConversionError, match=rf"{jsonl}: 1 bad line\(s\):\n  line 2: "):
        convert_jsonl_to_tsv(str(jsonl), str(root), *outputs, strict=True, progress=False)
    assert leftover_files(tmp_path / "out") == []


def test_strict_cli_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    jsonl, root = _bad_jsonl(tmp_path, "unreadable image")
    outputs = _outputs(tmp_path)
    argv = ["--json_file", str(jsonl), "--image_root_path", str(root), "--save_image_tsv_path", outputs[0],
            "--save_ann_tsv_path", outputs[1], "--save_ann_lineidx_path", outputs[2], "--strict"]
    assert convert_cli(argv) == 1
    assert leftover_files(tmp_path / "out") == []


def test_output_dir_not_writable(tmp_path: Path) -> None:
    jsonl, root = _bad_jsonl(tmp_path, "invalid JSON")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the output folder should be")
    outputs = TsvPaths.from_prefix(blocker / "sub" / "x")
    with pytest.raises(OSError) as info:
        convert_jsonl_to_tsv(str(jsonl), str(root), *outputs, progress=False)
    assert str(blocker) in str(info.value)
    assert blocker.read_text().startswith("a file")


def test_missing_jsonl_names_the_path(tmp_path: Path) -> None:
    outputs = _outputs(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        convert_jsonl_to_tsv(str(tmp_path / "nope.jsonl"), str(tmp_path), *outputs, progress=False)
    assert not (tmp_path / "out").exists() or leftover_files(tmp_path / "out") == []


def test_all_lines_bad_counts_every_line(tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path, [{"image_name": f"m{i}.jpg", "annotation": GOOD} for i in range(4)])
    stats = convert_jsonl_to_tsv(str(jsonl), str(tmp_path), *_outputs(tmp_path), progress=False)
    assert stats.num_written == 0
    assert [line for line, _ in stats.skipped] == [1, 2, 3, 4]


@pytest.mark.slow
def test_sigkill_mid_conversion_leaves_no_outputs(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    noise = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "0.png")
    data = (root / "0.png").read_bytes()
    for i in range(1, 400):
        (root / f"{i}.png").write_bytes(data)
    jsonl = write_jsonl(tmp_path, [{"image_name": f"{i}.png", "annotation": GOOD} for i in range(400)])
    outputs = _outputs(tmp_path)
    cmd = [sys.executable, str(REPO / "tools" / "convert_json_data_to_tsv.py"), "--json_file", str(jsonl),
           "--image_root_path", str(root), "--save_image_tsv_path", outputs[0], "--save_ann_tsv_path",
           outputs[1], "--save_ann_lineidx_path", outputs[2]]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    out_dir = tmp_path / "out"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # wait for real progress: a temp images file with data
            temps = [p for p in out_dir.glob(".*.tmp")] if out_dir.exists() else []
            if any(p.stat().st_size > 1_000_000 for p in temps if p.exists()):
                break
            assert proc.poll() is None, "conversion finished before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no progress within 60 s")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not any(Path(p).exists() for p in outputs)  # only hidden temp files may remain
    assert all(name.startswith(".") for name in leftover_files(out_dir))
    assert no_temporaries(out_dir) is False  # documented limitation: SIGKILL cannot clean temps
