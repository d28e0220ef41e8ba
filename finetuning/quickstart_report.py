"""The quickstart's closing summary: held-out metrics per stage side by side, and the GRPO reward curve."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from verl.trainer.reward_curve import format_curve, load_metrics

STAGES = (("before", "untrained demo model"), ("sft", "after SFT"), ("grpo", "after GRPO"))
COLUMNS = ("num_samples", "parse_rate", "mean_box_iou_reward", "box_f1@0.5", "box_precision@0.5", "box_recall@0.5")


def load_stage_metrics(eval_root: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``{stage: metrics}`` for every stage whose ``<eval_root>/<stage>/metrics.json`` exists."""
    found = {}
    for stage, _ in STAGES:
        path = Path(eval_root) / stage / "metrics.json"
        if path.is_file():
            found[stage] = json.loads(path.read_text(encoding="utf-8"))
    return found


def format_metrics_table(metrics: dict[str, dict[str, Any]]) -> str:
    """A fixed-width table: one row per stage present, one column per metric in ``COLUMNS``."""
    if not metrics:
        return "no evaluation results found"
    header = f"{'stage':<22}" + "".join(f"{name:>20}" for name in COLUMNS)
    rows = [header, "-" * len(header)]
    for stage, label in STAGES:
        if stage not in metrics:
            continue
        cells = []
        for name in COLUMNS:
            value = metrics[stage].get(name)
            cells.append(f"{value:>20.4f}" if isinstance(value, float) else f"{str(value):>20}")
        rows.append(f"{label:<22}" + "".join(cells))
    return "\n".join(rows)


def quickstart_report(work_dirs: str | os.PathLike[str]) -> str:
    """The whole summary text for ``work_dirs`` (missing parts are said to be missing)."""
    parts = ["Held-out grounding metrics (toy val split):", format_metrics_table(load_stage_metrics(Path(work_dirs) / "eval"))]
    curve_file = Path(work_dirs) / "grpo" / "metrics.jsonl"
    if curve_file.is_file():
        parts += ["", "GRPO training reward:", format_curve(load_metrics(curve_file))]
    else:
        parts += ["", f"no GRPO metrics at {curve_file}"]
    return "\n".join(parts)
