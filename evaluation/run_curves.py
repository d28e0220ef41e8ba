"""Training curves of a run (loss, reward, validation F1 against steps) drawn into one PNG with PIL.

Reads either stage's own record: GRPO's ``metrics.jsonl`` (one JSON row per step, a step logged twice
keeps its last values) or SFT's ``trainer_state.json`` (``log_history``; an output folder without
one uses its newest ``checkpoint-*``). ``tools/plot_run.py`` is the command line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

__all__ = ["PANELS", "choose_panels", "draw_curves", "find_record", "read_series"]

Series = dict[str, list[tuple[int, float]]]

# Panel title -> the keys it shows when the run has them (SFT's and GRPO's names).
PANELS: dict[str, tuple[str, ...]] = {
    "loss": ("loss", "eval_loss", "actor/pg_loss", "actor/kl_loss"),
    "reward": ("reward/overall", "val/reward/overall", "eval_mean_box_iou_reward", "eval_mean_point_in_box_reward"),
    "validation F1": ("eval_protocol_box_mean_f1", "eval_protocol_box_f1@0.5", "eval_protocol_point_in_box_f1",
                      "val/protocol_box_mean_f1", "val/protocol_box_f1@0.5", "val/protocol_point_in_box_f1"),
}
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))


def find_record(path: str | Path) -> Path:
    """``path`` itself (a ``metrics.jsonl`` or ``trainer_state.json``), or the record inside a run folder.

    Raises ``FileNotFoundError`` naming the folder when it holds neither.
    """
    path = Path(path)
    if path.is_file():
        return path
    for candidate in (path / "metrics.jsonl", path / "trainer_state.json"):
        if candidate.is_file():
            return candidate
    checkpoints = sorted(path.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))
    if checkpoints:
        return checkpoints[-1]
    raise FileNotFoundError(f"{path}: no metrics.jsonl, trainer_state.json or checkpoint-*/trainer_state.json")


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        by_step: dict[int, dict[str, Any]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                by_step[int(row["step"])] = {**by_step.get(int(row["step"]), {}), **row}
        return [by_step[step] for step in sorted(by_step)]
    history = json.loads(path.read_text(encoding="utf-8")).get("log_history")
    if not isinstance(history, list):
        raise ValueError(f"{path}: no log_history list (not a trainer_state.json)")
    return [row for row in history if "step" in row]


def read_series(path: str | Path) -> Series:
    """Metric -> ``[(step, value)]`` in step order, finite numbers only, from a record or run folder."""
    series: Series = {}
    for row in _rows(find_record(path)):
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and math.isfinite(value):
                series.setdefault(key, []).append((int(row["step"]), float(value)))
    return series


def choose_panels(series: Series, keys: Sequence[str] | None = None) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Panels to draw: :data:`PANELS` limited to the keys the run has (panels without any left out),
    or with ``keys`` one panel per key. Raises ``ValueError`` naming a key the run lacks."""
    if keys:
        missing = [k for k in keys if k not in series]
        if missing:
            raise ValueError(f"no metric {missing[0]!r} in the run (it has: {', '.join(sorted(series)[:20])} ...)")
        return {key: {key: series[key]} for key in keys}
    panels = {title: {k: series[k] for k in wanted if k in series} for title, wanted in PANELS.items()}
    return {title: lines for title, lines in panels.items() if lines}


def _panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str,
           lines: Mapping[str, list[tuple[int, float]]], font: Any) -> None:
    """One plot: frame, title, y range labels, first/last step, a polyline and legend entry per key."""
    left, top, right, bottom = box
    plot = (left + 60, top + 20, right - 10, bottom - 30)
    draw.rectangle(plot, outline=(0, 0, 0))
    draw.text((left + 60, top + 4), title, fill=(0, 0, 0), font=font)
    points = [p for values in lines.values() for p in values]
    steps = [s for s, _ in points]
    values = [v for _, v in points]
    lo, hi = min(values), max(values)
    hi = hi if hi > lo else lo + 1.0
    first, last = min(steps), max(steps)
    span = last - first or 1
    draw.text((left + 2, plot[1]), f"{hi:.4g}", fill=(0, 0, 0), font=font)
    draw.text((left + 2, plot[3] - 10), f"{lo:.4g}", fill=(0, 0, 0), font=font)
    draw.text((plot[0], plot[3] + 4), f"step {first}", fill=(0, 0, 0), font=font)
    draw.text((plot[2] - 60, plot[3] + 4), f"step {last}", fill=(0, 0, 0), font=font)

    def xy(step: int, value: float) -> tuple[float, float]:
        return (plot[0] + (step - first) / span * (plot[2] - plot[0]),
                plot[3] - (value - lo) / (hi - lo) * (plot[3] - plot[1]))

    for number, (key, values_of_key) in enumerate(lines.items()):
        colour = COLOURS[number % len(COLOURS)]
        coords = [xy(s, v) for s, v in values_of_key]
        if len(coords) > 1:
            draw.line(coords, fill=colour, width=2)
        for x, y in coords if len(coords) <= 50 else coords[-1:]:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.text((plot[0] + 6 + 170 * number, plot[3] + 16), key, fill=colour, font=font)


def draw_curves(panels: Mapping[str, Mapping[str, list[tuple[int, float]]]], width: int = 800,
                panel_height: int = 240) -> Image.Image:
    """One RGB image with the panels stacked top to bottom (``width`` x ``panel_height`` pixels each).

    Raises ``ValueError`` when there is nothing to draw.
    """
    if not panels:
        raise ValueError("no loss, reward or validation F1 metrics to draw")
    image = Image.new("RGB", (width, panel_height * len(panels)), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for number, (title, lines) in enumerate(panels.items()):
        _panel(draw, (0, number * panel_height, width, (number + 1) * panel_height), title, lines, font)
    return image
