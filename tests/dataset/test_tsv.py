"""Tests for dataset/tsv.py: the TSV triple reader, writer and lineidx loader."""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset.tsv import TsvFormatError, TsvPaths, TsvReader, TsvWriter, encode_image, load_lineidx


def _jpeg(seed: int, size: tuple[int, int] = (24, 16)) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    return encode_image(Image.fromarray(arr), "JPEG", 90)


ANNS = [
    {"boxes": [{"bbox": [1, 2, 3, 4], "phrase": "cat"}]},
    {"points": [{"point": [5.5, 6.5], "phrase": "ünïcödé 狗 — dash"}]},
    {"boxes": [{"bbox": None, "phrase": "tab\tand\nnewline"}]},
]


@pytest.fixture
def written(triple_paths: TsvPaths) -> tuple[TsvPaths, list[bytes]]:
    images = [_jpeg(i) for i in range(len(ANNS))]
    with TsvWriter(*triple_paths) as writer:
        for img, ann in zip(images, ANNS):
            writer.add(img, ann)
    return triple_paths, images


def _write_raw(tmp_path: Path, image_lines: list[bytes], ann_lines: list[bytes], offsets: list[int]) -> TsvPaths:
    paths = TsvPaths(str(tmp_path / "r.images.tsv"), str(tmp_path / "r.ann.tsv"), str(tmp_path / "r.lineidx"))
    Path(paths.image_tsv).write_bytes(b"".join(image_lines))
    Path(paths.ann_tsv).write_bytes(b"".join(ann_lines))
    Path(paths.lineidx).write_bytes(b"".join(b"%d\n" % o for o in offsets))
    return paths


def test_roundtrip_and_independent_offsets(written, triple_checker) -> None:
    paths, images = written
    samples = triple_checker(paths)
    reader = TsvReader(*paths)
    assert len(reader) == len(ANNS)
    for i, (img_off, b64, ann_json) in enumerate(samples):
        assert base64.b64decode(b64) == images[i]
        assert json.loads(ann_json) == ANNS[i]
        assert reader.read_annotation(i) == (img_off, ANNS[i])
        image, ann = reader.read(i)
        assert ann == ANNS[i] and image.mode == "RGB"
        expected = Image.open(io.BytesIO(images[i])).convert("RGB")
        assert np.array_equal(np.asarray(image), np.asarray(expected))


def test_writer_bytes_match_original_format(written) -> None:
    paths, images = written
    img_lines, ann_lines, idx_lines, img_off, ann_off = [], [], [], 0, 0
    for img, ann in zip(images, ANNS):
        img_line = f"{img_off}\t{base64.b64encode(img).decode('ascii')}\n".encode()
        ann_line = f"{img_off}\t{json.dumps(ann, ensure_ascii=False)}\n".encode()
        idx_lines.append(f"{ann_off}\n".encode())
        img_lines.append(img_line)
        ann_lines.append(ann_line)
        img_off += len(img_line)
        ann_off += len(ann_line)
    assert Path(paths.image_tsv).read_bytes() == b"".join(img_lines)
    assert Path(paths.ann_tsv).read_bytes() == b"".join(ann_lines)
    assert Path(paths.lineidx).read_bytes() == b"".join(idx_lines)


def test_writer_exception_leaves_no_output(triple_paths: TsvPaths) -> None:
    with pytest.raises(RuntimeError, match="boom"), TsvWriter(*triple_paths) as writer:
        writer.add(_jpeg(0), ANNS[0])
        raise RuntimeError("boom")
    out_dir = Path(triple_paths.image_tsv).parent
    assert list(out_dir.iterdir()) == []


def test_writer_failure_keeps_previous_outputs(written) -> None:
    paths, _ = written
    before = [Path(p).read_bytes() for p in paths]
    with pytest.raises(KeyError), TsvWriter(*paths) as writer:
        writer.add(_jpeg(9), {"other": 1})
        raise KeyError("x")
    assert [Path(p).read_bytes() for p in paths] == before
    assert sorted(os.listdir(Path(paths.image_tsv).parent)) == sorted(os.path.basename(p) for p in paths)


def test_writer_add_outside_context(triple_paths: TsvPaths) -> None:
    with pytest.raises(RuntimeError, match="outside"):
        TsvWriter(*triple_paths).add(b"x", {})


def test_load_lineidx_is_int64(tmp_path: Path) -> None:
    path = tmp_path / "x.lineidx"
    values = np.arange(0, 5_000_000_000, 50_000_000, dtype=np.int64)  # beyond int32
    path.write_bytes(b"".join(b"%d\r\n" % v for v in values))
    loaded = load_lineidx(path)
    assert loaded.dtype == np.int64 and np.array_equal(loaded, values)
    (tmp_path / "empty").write_bytes(b"")
    assert load_lineidx(tmp_path / "empty").shape == (0,)


@pytest.mark.parametrize("content, line", [(b"0\n12\nabc\n7\n", 3), (b"0\n\n5\n", 2), (b"0\n-4\n", 2), (b"0 1\n", 1)])
def test_load_lineidx_bad_line(tmp_path: Path, content: bytes, line: int) -> None:
    path = tmp_path / "bad.lineidx"
    path.write_bytes(content)
    with pytest.raises(TsvFormatError, match=rf"bad\.lineidx: line {line}:"):
        load_lineidx(path)


def _assert_error(reader: TsvReader, index: int, file: str, reason: str) -> None:
    with pytest.raises(TsvFormatError) as info:
        reader.read(index)
    msg = str(info.value)
    assert file in msg and f"sample {index}" in msg and "byte offset" in msg and reason in msg, msg


def test_reader_errors_name_file_index_and_offset(tmp_path: Path) -> None:
    good = base64.b64encode(_jpeg(1))
    img_lines = [b"0\t" + good + b"\n", b"x\t!!notbase64!!\n", b"y\t" + base64.b64encode(b"not an image") + b"\n",
                 b"z\tA\tB\n"]
    starts = np.cumsum([0] + [len(x) for x in img_lines]).tolist()
    ann_lines = [
        b"0\t{bad json\n",                      # 0: invalid JSON
        b"0\t{}\textra\n",                      # 1: three columns
        b"%d\t{}\n" % starts[1],                # 2: bad base64
        b"%d\t{}\n" % starts[2],                # 3: base64 of non-image bytes
        b"%d\t{}\n" % starts[3],                # 4: image line with three columns
        b"999999\t{}\n",                        # 5: image offset past EOF
        b"0\t[1, 2]\n",                         # 6: JSON not an object
    ]
    ann_offsets = np.cumsum([0] + [len(x) for x in ann_lines]).tolist()
    paths = _write_raw(tmp_path, img_lines, ann_lines, ann_offsets[:-1] + [10**9])
    reader = TsvReader(*paths)
    _assert_error(reader, 0, paths.ann_tsv, "invalid annotation JSON")
    _assert_error(reader, 1, paths.ann_tsv, "expected 2 tab-separated columns, got 3")
    _assert_error(reader, 2, paths.image_tsv, "invalid base64")
    _assert_error(reader, 3, paths.image_tsv, "cannot decode image")
    _assert_error(reader, 4, paths.image_tsv, "expected 2 tab-separated columns, got 3")
    _assert_error(reader, 5, paths.image_tsv, "past the end of the file")
    _assert_error(reader, 6, paths.ann_tsv, "must be a JSON object")
    _assert_error(reader, 7, paths.ann_tsv, "past the end of the file")
    for bad in (-1, 8):
        with pytest.raises(TsvFormatError, match=rf"{paths.lineidx}: sample {bad}: index out of range"):
            reader.read(bad)


def test_reader_accepts_bytes_repr_wrapper(tmp_path: Path) -> None:
    jpeg = _jpeg(2)
    img_lines = [b"0\tb'" + base64.b64encode(jpeg) + b"'\n"]
    paths = _write_raw(tmp_path, img_lines, [b'0\t{"a": 1}\n'], [0])
    image, ann = TsvReader(*paths).read(0)
    assert ann == {"a": 1}
    assert np.array_equal(np.asarray(image), np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")))


def test_reader_pickles_without_handles(written) -> None:
    paths, _ = written
    reader = TsvReader(*paths)
    reader.read(0)  # opens handles
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._img_fh is None and clone.read(1)[1] == ANNS[1]
    reader.close()


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA", "CMYK", "1"])
def test_encode_image_converts_modes_for_jpeg(mode: str) -> None:
    img = Image.new("RGB", (8, 6), (200, 30, 40)).convert(mode)
    decoded = Image.open(io.BytesIO(encode_image(img)))
    assert decoded.format == "JPEG" and decoded.mode == "RGB"
    png = Image.open(io.BytesIO(encode_image(img, "PNG")))
    assert png.format == "PNG"


class _Samples:
    """Map-style dataset over a TsvReader, as a training dataset would wrap it."""

    def __init__(self, reader: TsvReader) -> None:
        self.reader = reader

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray, str]:
        image, ann = self.reader.read(i)
        return os.getpid(), np.asarray(image), json.dumps(ann)


def test_reader_in_forked_dataloader_workers(written) -> None:
    torch_data = pytest.importorskip("torch.utils.data")
    paths, images = written
    reader = TsvReader(*paths)
    reader.read(2)  # parent handles are open (and positioned) before the fork
    loader = torch_data.DataLoader(
        _Samples(reader), batch_size=None, num_workers=2, multiprocessing_context="fork",
        sampler=[2, 0, 1, 2, 1, 0] * 3,
    )
    pids = set()
    for (pid, image, ann_json), i in zip(loader, [2, 0, 1, 2, 1, 0] * 3):
        pids.add(int(pid))
        assert json.loads(ann_json) == ANNS[i]
        expected = np.asarray(Image.open(io.BytesIO(images[i])).convert("RGB"))
        assert np.array_equal(np.asarray(image), expected)
    assert os.getpid() not in pids and len(pids) == 2


@pytest.mark.parametrize("missing", ["image_tsv", "ann_tsv"])
def test_reader_names_a_missing_tsv_at_construction(tmp_path, missing):
    paths = {name: tmp_path / f"d.{name}" for name in ("image_tsv", "ann_tsv", "lineidx")}
    with TsvWriter(paths["image_tsv"], paths["ann_tsv"], paths["lineidx"]) as writer:
        writer.add(encode_image(Image.new("RGB", (32, 32))), {"boxes": []})
    paths[missing].unlink()
    with pytest.raises(FileNotFoundError, match=str(paths[missing])):
        TsvReader(paths["image_tsv"], paths["ann_tsv"], paths["lineidx"])


def test_paths_from_prefix_name_the_triple(tmp_path: Path) -> None:
    paths = TsvPaths.from_prefix(tmp_path / "coco_val")
    assert paths == (f"{tmp_path}/coco_val.images.tsv", f"{tmp_path}/coco_val.annotations.tsv",
                     f"{tmp_path}/coco_val.annotations.tsv.lineidx")
    assert paths.dataset_kwargs() == {"img_tsv_file": paths[0], "ann_tsv_file": paths[1], "ann_lineidx_file": paths[2]}
