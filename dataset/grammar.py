"""Coordinate codec and answer grammar shared by task functions, rewards, evaluation and drawing.

Rex-Omni writes every coordinate as a bin ``<N>`` with ``N`` in ``0..999``, relative to the
*original* image size, and wraps each phrase's items in Qwen's grounding tokens::

    <|object_ref_start|>dog<|object_ref_end|><|box_start|><12><34><56><78>,<1><2><3><4><|box_end|>

Groups are joined by ``", "``, items inside a group by ``","``; an absent phrase is answered
``None``. Training quantises with ``int(clamp(c / L, 0, 1) * 999)`` and everything that reads
coordinates back (the released model's parser, our rewards) dequantises with ``bin / 999 * L``.
This module is pure Python: no torch, no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

NUM_BINS = 1000
MAX_BIN = NUM_BINS - 1

OBJ_START = "<|object_ref_start|>"
OBJ_END = "<|object_ref_end|>"
BOX_START = "<|box_start|>"
BOX_END = "<|box_end|>"
IM_END = "<|im_end|>"
NEGATIVE = "None"
GROUP_SEPARATOR = ", "
ITEM_SEPARATOR = ","

# One bin token. Digits only, so matching is linear; over-long numbers are clamped below.
_BIN_PATTERN = re.compile(r"<(\d+)>")
_MAX_DIGITS = 6


def quantize(coord: float, length: float) -> int:
    """Map a pixel coordinate on an axis of ``length`` pixels to a bin in ``0..999``."""
    if not math.isfinite(coord):
        raise ValueError(f"coordinate must be finite, got {coord!r}")
    if not length > 0:
        raise ValueError(f"image side must be positive, got {length!r}")
    return int(min(max(coord / length, 0.0), 1.0) * MAX_BIN)


def dequantize(bin_index: int, length: float) -> float:
    """Map a bin in ``0..999`` back to a pixel coordinate on an axis of ``length`` pixels."""
    return bin_index / MAX_BIN * length


def quantize_box(box: Sequence[float], width: float, height: float) -> tuple[int, int, int, int]:
    """Quantise an xyxy pixel box to four bins."""
    x0, y0, x1, y1 = box
    return (quantize(x0, width), quantize(y0, height), quantize(x1, width), quantize(y1, height))


def quantize_point(point: Sequence[float], width: float, height: float) -> tuple[int, int]:
    """Quantise an (x, y) pixel point to two bins."""
    x, y = point
    return (quantize(x, width), quantize(y, height))


def dequantize_box(bins: Sequence[int], width: float, height: float) -> tuple[float, float, float, float]:
    """Turn four bins back into an xyxy pixel box."""
    x0, y0, x1, y1 = bins
    return (dequantize(x0, width), dequantize(y0, height), dequantize(x1, width), dequantize(y1, height))


def dequantize_point(bins: Sequence[int], width: float, height: float) -> tuple[float, float]:
    """Turn two bins back into an (x, y) pixel point."""
    x, y = bins
    return (dequantize(x, width), dequantize(y, height))


def format_bins(bins: Iterable[int]) -> str:
    """``[12, 34]`` -> ``"<12><34>"``."""
    return "".join(f"<{int(b)}>" for b in bins)


def compose_group(phrase: str, items: Sequence[Sequence[int]] | None) -> str:
    """One phrase group; ``items`` of ``None`` or empty writes the negative answer ``None``."""
    body = ITEM_SEPARATOR.join(format_bins(item) for item in items) if items else NEGATIVE
    return f"{OBJ_START}{phrase}{OBJ_END}{BOX_START}{body}{BOX_END}"


def compose_answer(groups: Iterable[tuple[str, Sequence[Sequence[int]] | None]]) -> str:
    """Join phrase groups, in the given order, with ``", "``."""
    return GROUP_SEPARATOR.join(compose_group(phrase, items) for phrase, items in groups)


@dataclass(frozen=True)
class ParsedItem:
    """One coordinate item: ``box`` (4 bins), ``point`` (2) or ``polygon`` (even count > 4)."""

    kind: str
    bins: tuple[int, ...]


@dataclass
class ParsedGroup:
    """One phrase group as the model wrote it."""

    phrase: str
    items: list[ParsedItem] = field(default_factory=list)
    negative: bool = False

    def of_kind(self, kind: str) -> list[tuple[int, ...]]:
        """Bins of the items of one kind (``box``, ``point`` or ``polygon``)."""
        return [item.bins for item in self.items if item.kind == kind]


def _bin_value(digits: str) -> int:
    # int() refuses strings over 4300 digits; anything over 6 digits is far out of range anyway.
    if len(digits) > _MAX_DIGITS:
        return MAX_BIN
    return min(int(digits), MAX_BIN)


def parse_items(body: str) -> list[ParsedItem]:
    """Parse a group body such as ``"<1><2><3><4>,<5><6>"``; malformed or truncated items are dropped."""
    items = []
    for chunk in body.split(ITEM_SEPARATOR):
        bins = tuple(_bin_value(d) for d in _BIN_PATTERN.findall(chunk))
        count = len(bins)
        if count == 2:
            items.append(ParsedItem("point", bins))
        elif count == 4:
            items.append(ParsedItem("box", bins))
        elif count > 4 and count % 2 == 0:
            items.append(ParsedItem("polygon", bins))
    return items


class _Finder:
    """``str.find`` that remembers a miss, so repeated searches stay linear overall."""

    def __init__(self, text: str, needle: str) -> None:
        self.text, self.needle, self._last = text, needle, -2

    def find(self, start: int) -> int:
        if self._last == -1 or self._last >= start:
            return self._last
        self._last = self.text.find(self.needle, start)
        return self._last


def parse_answer(text: str) -> list[ParsedGroup]:
    """Parse a model answer into phrase groups. Never raises; runs in linear time.

    Tolerates whitespace around tokens, a missing final ``<|box_end|>``, text after
    ``<|im_end|>`` (ignored), truncated items (dropped) and junk between groups (skipped).
    """
    if not isinstance(text, str):
        return []
    end = text.find(IM_END)
    if end >= 0:
        text = text[:end]
    obj_end, box_end = _Finder(text, OBJ_END), _Finder(text, BOX_END)
    obj_start = _Finder(text, OBJ_START)
    groups: list[ParsedGroup] = []
    pos = 0
    while True:
        start = obj_start.find(pos)
        if start < 0:
            break
        close = obj_end.find(start + len(OBJ_START))
        if close < 0:
            break
        # A repeated start inside the phrase means the first one was junk: keep the last one.
        phrase_start = text.rfind(OBJ_START, start, close) + len(OBJ_START)
        phrase = text[phrase_start:close].strip()
        cursor = close + len(OBJ_END)
        while cursor < len(text) and text[cursor].isspace():
            cursor += 1
        if not text.startswith(BOX_START, cursor):
            pos = cursor
            continue
        body_start = cursor + len(BOX_START)
        next_group = obj_start.find(body_start)
        body_end = box_end.find(body_start)
        if body_end < 0 or (0 <= next_group < body_end):
            body_end = next_group if next_group >= 0 else len(text)
            pos = body_end
        else:
            pos = body_end + len(BOX_END)
        body = text[body_start:body_end]
        negative = body.strip() == NEGATIVE
        groups.append(ParsedGroup(phrase, [] if negative else parse_items(body), negative))
    return groups
