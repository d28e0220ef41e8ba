"""Deterministic synthetic toy datasets: coloured shapes on textured backgrounds.

Each image holds 1-5 non-overlapping shapes ("red circle", "blue star", ...). Boxes are tight
around the drawn pixels (xyxy, pixel edges, so ``x1 = last column + 1``), the point of an object
is the centre of its mask pixel nearest the mask centroid (so it is always inside the mask), and
masks are COCO RLE with ``counts`` as a str. About a third of the images also carry a negative
phrase (a colour/shape pair absent from the image) with ``bbox: null`` / ``point: null``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from dataset.atomic_write import write_text_atomic
from dataset.tsv import TsvPaths, TsvWriter, encode_image

__all__ = ["COLOURS", "SHAPES", "ToyObject", "coded_background", "make_scene", "make_toy_datasets", "scene_annotations",
           "shape_mask"]

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 1
SHAPES = ("circle", "square", "rectangle", "triangle", "star", "ring")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (40, 70, 225),
    "yellow": (240, 215, 30),
    "purple": (145, 50, 185),
    "orange": (250, 140, 20),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
NEGATIVE_PROB = 0.35
MAX_OBJECTS = 5
SIZE_RANGE = (0.14, 0.36)  # shape side as a fraction of the shorter image side
# Shapes whose width and height may differ; the others keep a 1:1 aspect ratio.
_STRETCHABLE = ("rectangle", "triangle")


@dataclass(frozen=True)
class ToyObject:
    """One drawn shape: phrase, tight xyxy box (pixel edges), point inside the mask, COCO RLE mask."""

    phrase: str
    box: tuple[int, int, int, int]
    point: tuple[float, float]
    rle: dict[str, Any]


BACKGROUNDS = ("coded", "positional", "random")
CODED_SHAPE_GREEN = 230  # green level of a shape in a ``coded`` scene (the background's is 30)


def _ramp_canvas(rng: np.random.Generator, width: int, height: int, low: float, span: float, green: float,
                 noise: float) -> np.ndarray:
    """Red rises ``low..low+span`` left to right and blue top to bottom, green is constant, plus noise."""
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    pixels = np.empty((height, width, 3), dtype=np.float32)
    pixels[..., 0] = low + span * xx
    pixels[..., 1] = green
    pixels[..., 2] = low + span * yy
    return pixels + rng.standard_normal(size=(height, width, 3), dtype=np.float32) * noise


def _positional_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """The same colour map in every image (red rises left to right, blue top to bottom) plus noise.

    A position cue under opaque coloured shapes; on its own it did not make the demo model localise.
    """
    return _ramp_canvas(rng, width, height, low=70, span=110, green=120, noise=4)


def coded_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Position-coded canvas: red is the column (20..235 left to right), blue the row, green 30, plus noise.

    In a ``coded`` scene shapes only raise the green channel, so every pixel, a shape's too, carries its
    own position. Qwen2.5-VL has no absolute position embedding; this lets a randomly initialised demo
    model read a position from the pixels (README, "What the quickstart shows today").
    """
    return _ramp_canvas(rng, width, height, low=20, span=215, green=30, noise=3)


def _check_scene_options(background: str, object_alpha: float) -> None:
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    if not 0.0 < object_alpha <= 1.0:
        raise ValueError(f"object_alpha must be in (0, 1], got {object_alpha}")


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Low-saturation gradient plus stripes and noise, as float32 HxWx3."""
    base = rng.uniform(70, 190, size=3)
    base = base.mean() + 0.3 * (base - base.mean())  # keep it greyish so the shape colours stand out
    yy = np.arange(height, dtype=np.float32)[:, None]
    xx = np.arange(width, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    gradient = (np.cos(angle) * xx / width + np.sin(angle) * yy / height) * np.float32(rng.uniform(-40, 40))
    period = rng.uniform(6, 24)
    stripes = np.sin((xx * np.cos(angle + 1) + yy * np.sin(angle + 1)) * np.float32(2 * np.pi / period)) * 8
    # Noise at half resolution, upsampled: grainy texture at a quarter of the sampling cost.
    coarse = rng.standard_normal(size=((height + 1) // 2, (width + 1) // 2, 3), dtype=np.float32) * 7
    noise = coarse.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    return (base.astype(np.float32) + (gradient + stripes)[..., None] + noise).astype(np.float32)


def shape_mask(shape: str, rect: tuple[float, float, float, float], width: int, height: int) -> np.ndarray:
    """Draw one shape filling ``rect`` (x0, y0, x1, y1) and return its bool mask."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    x0, y0, x1, y1 = rect
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    if shape == "circle":
        draw.ellipse(rect, fill=1)
    elif shape in ("square", "rectangle"):
        draw.rectangle(rect, fill=1)
    elif shape == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=1)
    elif shape == "star":
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        draw.polygon([(cx + r * rx * np.cos(a), cy + r * ry * np.sin(a)) for a, r in zip(angles, radii)], fill=1)
    elif shape == "ring":
        draw.ellipse(rect, fill=1)
        draw.ellipse((cx - 0.5 * rx, cy - 0.5 * ry, cx + 0.5 * rx, cy + 0.5 * ry), fill=0)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    return np.asarray(canvas, dtype=bool)


def _mask_geometry(mask: np.ndarray) -> tuple[tuple[int, int, int, int], tuple[float, float], dict[str, Any]]:
    """Tight box, inside point and COCO RLE of a non-empty bool mask."""
    from pycocotools import mask as mask_utils  # lazy: only the generator needs it

    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    cx, cy = xs.mean(), ys.mean()
    nearest = int(np.argmin((xs - cx) ** 2 + (ys - cy) ** 2))
    point = (float(xs[nearest]) + 0.5, float(ys[nearest]) + 0.5)
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return box, point, {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _place(
    rng: np.random.Generator,
    shape: str,
    width: int,
    height: int,
    taken: list[tuple[float, ...]],
    size_range: tuple[float, float] = SIZE_RANGE,
) -> tuple[float, float, float, float] | None:
    """Random rect for ``shape`` that does not overlap ``taken`` (with a 2 px gap), or None.

    ``size_range``: side length as a fraction of the shorter image side (capped at 0.45 of each side).
    """
    short = min(width, height)
    for _ in range(20):
        size = max(10.0, rng.uniform(*size_range) * short)
        aspect = rng.uniform(0.5, 2.0) if shape in _STRETCHABLE else 1.0
        w = min(size * np.sqrt(aspect), 0.45 * width)
        h = min(size / np.sqrt(aspect), 0.45 * height)
        x0, y0 = rng.uniform(1, width - w - 1), rng.uniform(1, height - h - 1)
        rect = (x0, y0, x0 + w, y0 + h)
        if all(rect[2] + 2 < t[0] or t[2] + 2 < rect[0] or rect[3] + 2 < t[1] or t[3] + 2 < rect[1] for t in taken):
            return rect
    return None


def make_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    max_objects: int = MAX_OBJECTS,
    size_range: tuple[float, float] = SIZE_RANGE,
    negative_rate: float = NEGATIVE_PROB,
    background: str = "random",
    object_alpha: float = 1.0,
) -> tuple[Image.Image, list[ToyObject], list[str]]:
    """Draw one image with 1..``max_objects`` shapes; returns (RGB image, objects, negative phrases
    absent from the image). With probability ``negative_rate`` one absent phrase is added.
    ``background``: ``random`` (a different gradient, stripes and noise per image), ``positional``
    (one fixed colour map, see ``_positional_background``) or ``coded`` (red and blue encode every
    pixel's position, shapes only raise green and are named by shape alone, see ``coded_background``;
    ``object_alpha`` is ignored). ``object_alpha`` < 1 lets the background
    show through the shapes (1: opaque)."""
    _check_scene_options(background, object_alpha)
    coded = background == "coded"
    if coded:
        pixels = coded_background(rng, width, height)
    elif background == "positional":
        pixels = _positional_background(rng, width, height)
    else:
        pixels = _background(rng, width, height)
    colour_names = list(COLOURS)
    objects: list[ToyObject] = []
    taken: list[tuple[float, ...]] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        colour = colour_names[int(rng.integers(len(colour_names)))]
        rect = _place(rng, shape, width, height, taken, size_range)
        if rect is None:
            continue
        mask = shape_mask(shape, rect, width, height)
        if mask.sum() < 4:
            continue
        taken.append(rect)
        fill = np.asarray(COLOURS[colour], dtype=np.float32) + rng.uniform(-12, 12, size=3)
        shade = fill + rng.standard_normal(size=(int(mask.sum()), 3), dtype=np.float32) * 4
        if coded:  # only green changes, so the shape keeps the canvas's position code; named by shape alone
            pixels[mask, 1] = CODED_SHAPE_GREEN + shade[:, 1] - fill[1]
        else:
            pixels[mask] = object_alpha * shade + (1.0 - object_alpha) * pixels[mask]
        box, point, rle = _mask_geometry(mask)
        objects.append(ToyObject(shape if coded else f"{colour} {shape}", box, point, rle))
    negatives: list[str] = []
    if rng.random() < negative_rate:
        present = {o.phrase for o in objects}
        vocabulary = list(SHAPES) if coded else [f"{c} {s}" for c in colour_names for s in SHAPES]
        absent = [p for p in vocabulary if p not in present]
        negatives.append(absent[int(rng.integers(len(absent)))])
    image = Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), "RGB")
    return image, objects, negatives


def scene_annotations(
    objects: list[ToyObject], negatives: list[str], rng: np.random.Generator
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Grounding and pointing annotation JSON for one scene (negatives at a random position)."""
    boxes = [{"bbox": list(o.box), "phrase": o.phrase} for o in objects]
    points = [{"point": list(o.point), "phrase": o.phrase, "bbox": list(o.box), "mask": o.rle} for o in objects]
    slot = int(rng.integers(len(objects) + 1))
    neg_boxes = [{"bbox": None, "phrase": p} for p in negatives]
    neg_points = [{"point": None, "phrase": p} for p in negatives]
    return (
        {"boxes": boxes[:slot] + neg_boxes + boxes[slot:]},
        {"points": points[:slot] + neg_points + points[slot:]},
    )


# Formats for the converter demo images, cycled per image (all keep the colours intact).
_JSONL_FORMATS = ("jpg", "png", "rgba.png", "palette.png")


def _save_demo_image(image: Image.Image, directory: str, index: int) -> str:
    """Save one image in a rotating format; returns its file name relative to ``directory``."""
    kind = _JSONL_FORMATS[index % len(_JSONL_FORMATS)]
    name = f"toy_{index:06d}.{kind.split('.')[-1]}" if kind in ("jpg", "png") else f"toy_{index:06d}_{kind}"
    path = os.path.join(directory, name)
    if kind == "jpg":
        image.save(path, format="JPEG", quality=95)
    elif kind == "png":
        image.save(path, format="PNG", compress_level=1)
    elif kind == "rgba.png":
        image.convert("RGBA").save(path, format="PNG", compress_level=1)
    else:
        image.quantize(256, method=Image.Quantize.FASTOCTREE).save(path, format="PNG", compress_level=1)
    return name


def _split_paths(output_dir: str, stem: str) -> TsvPaths:
    return TsvPaths.from_prefix(os.path.join(output_dir, stem))


def _write_split(
    output_dir: str,
    split: str,
    num: int,
    size: tuple[int, int],
    seed: int,
    jsonl_dir: str | None,
    scene_kwargs: dict[str, Any],
) -> None:
    """Generate ``num`` scenes and write the grounding and pointing triples (and the demo JSONL)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0 if split == "train" else 1]))
    grounding = TsvWriter(*_split_paths(output_dir, f"toy_grounding_{split}"))
    pointing = TsvWriter(*_split_paths(output_dir, f"toy_pointing_{split}"))
    jsonl_lines: list[str] = []
    with grounding, pointing:
        for index in range(num):
            image, objects, negatives = make_scene(rng, *size, **scene_kwargs)
            ground_ann, point_ann = scene_annotations(objects, negatives, rng)
            jpeg = encode_image(image, "JPEG", 95)
            grounding.add(jpeg, ground_ann)
            pointing.add(jpeg, point_ann)
            if jsonl_dir is not None:
                name = _save_demo_image(image, os.path.join(jsonl_dir, "images"), index)
                jsonl_lines.append(json.dumps({"image_name": name, "annotation": ground_ann}))
    if jsonl_dir is not None:
        write_text_atomic(os.path.join(jsonl_dir, f"toy_grounding_{split}.jsonl"), "\n".join(jsonl_lines) + "\n")


def _parse_size(image_size: int | tuple[int, int]) -> tuple[int, int]:
    width, height = (image_size, image_size) if isinstance(image_size, int) else image_size
    if width < 32 or height < 32:
        raise ValueError(f"image_size must be at least 32x32, got {width}x{height}")
    return int(width), int(height)


def make_toy_datasets(
    output_dir: str = "work_dirs/toy_data",
    num_train: int = 512,
    num_val: int = 64,
    image_size: int | tuple[int, int] = (224, 224),
    seed: int = 0,
    force: bool = False,
    negative_rate: float = NEGATIVE_PROB,
    max_objects: int = MAX_OBJECTS,
    size_range: tuple[float, float] = SIZE_RANGE,
    background: str = "random",
    object_alpha: float = 1.0,
) -> dict[str, Any]:
    """Build (or reuse) the toy grounding/pointing datasets.

    Args:
        output_dir: destination folder.
        num_train, num_val: images per split.
        image_size: ``(width, height)`` in pixels, or one int for square images.
        seed: everything is a deterministic function of the arguments.
        force: rebuild even if a matching manifest says the outputs exist.
        negative_rate: probability that an image also carries one absent phrase (``bbox: null``).
        max_objects: shapes per image are drawn from 1..max_objects (some may not fit).
        size_range: shape side as a fraction of the shorter image side, ``(low, high)``.
        background: ``random``, ``positional`` or ``coded`` (see ``make_scene``).
        object_alpha: opacity of the shapes, in (0, 1].

    Returns:
        ``{"toy_grounding_train": TsvPaths, ... (4 triples), "jsonl": path, "jsonl_image_root": dir,
        "manifest": path}``.
    """
    width, height = _parse_size(image_size)
    if not 0.0 <= negative_rate <= 1.0:
        raise ValueError(f"negative_rate must be in [0, 1], got {negative_rate}")
    if max_objects < 1:
        raise ValueError(f"max_objects must be at least 1, got {max_objects}")
    if not 0.0 < size_range[0] <= size_range[1] <= 0.45:
        raise ValueError(f"size_range must satisfy 0 < low <= high <= 0.45, got {size_range}")
    _check_scene_options(background, object_alpha)
    scene_kwargs = dict(
        negative_rate=negative_rate, max_objects=max_objects, size_range=tuple(size_range), background=background,
        object_alpha=object_alpha,
    )
    paths: dict[str, Any] = {
        f"toy_{task}_{split}": _split_paths(output_dir, f"toy_{task}_{split}")
        for task in ("grounding", "pointing")
        for split in ("train", "val")
    }
    jsonl_dir = os.path.join(output_dir, "jsonl")
    paths.update(
        jsonl=os.path.join(jsonl_dir, "toy_grounding_train.jsonl"),
        jsonl_image_root=os.path.join(jsonl_dir, "images"),
        manifest=os.path.join(output_dir, "toy_manifest.json"),
    )
    manifest = {"version": MANIFEST_VERSION, "num_train": num_train, "num_val": num_val,
                "image_size": [width, height], "seed": seed, "negative_rate": negative_rate,
                "max_objects": max_objects, "size_range": list(size_range), "background": background,
                "object_alpha": object_alpha}
    if not force and is_up_to_date(paths, manifest, (paths["jsonl"],)):
        logger.info("toy data in %s is up to date; skipping (use force=True to rebuild)", output_dir)
        return paths
    os.makedirs(paths["jsonl_image_root"], exist_ok=True)
    if os.path.exists(paths["manifest"]):
        os.remove(paths["manifest"])  # a crash mid-build must not leave a stale "up to date" marker
    _write_split(output_dir, "train", num_train, (width, height), seed, jsonl_dir, scene_kwargs)
    _write_split(output_dir, "val", num_val, (width, height), seed, None, scene_kwargs)
    write_text_atomic(paths["manifest"], json.dumps(manifest, indent=2) + "\n")
    logger.info("wrote toy data (%d train, %d val images) to %s", num_train, num_val, output_dir)
    return paths


def is_up_to_date(paths: dict[str, Any], manifest: dict[str, Any], extra_files: tuple[str, ...] = ()) -> bool:
    """True when ``paths["manifest"]`` holds ``manifest`` and every TSV file in ``paths`` (and each of
    ``extra_files``) exists: a toy set built with the same settings need not be built again."""
    try:
        with open(paths["manifest"], encoding="utf-8") as fh:
            if json.load(fh) != manifest:
                return False
    except (OSError, ValueError):
        return False
    files = [p for v in paths.values() if isinstance(v, TsvPaths) for p in v] + list(extra_files)
    return all(os.path.isfile(p) for p in files)
