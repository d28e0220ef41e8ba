"""Draw ``ObjectAnnotation``s (boxes, points, masks, polygons, keypoint skeletons, negatives) on an
image: the project's one drawer.

Every line and label is edged in black or white, whichever contrasts with its colour, so a green box
and its label stay visible on a green object; a polygon is labelled with its phrase (OCR: the text);
a keypoint instance is drawn as its joints and the skeleton edges between them (``dataset.skeletons``).

``draw_objects`` is pure (image in, image out); ``draw_comparison`` puts ground truth and predictions
side by side with it (the reward debug images, the evaluation PNGs and the HTML report);
``visualize_tsv`` is the file-level loop behind ``tools/vis_tsv_dataset.py``.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dataset.annotations import AnnotationError, ObjectAnnotation, parse_annotation
from dataset.mask_geometry import decode_mask
from dataset.skeletons import skeleton_edges
from dataset.task_fns.task_prompts.other_tasks import KEYPOINT_NAMES
from dataset.tsv import TsvFormatError, TsvReader

__all__ = ["VisStats", "contrast_colour", "draw_comparison", "draw_objects", "phrase_colours", "select_indices",
           "visualize_tsv"]

logger = logging.getLogger(__name__)

Colour = tuple[int, int, int]

# Distinct, saturated colours (tab10 + extras); phrases beyond this list wrap around.
PALETTE: tuple[Colour, ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (0, 0, 255), (255, 0, 255), (0, 128, 128), (128, 0, 0), (0, 200, 0), (255, 215, 0),
)
MASK_ALPHA = 0.45


def phrase_colours(phrases: Iterable[str]) -> dict[str, Colour]:
    """Give each distinct phrase a palette colour, in order of first appearance."""
    colours: dict[str, Colour] = {}
    for phrase in phrases:
        if phrase not in colours:
            colours[phrase] = PALETTE[len(colours) % len(PALETTE)]
    return colours


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def contrast_colour(colour: Colour) -> Colour:
    """Black for a light colour, white for a dark one (by perceived luminance, 0-255)."""
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)


def _label(draw: ImageDraw.ImageDraw, width: int, xy: tuple[float, float], text: str, colour: Colour) -> None:
    """Text on a filled box of the phrase's colour with a contrasting edge, kept inside the image; the
    text is in the contrasting colour too."""
    font = _font()
    edge = contrast_colour(colour)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 6, bottom - top + 4
    x = min(max(0.0, xy[0]), max(0.0, width - w))
    y = max(0.0, xy[1] - h)
    draw.rectangle([x, y, x + w, y + h], fill=colour, outline=edge, width=1)
    draw.text((x + 3, y + 2 - top), text, fill=edge, font=font)


def _edged_line(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], colour: Colour, width: int) -> None:
    """A line through ``points`` in ``colour`` over a contrasting line one pixel wider on each side."""
    draw.line(points, fill=contrast_colour(colour), width=width + 2, joint="curve")
    draw.line(points, fill=colour, width=width, joint="curve")


def _dot(draw: ImageDraw.ImageDraw, xy: tuple[float, float], radius: float, colour: Colour) -> None:
    x, y = xy
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour, outline=contrast_colour(colour))


def _joint_names(obj: ObjectAnnotation) -> tuple[str, ...]:
    if obj.keypoint_names:
        return obj.keypoint_names
    if obj.keypoint_type in KEYPOINT_NAMES:
        return KEYPOINT_NAMES[obj.keypoint_type]  # type: ignore[index]
    return tuple(obj.keypoints or ())


def _draw_keypoints(draw: ImageDraw.ImageDraw, obj: ObjectAnnotation, colour: Colour, line_w: int) -> None:
    """The skeleton edges between labelled joints (visibility > 0), then the joints over them."""
    joints = {n: (x, y) for n, (x, y, v) in (obj.keypoints or {}).items() if v > 0}
    names = _joint_names(obj)
    for a, b in skeleton_edges(names) if names else []:
        if a in joints and b in joints:
            _edged_line(draw, [joints[a], joints[b]], colour, line_w)
    for xy in joints.values():
        _dot(draw, xy, 1 + line_w, colour)


def _draw_object(draw: ImageDraw.ImageDraw, width: int, obj: ObjectAnnotation, colour: Colour, line_w: int) -> None:
    """One positive object: box, polygon, keypoints and point, then its phrase label once."""
    anchor: tuple[float, float] | None = None
    if obj.box is not None:
        x0, y0, x1, y1 = obj.box
        x0, x1, y0, y1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
        _edged_line(draw, [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], colour, line_w)
        anchor = (x0, y0)
    if obj.polygon is not None:
        corners = list(zip(obj.polygon[0::2], obj.polygon[1::2]))
        _edged_line(draw, corners + corners[:1], colour, line_w)
        anchor = anchor or (min(x for x, _ in corners), min(y for _, y in corners))
    if obj.keypoints is not None:
        _draw_keypoints(draw, obj, colour, line_w)
        labelled = [(x, y) for x, y, v in obj.keypoints.values() if v > 0]
        anchor = anchor or (min(labelled, key=lambda xy: xy[1]) if labelled else None)  # above the top joint
    if obj.point is not None:
        r = 2 + line_w
        _dot(draw, obj.point, r, colour)
        anchor = anchor or (obj.point[0] + r, obj.point[1] - r)
    if anchor is not None:
        _label(draw, width, anchor, obj.phrase, colour)


def _overlay_masks(image: Image.Image, objects: Sequence[ObjectAnnotation], colours: dict[str, Colour]) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32).copy()
    for obj in objects:
        if obj.mask is None:
            continue
        region = decode_mask(obj.mask, height=image.height, width=image.width)
        colour = np.asarray(colours[obj.phrase], dtype=np.float32)
        pixels[region] = (1 - MASK_ALPHA) * pixels[region] + MASK_ALPHA * colour
    return Image.fromarray(pixels.round().astype(np.uint8))


def _legend(width: int, colours: dict[str, Colour], counts: dict[str, int], negatives: list[str]) -> Image.Image:
    font = _font()
    entries = [(f"{p} ({counts[p]})", colours[p]) for p in counts]
    entries += [(f"{p} (negative: not in image)", (90, 90, 90)) for p in negatives]
    line_h = 14
    legend = Image.new("RGB", (width, line_h * max(1, len(entries)) + 4), (255, 255, 255))
    draw = ImageDraw.Draw(legend)
    if not entries:
        draw.text((4, 2), "(no annotations)", fill=(0, 0, 0), font=font)
    for i, (text, colour) in enumerate(entries):
        y = 2 + i * line_h
        draw.rectangle([4, y + 2, 14, y + 12], fill=colour)
        draw.text((18, y + 1), text, fill=(0, 0, 0), font=font)
    return legend


def draw_objects(image: Image.Image, objects: Sequence[ObjectAnnotation],
                 colours: dict[str, Colour] | None = None) -> Image.Image:
    """Return a new RGB image with masks, boxes, polygons, keypoint skeletons, points and phrase labels
    drawn, plus a legend strip below listing each phrase (with its instance count) and the negatives.

    ``colours``: phrase -> RGB for every phrase of ``objects`` (default :func:`phrase_colours` of them).
    Raises ``ValueError`` if a mask cannot be decoded or does not match the image size.
    """
    colours = colours if colours is not None else phrase_colours(o.phrase for o in objects)
    canvas = _overlay_masks(image.convert("RGB"), objects, colours)
    draw = ImageDraw.Draw(canvas)
    line_w = max(1, round(min(canvas.size) / 150))
    counts: dict[str, int] = {}
    negatives: list[str] = []
    for obj in objects:
        if obj.is_negative:
            if obj.phrase not in negatives:
                negatives.append(obj.phrase)
            continue
        counts[obj.phrase] = counts.get(obj.phrase, 0) + 1
        _draw_object(draw, canvas.width, obj, colours[obj.phrase], line_w)
    legend = _legend(max(canvas.width, 160), colours, counts, negatives)
    out = Image.new("RGB", (legend.width, canvas.height + legend.height), (255, 255, 255))
    out.paste(canvas, (0, 0))
    out.paste(legend, (0, canvas.height))
    return out


TITLE_HEIGHT = 14  # pixels of the title line above each panel of a comparison


def draw_comparison(image: Image.Image, truth: Sequence[ObjectAnnotation], predicted: Sequence[ObjectAnnotation],
                    titles: tuple[str, str] = ("ground truth", "prediction"), max_side: int | None = None,
                    ) -> Image.Image:
    """Ground truth (left) and predictions (right), each drawn by :func:`draw_objects` on a copy of
    ``image`` with one colour per phrase across both panels, under a title line each.

    ``max_side``: when the image's longer side exceeds it (pixels), the result is scaled down by
    ``max_side / longer side`` (for debug images written at every step). Raises ``ValueError`` as
    :func:`draw_objects` does.
    """
    colours = phrase_colours([o.phrase for o in truth] + [o.phrase for o in predicted])
    panels = [draw_objects(image, truth, colours), draw_objects(image, predicted, colours)]
    canvas = Image.new("RGB", (sum(p.width for p in panels), TITLE_HEIGHT + max(p.height for p in panels)),
                       (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    x = 0
    for panel, title in zip(panels, titles):
        canvas.paste(panel, (x, TITLE_HEIGHT))
        draw.text((x + 2, 1), title, fill=(0, 0, 0), font=_font())
        x += panel.width
    longer = max(image.size)
    if max_side is not None and longer > max_side:
        scale = max_side / longer
        canvas = canvas.resize((max(1, round(canvas.width * scale)), max(1, round(canvas.height * scale))))
    return canvas


def _save_png_atomic(image: Image.Image, path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".vis.", suffix=".png.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            image.save(fh, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


@dataclass
class VisStats:
    """Written PNG paths and ``(index, reason)`` for each sample that could not be drawn."""

    written: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def select_indices(num_total: int, num_samples: int, indices: Sequence[int] | None, seed: int) -> list[int]:
    """Explicit ``indices`` if given, else ``num_samples`` distinct indices drawn with ``seed``."""
    if indices is not None:
        return list(indices)
    return random.Random(seed).sample(range(num_total), min(num_samples, num_total))


def visualize_tsv(
    image_tsv: str,
    ann_tsv: str,
    lineidx: str,
    output_dir: str,
    num_samples: int = 10,
    indices: Sequence[int] | None = None,
    seed: int = 42,
    box_format: str = "xyxy",
) -> VisStats:
    """Draw samples of a TSV triple to ``<output_dir>/<index:06d>.png``; bad samples are logged and skipped."""
    os.makedirs(output_dir, exist_ok=True)
    stats = VisStats()
    with TsvReader(image_tsv, ann_tsv, lineidx) as reader:
        for index in select_indices(len(reader), num_samples, indices, seed):
            try:
                image, ann = reader.read(index)
                drawn = draw_objects(image, parse_annotation(ann, box_format=box_format))
            except (TsvFormatError, AnnotationError, ValueError) as exc:
                logger.warning("skipping sample %d: %s", index, exc)
                stats.skipped.append((index, str(exc)))
                continue
            path = os.path.join(output_dir, f"{index:06d}.png")
            _save_png_atomic(drawn, path)
            stats.written.append(path)
    return stats
