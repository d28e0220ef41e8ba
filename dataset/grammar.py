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

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

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

# One bin token, spaces allowed inside (``< 740 >``, written by larger Qwen2.5-VL models). Leading
# zeros are skipped and at most 6 digits kept (int() refuses over 4300), so any longer number is
# still over 999 and clamps to it. Digits and spaces only, so matching stays linear.
_BIN_PATTERN = re.compile(r"<\s*0*(\d{1,6})\d*\s*>")
# Fast path for well-formed bodies (what a trained model writes): comma-separated boxes or points,
# recognised by their shape once the digits are deleted (str.translate runs at memcpy speed).
_NO_DIGITS = str.maketrans("", "", "0123456789")
_ITEM_SHAPES = (("box", "<><><><>,"), ("point", "<><>,"))
# Every 1-3 digit bin as written ("7", "07", "007") -> its value: a lookup is cheaper than int().
_BIN_OF_DIGITS = {f"{b:0{width}d}": b for width in (1, 2, 3) for b in range(10**width)}


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


class ParsedItem(NamedTuple):
    """One coordinate item: ``box`` (4 bins), ``point`` (2) or ``polygon`` (even count > 4)."""

    kind: str
    bins: tuple[int, ...]


class ParsedGroup:
    """One phrase group as the model wrote it: ``phrase``, ``items`` and ``negative`` (``None``).

    ``uniform`` is ``(kind, all bins in order)`` when every item has that kind; the items are then
    built only when asked for, and rewards read the bins without walking the items.
    """

    __slots__ = ("phrase", "negative", "uniform", "_items")

    def __init__(self, phrase: str, items: list[ParsedItem] | None = None, negative: bool = False,
                 uniform: tuple[str, list[int]] | None = None) -> None:
        self.phrase, self.negative, self.uniform = phrase, negative, uniform
        self._items = items if items is not None or uniform is not None else []

    @property
    def items(self) -> list[ParsedItem]:
        """The coordinate items in answer order."""
        if self._items is None:
            kind, bins = self.uniform  # type: ignore[misc]
            it = iter(bins)
            self._items = [ParsedItem(kind, item) for item in zip(*[it] * (4 if kind == "box" else 2))]
        return self._items

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParsedGroup):
            return NotImplemented
        return (self.phrase, self.items, self.negative) == (other.phrase, other.items, other.negative)

    def __repr__(self) -> str:
        return f"ParsedGroup(phrase={self.phrase!r}, items={self.items!r}, negative={self.negative!r})"

    def of_kind(self, kind: str) -> list[tuple[int, ...]]:
        """Bins of the items of one kind (``box``, ``point`` or ``polygon``)."""
        return [item.bins for item in self.items if item.kind == kind]

    def flat_bins(self, kind: str) -> list[int]:
        """The bins of every item of one kind, concatenated in order."""
        if self.uniform is not None:
            return self.uniform[1] if self.uniform[0] == kind else []
        return [b for item in self.items if item.kind == kind for b in item.bins]


def _uniform_bins(body: str) -> tuple[str, list[int]] | None:
    """``(kind, bins)`` of a well-formed all-box or all-point body, else ``None``.

    Well-formed: items of 4 (or 2) bins of 1-3 digits, joined by bare commas. With the digits
    deleted such a body is the item shape repeated, and splitting at the brackets leaves digits only.
    """
    shape = body.translate(_NO_DIGITS) + ","
    for kind, item in _ITEM_SHAPES:
        count = len(shape) // len(item)
        if count and shape == item * count:
            try:
                return kind, list(map(_BIN_OF_DIGITS.__getitem__, body.replace(">,<", "><")[1:-1].split("><")))
            except KeyError:  # an empty bin or one of 4+ digits: the general path reads it
                return None
    return None


def parse_items(body: str) -> list[ParsedItem]:
    """Parse a group body such as ``"<1><2><3><4>,<5><6>"``; malformed or truncated items are dropped.

    Items are split at commas; a chunk of 2 bins is a point, 4 a box, an even count over 4 a
    polygon (or, for the rewards, a run of boxes written without commas).
    """
    uniform = _uniform_bins(body)
    if uniform is not None:
        return ParsedGroup("", uniform=uniform).items
    items = []
    for chunk in body.split(ITEM_SEPARATOR):
        bins = tuple(min(int(d), MAX_BIN) for d in _BIN_PATTERN.findall(chunk))
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
        uniform = None if negative else _uniform_bins(body)
        if uniform is not None:
            groups.append(ParsedGroup(phrase, uniform=uniform))
        else:
            groups.append(ParsedGroup(phrase, [] if negative else parse_items(body), negative))
    return groups


# ---------------------------------------------------------------- polygons (OCR)


def quantize_polygon(polygon: Sequence[float], width: float, height: float) -> tuple[int, ...]:
    """Quantise a flat ``[x0, y0, x1, y1, ...]`` pixel polygon to ``2k`` bins (x with the width, y with
    the height)."""
    if len(polygon) % 2:
        raise ValueError(f"a polygon needs an even count of numbers, got {len(polygon)}")
    return tuple(quantize(c, width if i % 2 == 0 else height) for i, c in enumerate(polygon))


def dequantize_polygon(bins: Sequence[int], width: float, height: float) -> tuple[float, ...]:
    """``2k`` bins back to a flat pixel polygon (an odd trailing bin is dropped)."""
    usable = len(bins) // 2 * 2
    return tuple(dequantize(b, width if i % 2 == 0 else height) for i, b in enumerate(bins[:usable]))


# ---------------------------------------------------------------- keypoints (JSON in a json fence)

JSON_FENCE_OPEN = "```json\n"
JSON_FENCE_CLOSE = "\n```"
UNVISIBLE = "unvisible"  # the released model's spelling
_TRAILING_INDEX = re.compile(r"\s*\d+$")


class KeypointInstance(NamedTuple):
    """One instance of a keypoint answer: ``category`` (the JSON key without its trailing number),
    ``bbox`` (4 bins) and ``keypoints`` (name -> 2 bins, or ``None`` for ``"unvisible"``, in answer order)."""

    category: str
    bbox: tuple[int, int, int, int]
    keypoints: dict[str, tuple[int, int] | None]


def _spaced_bins(bins: Sequence[int]) -> str:
    """``[12, 34]`` -> ``" <12> <34> "`` (the keypoint answer's string form)."""
    return " " + " ".join(f"<{int(b)}>" for b in bins) + " "


def compose_keypoint_answer(instances: Iterable[KeypointInstance]) -> str:
    """The keypoint answer: a JSON object in a json code fence, keys ``{category}{n}`` (n from 1 per
    category, in the given order), each ``{"bbox": " <x0> <y0> <x1> <y1> ", "keypoints": {name: " <x> <y> "
    | "unvisible"}}``, indented by 4 spaces (``json.dumps(obj, indent=4)``, ASCII-escaped)."""
    obj: dict[str, object] = {}
    counts: dict[str, int] = {}
    for inst in instances:
        counts[inst.category] = counts.get(inst.category, 0) + 1
        obj[f"{inst.category}{counts[inst.category]}"] = {
            "bbox": _spaced_bins(inst.bbox),
            "keypoints": {name: UNVISIBLE if xy is None else _spaced_bins(xy) for name, xy in inst.keypoints.items()},
        }
    return JSON_FENCE_OPEN + json.dumps(obj, indent=4) + JSON_FENCE_CLOSE


def _json_text(text: str) -> str | None:
    """The first json fence's content, else the text from the first ``{`` to the last ``}``."""
    start = text.find(JSON_FENCE_OPEN.rstrip("\n"))
    if start >= 0:
        start += len(JSON_FENCE_OPEN) - 1
        end = text.find("```", start)
        if end >= 0:
            return text[start:end].strip()
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if 0 <= start < end else None


def _bins_of(value: object, count: int) -> tuple[int, ...] | None:
    if not isinstance(value, str):
        return None
    # Fast path: "?<a> <b>?" (one character either side) with 1-3 digit bins holds exactly those bins.
    parts = value[2:-2].split("> <")
    if len(parts) == count and value[1:2] == "<" and value[-2:-1] == ">":
        try:
            return tuple(map(_BIN_OF_DIGITS.__getitem__, parts))
        except KeyError:  # not digits, or 4+ of them: the general path reads it
            pass
    bins = tuple(min(int(d), MAX_BIN) for d in _BIN_PATTERN.findall(value))
    return bins if len(bins) == count else None


def parse_keypoint_answer(text: str) -> list[KeypointInstance]:
    """Parse a keypoint answer the way the released model's parser reads it. Never raises.

    The text is cut at ``<|im_end|>``; the JSON is the first json fence (else first ``{`` .. last
    ``}``); invalid JSON gives ``[]``. An instance is kept only with a 4-bin ``bbox`` string and a
    ``keypoints`` object; a keypoint that is not a string of exactly 2 bins reads as ``None``
    (unvisible). The category is the key without a trailing number (``person2`` -> ``person``; the
    released parser keeps only leading letters, so ``hot dog1`` -> ``hot``); a key that is only a
    number reads as ``keypoint_instance``. A repeated key keeps its last instance (``json.loads``).
    """
    if not isinstance(text, str):
        return []
    end = text.find(IM_END)
    body = _json_text(text[:end] if end >= 0 else text)
    if body is None:
        return []
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return []
    if not isinstance(obj, dict):
        return []
    out = []
    for key, value in obj.items():
        if not isinstance(value, dict) or not isinstance(value.get("keypoints"), dict):
            continue
        bbox = _bins_of(value.get("bbox"), 4)
        if bbox is None:
            continue
        category = _TRAILING_INDEX.sub("", str(key)).strip() or "keypoint_instance"
        keypoints = {name: _bins_of(xy, 2) for name, xy in value["keypoints"].items()}  # JSON keys are str
        out.append(KeypointInstance(category, bbox, keypoints))  # type: ignore[arg-type]
    return out
