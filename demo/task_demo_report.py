"""The task demo's report (scripts/task_demo.sh): per task, the untrained model, the image-blind guess and
the trained model on the held-out toy split, as markdown tables.

Reads ``EVAL_ROOT/{untrained,blind,trained}/TASK/metrics.json`` (and the blind guess's
``blind_guess.json``); a missing file leaves its row out. The main metric of each task is
``demo.task_blind_guess.MAIN_METRICS``; the demo aims at the trained model beating the blind guess by
:data:`TARGET_MARGIN` on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dataset.atomic_write import write_text_atomic
from demo.task_blind_guess import MAIN_METRICS

__all__ = ["TARGET_MARGIN", "format_report", "load_results", "main"]

TARGET_MARGIN = 0.3
STAGES = (("untrained", "untrained demo model"), ("blind", "image-blind guess"), ("trained", "after SFT"))
# The columns after the main metric: the mean reward and the official number of each task.
EXTRA_COLUMNS = {"visual_prompt": ("mean_vp_box_iou_reward", "protocol_visual_prompt_mae"),
                 "keypoint": ("protocol_keypoint_ap@0.5", "protocol_keypoint_avg_oks"),
                 "ocr_box": ("mean_ocr_box_iou_reward", "protocol_box_mean_f1"),
                 "ocr_polygon": ("mean_polygon_iou_reward", "protocol_polygon_mean_f1"),
                 "gui_grounding": ("protocol_gui_accuracy",),
                 "gui_pointing": ("protocol_gui_accuracy",)}


def load_results(eval_root: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{task: {stage: metrics}}`` for every ``EVAL_ROOT/STAGE/TASK/metrics.json`` present (blind metrics
    carry their ``blind_guess.json`` under ``"blind_guess"``)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for task in MAIN_METRICS:
        for stage, _ in STAGES:
            folder = Path(eval_root) / stage / task
            if not (folder / "metrics.json").is_file():
                continue
            metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
            if (folder / "blind_guess.json").is_file():
                metrics["blind_guess"] = json.loads((folder / "blind_guess.json").read_text(encoding="utf-8"))
            out.setdefault(task, {})[stage] = metrics
    return out


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def margin(stages: dict[str, dict[str, Any]], task: str) -> float | None:
    """Trained minus blind on the task's main metric, or None when either is missing."""
    if "trained" not in stages or "blind" not in stages:
        return None
    return float(stages["trained"][MAIN_METRICS[task]]) - float(stages["blind"][MAIN_METRICS[task]])


def task_table(task: str, stages: dict[str, dict[str, Any]]) -> str:
    """One task's markdown section: a row per stage present."""
    main, extra = MAIN_METRICS[task], EXTRA_COLUMNS[task]
    lines = [f"### {task}", "", f"| held-out toy split | parse rate | **{main}** | " + " | ".join(extra) + " |",
             "|---" * (3 + len(extra)) + "|"]
    for stage, label in STAGES:
        if stage not in stages:
            continue
        metrics = stages[stage]
        if stage == "blind" and "blind_guess" in metrics:
            label = f"{label}: {metrics['blind_guess']['kept']}"
        cells = [_cell(metrics.get("parse_rate")), f"**{_cell(metrics.get(main))}**", *(_cell(metrics.get(k)) for k in extra)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    gap = margin(stages, task)
    if gap is not None:
        verdict = "reached" if gap >= TARGET_MARGIN else "NOT reached"
        lines += ["", f"Trained minus image-blind on {main}: {gap:+.3f} (target +{TARGET_MARGIN}: {verdict})."]
    return "\n".join(lines)


def format_report(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The whole report: a summary row per task, then a table per task."""
    if not results:
        return "no task demo evaluation found\n"
    lines = ["| task | main metric | untrained | image-blind | trained | trained - blind |", "|---|---|---|---|---|---|"]
    for task, stages in results.items():
        values = [_cell(stages.get(stage, {}).get(MAIN_METRICS[task])) for stage, _ in STAGES]
        gap = margin(stages, task)
        lines.append(f"| {task} | {MAIN_METRICS[task]} | " + " | ".join(values) + f" | {'-' if gap is None else f'{gap:+.3f}'} |")
    sections = [task_table(task, stages) for task, stages in results.items()]
    return "\n".join(lines) + "\n\n" + "\n\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the report and write it to ``--output``; returns the exit code."""
    p = argparse.ArgumentParser(description="The task demo's tables: untrained / image-blind / trained per task.")
    p.add_argument("--eval_root", default="work_dirs/task_demo/eval")
    p.add_argument("--output", default=None, help="also write the markdown here")
    args = p.parse_args(argv)
    report = format_report(load_results(args.eval_root))
    print(report, end="")
    if args.output:
        write_text_atomic(args.output, report)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
