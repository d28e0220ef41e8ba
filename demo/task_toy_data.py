"""Deterministic toy scenes for the other tasks, each unsolvable without looking at the image.

All scenes use the position-coded canvas of :func:`demo.toy_data.coded_background` (red encodes the
column, blue the row) and draw only in the green channel, so every drawn pixel also carries its
position. What varies per image, and so cannot be guessed blind:

* ``visual_prompt``: 3-5 copies of one shape plus 1-2 distractors of another; one copy is the
  exemplar (``visual_prompt``), the answer is every copy. Only the copies are annotated, so the task
  function always asks about the exemplar's shape and copying the exemplar finds one copy of 3-5.
* ``keypoint``: one stick figure ("figure") with five named joints (head, left hand, right
  hand, left foot, right foot) in random poses; a hand is sometimes hidden (visibility 0).
* ``ocr_box``: 1-2 words from a small vocabulary (lengths 2-6), upright, at random places; sometimes a scribble
  marked don't care (``###``).
* ``ocr_polygon``: one or two rotated words (up to 35 degrees), their rotated quadrilaterals as polygons.
* ``gui``: a screen-like layout: a title bar and 2-3 labelled buttons in a random order and place;
  each button is an element whose instruction names its label.

Boxes are pixel edges (xyxy); joints and polygon corners are pixel coordinates.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from dataset.atomic_write import write_text_atomic
from dataset.tsv import TsvPaths, TsvWriter, encode_image
from demo.toy_data import CODED_SHAPE_GREEN, SHAPES, coded_background, is_up_to_date, shape_mask

__all__ = ["FIGURE_JOINTS", "GUI_LABELS", "TASK_SCENES", "WORDS", "make_task_scene", "make_task_toy_dataset"]

logger = logging.getLogger(__name__)
MANIFEST_VERSION = 4

# Words and labels of different lengths: the demo model's vision tower sees a 4x4 grid of 28-pixel tokens,
# where the length of a word shows long before its letters can be told apart.
WORDS = ("GO", "SUN", "TREE", "HOUSE", "GARDEN")
GUI_LABELS = ("OK", "Yes", "Save", "Close", "Cancel")
FIGURE_JOINTS = ("head", "left hand", "right hand", "left foot", "right foot")
_FONT_SIZE = 20


def _canvas(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    return coded_background(rng, width, height)


def _paint(pixels: np.ndarray, mask: np.ndarray, rng: np.random.Generator, level: float = CODED_SHAPE_GREEN) -> None:
    """Raise the green channel on ``mask`` (the position code in red and blue stays)."""
    pixels[mask, 1] = level + rng.standard_normal(int(mask.sum())).astype(np.float32) * 4


def _to_image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), "RGB")


def _text_patch(text: str, size: int = _FONT_SIZE) -> np.ndarray:
    """A tight bool mask of ``text`` drawn with Pillow's built-in font (no system font needed)."""
    font = ImageFont.load_default(size=size)
    x0, y0, x1, y1 = font.getbbox(text)
    patch = Image.new("L", (x1 - x0 + 2, y1 - y0 + 2), 0)
    ImageDraw.Draw(patch).text((1 - x0, 1 - y0), text, fill=255, font=font)
    return np.asarray(patch) > 96


def _overlaps(box: tuple[float, ...], taken: list[tuple[float, ...]], margin: float = 2) -> bool:
    return any(box[0] < t[2] + margin and t[0] < box[2] + margin and box[1] < t[3] + margin and t[1] < box[3] + margin
               for t in taken)


def _free_spot(rng: np.random.Generator, w: int, h: int, width: int, height: int,
               taken: list[tuple[float, ...]], tries: int = 30) -> tuple[int, int] | None:
    """Top-left corner where a ``w`` x ``h`` patch fits inside the image without touching ``taken``."""
    if w >= width or h >= height:
        return None
    for _ in range(tries):
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        if not _overlaps((x, y, x + w, y + h), taken):
            return x, y
    return None


def _box_of(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


# ---------------------------------------------------------------- visual prompting

def visual_prompt_scene(rng: np.random.Generator, width: int, height: int) -> tuple[Image.Image, dict[str, Any]]:
    """3-5 copies of one shape (the phrase) among 1-2 unannotated distractors; one copy is the exemplar."""
    pixels = _canvas(rng, width, height)
    target, distractor = (SHAPES[int(i)] for i in rng.choice(len(SHAPES), size=2, replace=False))
    side = max(8, int(min(width, height) * 0.2))
    # one distractor first, so that it always finds room
    shapes = [distractor] + [target] * int(rng.integers(3, 6)) + [distractor] * int(rng.integers(0, 2))
    taken: list[tuple[float, ...]] = []
    boxes: list[list[float]] = []
    for shape in shapes:
        spot = _free_spot(rng, side, side, width, height, taken)
        if spot is None:
            continue
        rect = (spot[0], spot[1], spot[0] + side - 1, spot[1] + side - 1)
        mask = shape_mask(shape, rect, width, height)
        taken.append((spot[0], spot[1], spot[0] + side, spot[1] + side))
        _paint(pixels, mask, rng)
        if shape == target:
            boxes.append(_box_of(mask))
    annotation: dict[str, Any] = {"boxes": [{"bbox": b, "phrase": target} for b in boxes]}
    if boxes:
        annotation["visual_prompt"] = {target: [boxes[int(rng.integers(len(boxes)))]]}
    return _to_image(pixels), annotation


# ---------------------------------------------------------------- keypoints

def _figure(rng: np.random.Generator, cx: float, top: float, scale: float) -> dict[str, tuple[float, float]]:
    """Joint positions of a stick figure whose head centre is at (cx, top + 0.12 scale)."""
    neck, hip = (cx, top + 0.25 * scale), (cx, top + 0.6 * scale)
    joints = {"head": (cx, top + 0.12 * scale)}
    for side, sign in (("left", 1.0), ("right", -1.0)):  # the figure's left is the image's right
        arm = math.radians(float(rng.uniform(-60, 80)))
        leg = math.radians(float(rng.uniform(10, 35)))
        joints[f"{side} hand"] = (neck[0] + sign * 0.35 * scale * math.cos(arm), neck[1] + 0.35 * scale * math.sin(arm))
        joints[f"{side} foot"] = (hip[0] + sign * 0.4 * scale * math.sin(leg), hip[1] + 0.4 * scale * math.cos(leg))
    joints["_neck"], joints["_hip"] = neck, hip
    return joints


def keypoint_scene(rng: np.random.Generator, width: int, height: int) -> tuple[Image.Image, dict[str, Any]]:
    """One stick figure anywhere in the image; a hand is hidden (visibility 0, not drawn) with probability 0.2."""
    pixels = _canvas(rng, width, height)
    scale = float(rng.uniform(0.7, 0.95)) * min(height, 1.6 * width)
    cx = float(rng.uniform(0.4 * scale, width - 0.4 * scale))
    top = float(rng.uniform(2, max(3.0, height - scale - 2)))
    joints = _figure(rng, cx, top, scale)
    hidden = None
    if rng.random() < 0.2:
        hidden = ("left hand", "right hand")[int(rng.integers(2))]
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    line = max(2, int(scale / 18))
    neck, hip = joints["_neck"], joints["_hip"]
    draw.line([neck, hip], fill=1, width=line)
    for name, root in (("left hand", neck), ("right hand", neck), ("left foot", hip), ("right foot", hip)):
        if name != hidden:
            draw.line([root, joints[name]], fill=1, width=line)
    r = 0.1 * scale
    hx, hy = joints["head"]
    draw.ellipse((hx - r, hy - r, hx + r, hy + r), fill=1)
    mask = np.asarray(canvas, dtype=bool)
    _paint(pixels, mask, rng)
    named = {n: joints[n] for n in FIGURE_JOINTS}
    xs = [x for x, _ in named.values()] + [hx - r, hx + r]
    ys = [y for _, y in named.values()] + [hy - r]
    bbox = [max(0.0, min(xs)), max(0.0, min(ys)), min(float(width), max(xs)), min(float(height), max(ys))]
    points = {n: [round(x, 1), round(y, 1), 0 if n == hidden else 2] for n, (x, y) in named.items()}
    for n, (x, y, _) in points.items():
        if not (0 <= x < width and 0 <= y < height):
            points[n] = [0.0, 0.0, 0]
    entry = {"bbox": [round(c, 1) for c in bbox], "phrase": "figure", "keypoints": points}
    return _to_image(pixels), {"keypoints": [entry], "keypoint_names": list(FIGURE_JOINTS)}


# ---------------------------------------------------------------- OCR

def _scribble(rng: np.random.Generator, width: int, height: int, taken: list[tuple[float, ...]]) -> tuple[
        np.ndarray, list[float]] | None:
    spot = _free_spot(rng, 18, 10, width, height, taken)
    if spot is None:
        return None
    canvas = Image.new("L", (width, height), 0)
    x, y = spot
    ImageDraw.Draw(canvas).line([(x + i * 3, y + (i % 2) * 9) for i in range(7)], fill=1, width=1)
    taken.append((x, y, x + 18, y + 10))
    return np.asarray(canvas, dtype=bool), [x, y, x + 18, y, x + 18, y + 10, x, y + 10]


def _place(rng: np.random.Generator, pixels: np.ndarray, patch: np.ndarray,
           taken: list[tuple[float, ...]]) -> np.ndarray | None:
    """Paint ``patch`` (a bool array) at a free spot of ``pixels`` (H, W, 3) and add its box to ``taken``;
    returns its mask over the whole image, or ``None`` when no spot is free."""
    height, width = pixels.shape[:2]
    spot = _free_spot(rng, patch.shape[1], patch.shape[0], width, height, taken)
    if spot is None:
        return None
    x, y = spot
    mask = np.zeros((height, width), dtype=bool)
    mask[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    taken.append((x, y, x + patch.shape[1], y + patch.shape[0]))
    _paint(pixels, mask, rng)
    return mask


def ocr_box_scene(rng: np.random.Generator, width: int, height: int) -> tuple[Image.Image, dict[str, Any]]:
    """1-2 upright words, as 4-corner polygons; a don't-care scribble with probability 0.3."""
    pixels = _canvas(rng, width, height)
    taken: list[tuple[float, ...]] = []
    entries = []
    for word in rng.choice(WORDS, size=int(rng.integers(1, 3)), replace=False):
        mask = _place(rng, pixels, _text_patch(str(word)), taken)
        if mask is None:
            continue
        x0, y0, x1, y1 = _box_of(mask)
        entries.append({"polygon": [x0, y0, x1, y0, x1, y1, x0, y1], "bbox": [x0, y0, x1, y1], "phrase": str(word),
                        "level": "word"})
    if rng.random() < 0.3:
        scribble = _scribble(rng, width, height, taken)
        if scribble is not None:
            _paint(pixels, scribble[0], rng)
            entries.append({"polygon": [float(c) for c in scribble[1]], "phrase": "###", "level": "word",
                            "ignore": True})
    return _to_image(pixels), {"polygons": entries}


def _rotated(patch: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``patch`` rotated counter-clockwise by ``degrees`` (expanded) and its 4 corners (TL, TR, BR, BL)
    in the rotated patch's pixel coordinates."""
    h, w = patch.shape
    image = Image.fromarray(patch.astype(np.uint8) * 255).rotate(degrees, resample=Image.BILINEAR, expand=True)
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    nw, nh = image.size
    corners = []
    for px, py in ((0, 0), (w, 0), (w, h), (0, h)):
        dx, dy = px - w / 2, py - h / 2
        corners.append((nw / 2 + dx * cos + dy * sin, nh / 2 - dx * sin + dy * cos))
    return np.asarray(image) > 96, np.asarray(corners)


def ocr_polygon_scene(rng: np.random.Generator, width: int, height: int) -> tuple[Image.Image, dict[str, Any]]:
    """One or two words rotated by up to 35 degrees; each polygon is its rotated text box."""
    pixels = _canvas(rng, width, height)
    taken: list[tuple[float, ...]] = []
    entries = []
    for word in rng.choice(WORDS, size=int(rng.integers(1, 3)), replace=False):
        patch, corners = _rotated(_text_patch(str(word)), float(rng.uniform(-35, 35)))
        mask = _place(rng, pixels, patch, taken)
        if mask is None:
            continue
        x, y = taken[-1][:2]
        polygon = [round(float(v), 1) for cx, cy in corners for v in (cx + x, cy + y)]
        polygon = [min(max(v, 0.0), float(width if i % 2 == 0 else height)) for i, v in enumerate(polygon)]
        entries.append({"polygon": polygon, "phrase": str(word), "level": "word"})
    return _to_image(pixels), {"polygons": entries}


# ---------------------------------------------------------------- GUI

def gui_scene(rng: np.random.Generator, width: int, height: int) -> tuple[Image.Image, dict[str, Any]]:
    """A title bar and 2-3 buttons (outlined boxes with a label) in random places; instruction ``click LABEL``."""
    pixels = _canvas(rng, width, height)
    bar = max(6, height // 12)
    pixels[:bar, :, 1] = 160.0
    taken: list[tuple[float, ...]] = [(0, 0, width, bar)]
    entries = []
    for label in rng.choice(GUI_LABELS, size=int(rng.integers(2, 4)), replace=False):
        text = _text_patch(str(label), size=16)
        w, h = text.shape[1] + 8, text.shape[0] + 8
        spot = _free_spot(rng, w, h, width, height, taken)
        if spot is None:
            continue
        x, y = spot
        mask = np.zeros((height, width), dtype=bool)
        mask[y:y + h, x:x + w] = True
        mask[y + 1:y + h - 1, x + 1:x + w - 1] = False  # outline
        mask[y + 4:y + 4 + text.shape[0], x + 4:x + 4 + text.shape[1]] |= text
        taken.append((x, y, x + w, y + h))
        _paint(pixels, mask, rng)
        entries.append({"bbox": [float(x), float(y), float(x + w), float(y + h)], "phrase": f"click {label}"})
    return _to_image(pixels), {"boxes": entries}


TASK_SCENES: dict[str, Callable[[np.random.Generator, int, int], tuple[Image.Image, dict[str, Any]]]] = {
    "visual_prompt": visual_prompt_scene,
    "keypoint": keypoint_scene,
    "ocr_box": ocr_box_scene,
    "ocr_polygon": ocr_polygon_scene,
    "gui": gui_scene,
}


def make_task_scene(task: str, rng: np.random.Generator, width: int, height: int) -> tuple[Image.Image, dict[str, Any]]:
    """One image and its annotation for ``task`` (a key of ``TASK_SCENES``)."""
    if task not in TASK_SCENES:
        raise ValueError(f"task must be one of {sorted(TASK_SCENES)}, got {task!r}")
    return TASK_SCENES[task](rng, width, height)


def _write_split(paths: TsvPaths, task: str, num: int, size: tuple[int, int], seed: int, split: str,
                 progress: bool) -> None:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0 if split == "train" else 1, len(task)]))
    with TsvWriter(*paths) as writer:
        for _ in tqdm(range(num), desc=f"toy {task} {split}", unit="img", disable=not progress):
            image, annotation = make_task_scene(task, rng, *size)
            writer.add(encode_image(image, "JPEG", 95), annotation)


def make_task_toy_dataset(output_dir: str, task: str, num_train: int = 512, num_val: int = 64,
                          image_size: tuple[int, int] = (112, 112), seed: int = 0, force: bool = False,
                          progress: bool = True) -> dict[str, Any]:
    """Build (or reuse, when its manifest matches) ``toy_{task}_train`` and ``toy_{task}_val``.

    Returns ``{"toy_{task}_train": TsvPaths, "toy_{task}_val": TsvPaths, "manifest": path}``; the
    bytes are a function of the arguments only.
    """
    if task not in TASK_SCENES:
        raise ValueError(f"task must be one of {sorted(TASK_SCENES)}, got {task!r}")
    width, height = image_size
    if width < 64 or height < 64:
        raise ValueError(f"image_size must be at least 64x64 for the task scenes, got {width}x{height}")
    paths: dict[str, Any] = {}
    for split in ("train", "val"):
        base = os.path.join(output_dir, f"toy_{task}_{split}")
        paths[f"toy_{task}_{split}"] = TsvPaths(f"{base}.images.tsv", f"{base}.annotations.tsv",
                                                f"{base}.annotations.tsv.lineidx")
    paths["manifest"] = os.path.join(output_dir, f"toy_{task}_manifest.json")
    manifest = {"version": MANIFEST_VERSION, "task": task, "num_train": num_train, "num_val": num_val,
                "image_size": [width, height], "seed": seed}
    if not force and is_up_to_date(paths, manifest):
        logger.info("toy %s data in %s is up to date; skipping", task, output_dir)
        return paths
    os.makedirs(output_dir, exist_ok=True)
    if os.path.exists(paths["manifest"]):
        os.remove(paths["manifest"])  # a crash mid-build must not leave a stale "up to date" marker
    _write_split(paths[f"toy_{task}_train"], task, num_train, (width, height), seed, "train", progress)
    _write_split(paths[f"toy_{task}_val"], task, num_val, (width, height), seed, "val", progress)
    write_text_atomic(paths["manifest"], json.dumps(manifest, indent=2) + "\n")
    return paths


