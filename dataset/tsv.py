"""The TSV triple: the one place that knows the on-disk dataset format.

A dataset is three files:

* ``*.images.tsv``: ``{own byte offset}\\t{base64 image}\\n``
* ``*.annotations.tsv``: ``{byte offset of the image line}\\t{annotation JSON}\\n`` (UTF-8)
* ``*.annotations.tsv.lineidx``: ``{byte offset of annotation line i}\\n``; sample i is line i.

Files are read and written in binary mode so byte offsets never depend on the locale.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

import numpy as np
from PIL import Image

__all__ = [
    "TsvFormatError",
    "TsvPaths",
    "TsvReader",
    "TsvWriter",
    "encode_image",
    "load_lineidx",
]

PathLike = str | os.PathLike[str]
_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class TsvFormatError(ValueError):
    """A TSV triple is malformed; the message names the file, sample index and byte offset."""


class TsvPaths(NamedTuple):
    """Paths of one TSV triple."""

    image_tsv: str
    ann_tsv: str
    lineidx: str

    @classmethod
    def from_prefix(cls, prefix: PathLike) -> TsvPaths:
        """The triple named by ``prefix``: ``{prefix}.images.tsv``, ``{prefix}.annotations.tsv`` and
        ``{prefix}.annotations.tsv.lineidx`` (how the converters, the toy data and the configs name them)."""
        prefix = os.fspath(prefix)
        return cls(f"{prefix}.images.tsv", f"{prefix}.annotations.tsv", f"{prefix}.annotations.tsv.lineidx")

    def dataset_kwargs(self) -> dict[str, str]:
        """The three file arguments of the TSV datasets: ``img_tsv_file``, ``ann_tsv_file``, ``ann_lineidx_file``."""
        return {"img_tsv_file": self.image_tsv, "ann_tsv_file": self.ann_tsv, "ann_lineidx_file": self.lineidx}


def load_lineidx(path: PathLike) -> np.ndarray:
    """Read a ``.lineidx`` file into an int64 array of byte offsets (one per sample).

    Raises ``TsvFormatError`` naming the file and 1-based line number of a bad line.
    """
    data = Path(path).read_bytes()
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    data = data.rstrip(b"\n")
    if not data:
        return np.zeros(0, dtype=np.int64)
    num_lines = data.count(b"\n") + 1
    offsets = _parse_lineidx_fast(data)
    if offsets is None or offsets.shape[0] != num_lines:
        offsets = _parse_lineidx_slow(path, data.split(b"\n"))
    negative = np.flatnonzero(offsets < 0)
    if negative.size:
        line_no = int(negative[0]) + 1
        raise TsvFormatError(f"{path}: line {line_no}: negative byte offset {int(offsets[negative[0]])}")
    return offsets


def _parse_lineidx_fast(data: bytes) -> np.ndarray | None:
    """C-speed parse (about 1 s per 10M lines); None when the text needs the checking slow path."""
    # fromstring skips any whitespace, so blank lines or two numbers on a line would go unnoticed.
    if b"\n\n" in data or data.startswith(b"\n") or b" " in data or b"\t" in data:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy warns (not raises) on trailing junk
        try:
            offsets = np.fromstring(data, dtype=np.int64, sep="\n")
        except (ValueError, DeprecationWarning):
            return None
    if offsets.size and offsets.max() == np.iinfo(np.int64).max:  # fromstring saturates on overflow
        return None
    return offsets


def _parse_lineidx_slow(path: PathLike, lines: list[bytes]) -> np.ndarray:
    """Line-by-line parse, used only to find (and name) the bad line."""
    values = np.empty(len(lines), dtype=np.int64)
    for line_no, line in enumerate(lines, start=1):
        try:
            values[line_no - 1] = int(line.strip())
        except (ValueError, OverflowError):
            raise TsvFormatError(
                f"{path}: line {line_no}: expected one integer byte offset, got {line[:40]!r}"
            ) from None
    return values


def encode_image(img: Image.Image, fmt: str = "JPEG", quality: int = 95) -> bytes:
    """Encode a PIL image to bytes; for JPEG any mode (L, RGBA, P, ...) is converted to RGB first."""
    fmt = fmt.upper()
    if fmt in ("JPEG", "JPG"):
        fmt = "JPEG"
        if img.mode == "P":
            img = img.convert("RGBA")  # palette transparency is only honoured via RGBA
        if img.mode != "RGB":
            img = img.convert("RGB")
    elif fmt == "PNG" and img.mode not in _PNG_MODES:
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, format=fmt, quality=quality)
    else:
        img.save(buf, format=fmt)
    return buf.getvalue()


def _split_line(line: bytes) -> list[bytes]:
    return line.rstrip(b"\r\n").split(b"\t")


def _decode_base64_field(field: bytes) -> bytes:
    # Some producers wrote a Python bytes repr (b'...'); strip the prefix and the closing quote.
    if field.startswith(b"b'") and field.endswith(b"'") and len(field) >= 3:
        field = field[2:-1]
    return base64.b64decode(field, validate=True)


class TsvReader:
    """Random access to a TSV triple; safe to pickle and to use across forked workers.

    Args:
        image_tsv: path of ``*.images.tsv``.
        ann_tsv: path of ``*.annotations.tsv``.
        lineidx: path of ``*.annotations.tsv.lineidx``.
    """

    def __init__(self, image_tsv: PathLike, ann_tsv: PathLike, lineidx: PathLike) -> None:
        self.image_tsv = os.fspath(image_tsv)
        self.ann_tsv = os.fspath(ann_tsv)
        self.lineidx = os.fspath(lineidx)
        for role, path in (("image TSV", self.image_tsv), ("annotation TSV", self.ann_tsv)):
            if not os.path.isfile(path):  # files open lazily: fail at build time, not mid-run
                raise FileNotFoundError(f"{role} not found: {path}")
        self.offsets = load_lineidx(self.lineidx)
        self._img_fh: IO[bytes] | None = None
        self._ann_fh: IO[bytes] | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_img_fh=None, _ann_fh=None, _pid=None)
        return state

    def __enter__(self) -> TsvReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close open file handles (they are reopened lazily on the next read)."""
        for fh in (self._img_fh, self._ann_fh):
            if fh is not None:
                fh.close()
        self._img_fh = self._ann_fh = None
        self._pid = None

    def _handles(self) -> tuple[IO[bytes], IO[bytes]]:
        # A handle inherited through fork shares its file position with the parent: reopen.
        if self._pid != os.getpid() or self._img_fh is None or self._ann_fh is None:
            self._img_fh = open(self.image_tsv, "rb")
            self._ann_fh = open(self.ann_tsv, "rb")
            self._pid = os.getpid()
        return self._img_fh, self._ann_fh

    def _error(self, path: str, index: int | None, offset: int, reason: str) -> TsvFormatError:
        where = f"sample {index}" if index is not None else "sample ?"
        return TsvFormatError(f"{path}: {where} at byte offset {offset}: {reason}")

    def _check_index(self, index: int) -> int:
        n = len(self)
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TsvFormatError(f"{self.lineidx}: sample index must be an int, got {type(index).__name__}")
        if not 0 <= index < n:
            raise TsvFormatError(f"{self.lineidx}: sample {index}: index out of range [0, {n})")
        return int(index)

    def read_annotation(self, index: int) -> tuple[int, dict[str, Any]]:
        """Return ``(image byte offset, annotation dict)`` of sample ``index``."""
        index = self._check_index(index)
        offset = int(self.offsets[index])
        _, ann_fh = self._handles()
        ann_fh.seek(offset)
        line = ann_fh.readline()
        if not line:
            raise self._error(self.ann_tsv, index, offset, "offset is past the end of the file")
        fields = _split_line(line)
        if len(fields) != 2:
            raise self._error(self.ann_tsv, index, offset, f"expected 2 tab-separated columns, got {len(fields)}")
        try:
            image_offset = int(fields[0])
        except ValueError:
            raise self._error(self.ann_tsv, index, offset, f"bad image offset {fields[0][:40]!r}") from None
        if image_offset < 0:
            raise self._error(self.ann_tsv, index, offset, f"negative image offset {image_offset}")
        try:
            annotation = json.loads(fields[1])
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._error(self.ann_tsv, index, offset, f"invalid annotation JSON ({exc})") from None
        if not isinstance(annotation, dict):
            raise self._error(
                self.ann_tsv, index, offset, f"annotation must be a JSON object, got {type(annotation).__name__}"
            )
        return image_offset, annotation

    def read_image_at(self, offset: int, index: int | None = None) -> Image.Image:
        """Decode the image whose line starts at byte ``offset`` of images.tsv, as RGB.

        ``index`` is only used in error messages.
        """
        img_fh, _ = self._handles()
        img_fh.seek(offset)
        line = img_fh.readline()
        if not line:
            raise self._error(self.image_tsv, index, offset, "offset is past the end of the file")
        fields = _split_line(line)
        if len(fields) != 2:
            raise self._error(
                self.image_tsv, index, offset, f"expected 2 tab-separated columns, got {len(fields)}"
            )
        try:
            raw = _decode_base64_field(fields[1])
        except (binascii.Error, ValueError) as exc:
            raise self._error(self.image_tsv, index, offset, f"invalid base64 ({exc})") from None
        try:
            with Image.open(io.BytesIO(raw)) as img:
                return img.convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise self._error(self.image_tsv, index, offset, f"cannot decode image ({exc})") from None

    def read(self, index: int) -> tuple[Image.Image, dict[str, Any]]:
        """Return ``(RGB image, annotation dict)`` of sample ``index``."""
        image_offset, annotation = self.read_annotation(index)
        return self.read_image_at(image_offset, index=index), annotation


class TsvWriter:
    """Write a TSV triple atomically: outputs appear only when the ``with`` block exits cleanly.

    Each file is written to a temporary sibling and ``os.replace``d into place on success; on an
    exception the temporaries are deleted and any previous outputs are left untouched.
    """

    def __init__(self, image_tsv: PathLike, ann_tsv: PathLike, lineidx: PathLike) -> None:
        self.paths = TsvPaths(os.fspath(image_tsv), os.fspath(ann_tsv), os.fspath(lineidx))
        self._tmp_paths: list[str] = []
        self._files: list[IO[bytes]] = []
        self._img_offset = 0
        self._ann_offset = 0
        self.num_written = 0

    def __enter__(self) -> TsvWriter:
        try:
            for path in self.paths:
                directory = os.path.dirname(os.path.abspath(path))
                os.makedirs(directory, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
                self._tmp_paths.append(tmp)
                self._files.append(os.fdopen(fd, "wb"))
        except BaseException:
            self._discard()
            raise
        return self

    def add(self, image_bytes: bytes, annotation: dict[str, Any]) -> int:
        """Append one sample (encoded JPEG/PNG bytes and its annotation); returns its index."""
        if not self._files:
            raise RuntimeError("TsvWriter.add() called outside its 'with' block")
        img_fh, ann_fh, idx_fh = self._files
        b64 = base64.b64encode(image_bytes)
        img_line = b"%d\t%s\n" % (self._img_offset, b64)
        ann_json = json.dumps(annotation, ensure_ascii=False).encode("utf-8")
        ann_line = b"%d\t%s\n" % (self._img_offset, ann_json)
        img_fh.write(img_line)
        ann_fh.write(ann_line)
        idx_fh.write(b"%d\n" % self._ann_offset)
        self._img_offset += len(img_line)
        self._ann_offset += len(ann_line)
        self.num_written += 1
        return self.num_written - 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            for fh in self._files:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
            mode = 0o666 & ~_current_umask()  # mkstemp creates 0600; use normal file permissions
            for tmp, path in zip(self._tmp_paths, self.paths):
                os.chmod(tmp, mode)
                os.replace(tmp, path)
        except BaseException:
            self._discard()
            raise
        self._files, self._tmp_paths = [], []

    def _discard(self) -> None:
        for fh in self._files:
            fh.close()
        for tmp in self._tmp_paths:
            if os.path.exists(tmp):
                os.remove(tmp)
        self._files, self._tmp_paths = [], []
