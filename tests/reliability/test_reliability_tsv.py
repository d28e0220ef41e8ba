"""Bad TSV triples: every failure is a TsvFormatError (or OSError) naming the file and sample/line."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from reliability_helpers import (
    jpeg_bytes,
    lines,
    no_temporaries,
    replace_line,
    rewrite_lineidx_for,
    write_triple,
)

from dataset.tsv import TsvFormatError, TsvPaths, TsvReader, TsvWriter, load_lineidx


def _set_lineidx(paths: TsvPaths, text: str) -> None:
    Path(paths.lineidx).write_text(text)


def _ann_offsets(paths: TsvPaths) -> list[int]:
    return [int(x) for x in Path(paths.lineidx).read_text().split()]


def _truncate(path: str, keep: float) -> None:
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])


# Each case: corrupt a valid 3-sample triple, then reading `sample` must fail with all of `expect` in the message.
# `file` names which path must appear: "ann", "img" or "idx".
def _mid_line(p: TsvPaths, skip: int) -> None:
    offsets = _ann_offsets(p)
    offsets[1] += skip
    _set_lineidx(p, "".join(f"{o}\n" for o in offsets))


def _tab(p: TsvPaths, index: int) -> int:
    return lines(p.ann_tsv)[index].index(b"\t")


def _image_field(p: TsvPaths, field: bytes) -> None:
    replace_line(p.image_tsv, 1, lines(p.image_tsv)[1].split(b"\t")[0] + b"\t" + field)


def _ann_line(p: TsvPaths, text: bytes) -> None:
    replace_line(p.ann_tsv, 1, text)
    rewrite_lineidx_for(p)


def _image_offset_past_eof(p: TsvPaths) -> None:
    size = Path(p.image_tsv).stat().st_size
    _ann_line(p, b"%d\t{}" % (size + 100))


def _image_line_one_column(p: TsvPaths) -> None:
    replace_line(p.image_tsv, 1, lines(p.image_tsv)[1].replace(b"\t", b""))


READ_CASES: dict[str, tuple[Callable[[TsvPaths], None], int, str, tuple[str, ...]]] = {
    "lineidx offset past EOF": (lambda p: _set_lineidx(p, "0\n99999\n"), 1, "ann", ("sample 1", "past the end")),
    "lineidx points mid-line (at the tab)": (lambda p: _mid_line(p, _tab(p, 1)), 1, "ann", ("sample 1", "bad image offset")),
    "lineidx points mid-line (inside the offset)": (lambda p: _mid_line(p, 1), 1, "img", ("sample 1", "columns")),
    "lineidx points mid-line (in the JSON)": (lambda p: _mid_line(p, 8), 1, "ann", ("sample 1", "columns")),
    "annotations.tsv empty": (lambda p: Path(p.ann_tsv).write_bytes(b""), 0, "ann", ("sample 0", "past the end")),
    "annotation line has 3 columns": (lambda p: _ann_line(p, b'0\t{}\textra'), 1, "ann", ("sample 1", "got 3")),
    "annotation line has 1 column": (lambda p: _ann_line(p, b'{"boxes": []}'), 1, "ann", ("sample 1", "got 1")),
    "image offset not an integer": (lambda p: _ann_line(p, b"abc\t{}"), 1, "ann", ("sample 1", "bad image offset")),
    "image offset negative": (lambda p: _ann_line(p, b"-5\t{}"), 1, "ann", ("sample 1", "negative image offset")),
    "annotation JSON invalid": (lambda p: _ann_line(p, b'0\t{"boxes": [}'), 1, "ann", ("sample 1", "invalid annotation JSON")),
    "annotation JSON not an object": (lambda p: _ann_line(p, b"0\t[1, 2]"), 1, "ann", ("sample 1", "JSON object")),
    "annotation not UTF-8": (lambda p: _ann_line(p, b'0\t{"p": "\xff\xfe"}'), 1, "ann", ("sample 1", "invalid annotation JSON")),
    "annotations.tsv truncated mid-JSON": (lambda p: _truncate(p.ann_tsv, 0.9), 2, "ann", ("sample 2",)),
    "image offset past EOF": (_image_offset_past_eof, 1, "img", ("sample 1", "past the end")),
    "image line has 1 column": (_image_line_one_column, 1, "img", ("sample 1", "columns")),
    "bad base64": (lambda p: _image_field(p, b"@@not base64@@"), 1, "img", ("sample 1", "invalid base64")),
    "non-image bytes": (lambda p: _image_field(p, base64.b64encode(b"hello, not a jpeg")), 1, "img",
                        ("sample 1", "cannot decode image")),
    "truncated JPEG payload": (lambda p: _image_field(p, base64.b64encode(jpeg_bytes((64, 64))[:200])), 1, "img",
                               ("sample 1", "cannot decode image")),
    "images.tsv truncated mid-base64": (lambda p: _truncate(p.image_tsv, 0.95), 2, "img", ("sample 2",)),
    "images.tsv empty": (lambda p: Path(p.image_tsv).write_bytes(b""), 0, "img", ("sample 0", "past the end")),
}


@pytest.mark.parametrize("case", list(READ_CASES))
def test_bad_triple_read_names_file_and_sample(tmp_path: Path, case: str) -> None:
    corrupt, sample, which, expect = READ_CASES[case]
    paths = write_triple(tmp_path)
    corrupt(paths)
    reader = TsvReader(*paths)
    with pytest.raises(TsvFormatError) as info:
        reader.read(sample)
    message = str(info.value)
    assert {"ann": paths.ann_tsv, "img": paths.image_tsv}[which] in message
    for fragment in expect:
        assert fragment in message, message
    # The other samples stay readable: one bad line never poisons the reader.
    if case not in ("annotations.tsv empty", "images.tsv empty"):
        reader.read(0)


LINEIDX_CASES = {
    "non-integer line": ("0\nabc\n10\n", ("line 2", "expected one integer")),
    "float offset": ("0\n1.5\n", ("line 2",)),
    "two numbers on a line": ("0\n5 6\n", ("line 2",)),
    "negative offset": ("-1\n", ("line 1", "negative")),
    "overflowing offset": ("0\n" + "9" * 30 + "\n", ("line 2",)),
}


@pytest.mark.parametrize("case", list(LINEIDX_CASES))
def test_bad_lineidx_line_is_named(tmp_path: Path, case: str) -> None:
    text, expect = LINEIDX_CASES[case]
    path = tmp_path / "x.lineidx"
    path.write_text(text)
    with pytest.raises(TsvFormatError) as info:
        load_lineidx(path)
    assert str(path) in str(info.value)
    for fragment in expect:
        assert fragment in str(info.value)


def test_empty_lineidx_is_an_empty_dataset(tmp_path: Path) -> None:
    paths = write_triple(tmp_path)
    _set_lineidx(paths, "")
    reader = TsvReader(*paths)
    assert len(reader) == 0
    with pytest.raises(TsvFormatError, match=r"sample 0: index out of range \[0, 0\)"):
        reader.read(0)


def test_missing_lineidx_names_the_path(tmp_path: Path) -> None:
    paths = write_triple(tmp_path)
    Path(paths.lineidx).unlink()
    with pytest.raises(FileNotFoundError, match=str(paths.lineidx)):
        TsvReader(*paths)


def test_missing_images_file_names_the_path(tmp_path: Path) -> None:
    paths = write_triple(tmp_path)
    Path(paths.image_tsv).unlink()
    with pytest.raises(FileNotFoundError, match=str(paths.image_tsv)):
        TsvReader(*paths).read(0)


@pytest.mark.parametrize("index", [-1, 3, 10**9, "1", 1.0, True])
def test_bad_index(tmp_path: Path, index: object) -> None:
    reader = TsvReader(*write_triple(tmp_path))
    with pytest.raises(TsvFormatError, match="sample"):
        reader.read(index)  # type: ignore[arg-type]


def test_writer_error_leaves_no_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = TsvPaths.from_prefix(out / "a")
    with pytest.raises(TypeError), TsvWriter(*paths) as writer:
        writer.add(jpeg_bytes(), {"ok": 1})
        writer.add(jpeg_bytes(), {"bad": object()})  # not JSON-serialisable
    assert not any(Path(p).exists() for p in paths)
    assert no_temporaries(out)


def test_writer_error_keeps_previous_outputs(tmp_path: Path) -> None:
    paths = write_triple(tmp_path)
    before = [Path(p).read_bytes() for p in paths]
    with pytest.raises(RuntimeError), TsvWriter(*paths) as writer:
        writer.add(jpeg_bytes(), {})
        raise RuntimeError("crash mid-write")
    assert [Path(p).read_bytes() for p in paths] == before
    assert no_temporaries(tmp_path)
