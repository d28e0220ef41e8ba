"""The quickstart's closing summary: held-out metrics per stage side by side, an image-blind baseline,
the SFT loss curve and the GRPO reward curve."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dataset.tsv import TsvPaths, TsvReader
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


def _grounding_boxes(prefix: Path) -> list[list[float]]:
    """Every non-null ``bbox`` of a grounding TSV split (``TsvReader`` names the file and sample of a bad line)."""
    with TsvReader(*TsvPaths.from_prefix(prefix)) as reader:
        annotations = [reader.read_annotation(index)[1] for index in range(len(reader))]
    return [b["bbox"] for annotation in annotations for b in annotation.get("boxes", []) if b.get("bbox")]


def blind_baseline(toy_dir: str | os.PathLike[str]) -> dict[str, float] | None:
    """An image-blind guess on the val split: the mean training box answered for every val box.

    Returns ``{"box_f1@0.5", "mean_iou", "num_gt"}`` (the guess is told how many boxes there are, so
    its precision equals its recall), or None when the toy grounding splits are missing.
    """
    train, val = Path(toy_dir) / "toy_grounding_train", Path(toy_dir) / "toy_grounding_val"
    if not all(Path(path).is_file() for prefix in (train, val) for path in TsvPaths.from_prefix(prefix)):
        return None
    train_boxes, val_boxes = _grounding_boxes(train), _grounding_boxes(val)
    if not train_boxes or not val_boxes:
        return None
    hit_rate, mean_iou = mean_box_guess(train_boxes, val_boxes)
    return {"box_f1@0.5": hit_rate, "mean_iou": mean_iou, "num_gt": len(val_boxes)}


def mean_box_guess(known: Sequence[Sequence[float]], targets: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Answer the mean of the ``known`` xyxy boxes for every target: (share with IoU >= 0.5, mean IoU)."""
    from rewards.box_iou import pairwise_iou

    mean_box = np.asarray(known, dtype=float).mean(axis=0, keepdims=True)
    ious = pairwise_iou(mean_box, np.asarray(targets, dtype=float))[0]
    return float((ious >= 0.5).mean()), float(ious.mean())


def sft_loss_curve(sft_dir: str | os.PathLike[str], points: int = 7) -> str | None:
    """``step: loss`` at ``points`` evenly spaced logged steps of ``trainer_state.json``, or None."""
    state_file = Path(sft_dir) / "trainer_state.json"
    if not state_file.is_file():
        return None
    logged = [(row["step"], row["loss"]) for row in json.loads(state_file.read_text(encoding="utf-8"))["log_history"]
              if "loss" in row]
    if not logged:
        return None
    picks = sorted({round(i * (len(logged) - 1) / max(points - 1, 1)) for i in range(points)})
    return "  ".join(f"{logged[i][0]}: {logged[i][1]:.3f}" for i in picks)


def quickstart_report(work_dirs: str | os.PathLike[str]) -> str:
    """The whole summary text for ``work_dirs`` (missing parts are said to be missing)."""
    parts = ["Held-out grounding metrics (toy val split):", format_metrics_table(load_stage_metrics(Path(work_dirs) / "eval"))]
    blind = blind_baseline(Path(work_dirs) / "toy_data")
    if blind is not None:
        parts.append(f"image-blind guess (the mean training box for each of the {blind['num_gt']} val boxes): "
                     f"box F1@0.5 {blind['box_f1@0.5']:.4f}, mean IoU {blind['mean_iou']:.4f}")
    curve = sft_loss_curve(Path(work_dirs) / "sft_demo")
    parts += ["", "SFT training loss (step: loss):", curve if curve else "no SFT trainer_state.json found"]
    curve_file = Path(work_dirs) / "grpo" / "metrics.jsonl"
    if curve_file.is_file():
        parts += ["", "GRPO training reward:", format_curve(load_metrics(curve_file))]
    else:
        parts += ["", f"no GRPO metrics at {curve_file}"]
    return "\n".join(parts)
