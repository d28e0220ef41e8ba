"""Side-by-side PNG of ground truth (left) and prediction (right) drawn over the sample's image.

Used when ``LOG_VISUALIZE_PATH`` names a folder and the caller passes the images. Boxes are
outlines, points small discs, GT masks a tinted overlay; one colour per phrase.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dataset.grammar import ParsedGroup
from rewards.ground_truth import GroundTruth
from rewards.predictions import predicted_boxes, predicted_points
from rewards.rle import decode_mask

logger = logging.getLogger(__name__)

MAX_SIDE = 512
TITLE_HEIGHT = 14
PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128), (170, 110, 40)]


def _draw_objects(panel: Image.Image, scale: float, colors: dict[str, tuple[int, int, int]],
                  boxes: dict[str, np.ndarray], points: dict[str, np.ndarray]) -> None:
    draw = ImageDraw.Draw(panel)
    for phrase, arr in boxes.items():
        for x0, y0, x1, y1 in np.asarray(arr).reshape(-1, 4) * scale:
            draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=colors[phrase], width=2)
            draw.text((min(x0, x1) + 2, min(y0, y1) + 1), phrase, fill=colors[phrase])
    for phrase, arr in points.items():
        for x, y in np.asarray(arr).reshape(-1, 2) * scale:
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colors[phrase], outline=(255, 255, 255))


def _overlay_masks(panel: Image.Image, gt: GroundTruth, colors: dict[str, tuple[int, int, int]]) -> Image.Image:
    for phrase, targets in gt.answer.items():
        for mask in targets.masks:
            try:
                bits = decode_mask(mask, gt.width, gt.height)
            except Exception as err:  # a drawing must never stop training
                logger.debug("mask of %r not drawn: %s", phrase, err)
                continue
            alpha = Image.fromarray((bits * 110).astype(np.uint8)).resize(panel.size)
            panel = Image.composite(Image.new("RGB", panel.size, colors[phrase]), panel, alpha)
    return panel


def render_comparison(image: Image.Image, gt: GroundTruth, groups: list[ParsedGroup], score: float) -> Image.Image:
    """The two panels side by side, each at most ``MAX_SIDE`` pixels on its longer side."""
    scale = min(1.0, MAX_SIDE / max(gt.width, gt.height))
    size = (max(1, round(gt.width * scale)), max(1, round(gt.height * scale)))
    base = image.convert("RGB").resize(size)
    phrases = sorted(set(gt.answer) | {g.phrase for g in groups})
    colors = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(phrases)}
    left = _overlay_masks(base.copy(), gt, colors)
    gt_boxes = {p: t.boxes for p, t in gt.answer.items()}
    _draw_objects(left, scale, colors, gt_boxes, {p: t.points for p, t in gt.answer.items()})
    right = base.copy()
    pred_boxes = predicted_boxes(groups, gt.width, gt.height)
    _draw_objects(right, scale, colors, pred_boxes, predicted_points(groups, gt.width, gt.height))
    canvas = Image.new("RGB", (2 * size[0], size[1] + TITLE_HEIGHT), (255, 255, 255))
    canvas.paste(left, (0, TITLE_HEIGHT))
    canvas.paste(right, (size[0], TITLE_HEIGHT))
    title = ImageDraw.Draw(canvas)
    title.text((2, 1), f"GT | {gt.dataset_name}", fill=(0, 0, 0))
    title.text((size[0] + 2, 1), f"Prediction | {gt.reward_name}: {score:.3f}", fill=(0, 0, 0))
    return canvas


def save_comparison(folder: str | Path, image: Image.Image, gt: GroundTruth, groups: list[ParsedGroup],
                    score: float, index: int) -> Path | None:
    """Render and save ``{reward}_{dataset}_{time}_{index}.png`` in ``folder``; None (logged) on failure."""
    stem = re.sub(r"[^\w.-]+", "_", f"{gt.reward_name}_{gt.dataset_name}")
    path = Path(folder) / f"{stem}_{time.strftime('%Y%m%d_%H%M%S')}_{time.time_ns() % 10**9:09d}_{index}.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        render_comparison(image, gt, groups, score).save(path)
    except Exception as err:  # a drawing must never stop training
        logger.warning("could not save reward visualisation %s: %s", path, err)
        return None
    return path
