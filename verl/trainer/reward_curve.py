"""Summarise a run's reward curve from ``metrics.jsonl`` (one JSON object per step, written by the Tracker).

Pure helpers: :func:`load_metrics` (the last row per step wins, so an appended resumed run is read
correctly), :func:`curve_windows` (mean over the first / middle / last fraction of the steps) and
:func:`format_curve` (a short text report for the end of ``scripts/grpo.sh``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["CurveSummary", "curve_windows", "format_curve", "load_metrics"]


@dataclass(frozen=True)
class CurveSummary:
    """Means of ``key`` over the first, middle and last ``fraction`` of the logged steps."""

    key: str
    steps: int
    start: float
    middle: float
    end: float
    window: int

    @property
    def improved(self) -> bool:
        return self.end > self.start


def load_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of ``metrics.jsonl`` sorted by step; a step logged twice keeps its last row."""
    by_step: dict[int, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                by_step[int(row["step"])] = {**by_step.get(int(row["step"]), {}), **row}
    return [by_step[step] for step in sorted(by_step)]


def _values(rows: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[key])) for r in rows
            if isinstance(r.get(key), (int, float)) and math.isfinite(float(r[key]))]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def curve_windows(rows: list[dict[str, Any]], key: str = "reward/overall", fraction: float = 0.2) -> CurveSummary:
    """Window means of ``key``; the window is ``max(1, round(fraction * steps))`` steps long."""
    values = [v for _, v in _values(rows, key)]
    if not values:
        raise ValueError(f"no finite '{key}' values in the metrics")
    window = max(1, round(fraction * len(values)))
    mid = (len(values) - window) // 2
    return CurveSummary(key, len(values), _mean(values[:window]), _mean(values[mid:mid + window]),
                        _mean(values[-window:]), window)


def format_curve(rows: list[dict[str, Any]], key: str = "reward/overall", fraction: float = 0.2,
                 max_points: int = 40) -> str:
    """Window summary, then ``step value`` pairs (every step, or ``max_points`` evenly spaced ones)."""
    summary = curve_windows(rows, key, fraction)
    points = _values(rows, key)
    stride = max(1, math.ceil(len(points) / max_points))
    shown = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    lines = [
        f"{key} over {summary.steps} steps (window {summary.window} steps = {fraction:.0%}):",
        f"  start {summary.start:.4f}   middle {summary.middle:.4f}   end {summary.end:.4f}   "
        f"({'up' if summary.improved else 'not up'} by {summary.end - summary.start:+.4f})",
        "  " + "  ".join(f"{step}:{value:.3f}" for step, value in shown),
    ]
    val = _values(rows, "val/reward/overall")
    if val:
        lines.append("  validation: " + "  ".join(f"{step}:{value:.3f}" for step, value in val))
    return "\n".join(lines)
