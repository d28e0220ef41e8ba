"""Where the task demo's answers go wrong: per task, what was recognised and what was localised.

Reads ``EVAL_ROOT/STAGE/TASK/predictions.jsonl`` (``tools/evaluate.py``'s lines: ``question``, ``gt``,
``extracted_predictions`` in pixels, ``index`` into the held-out split) for the image-blind guess and the
trained model, and the GUI split's annotations (every button of an image, not only the named one):

* ``gui_grounding`` / ``gui_pointing``: how often the first answered item (a box's centre, or the point) is
  nearer the named button's centre than any other button's (``named_button``), against choosing a button
  at random (``chance``: the mean of 1 / buttons); the median distance to the named centre when it is chosen.
* ``ocr_box`` / ``ocr_polygon``: of the true words (not ``###``), the share whose text is answered
  (``text_recall``), the share with an answered item of any text whose bounding box has IoU >= 0.5 with the
  word's (``box_recall``), and both at once (``text_and_box``).
* ``visual_prompt``: boxes answered and true per image, and the distance from each true copy's centre to
  the nearest answered centre (median, and the share within 5 px).
* ``keypoint``: the median error in pixels of each visible joint of the first figure.

    python -m demo.task_demo_diagnosis --eval_root work_dirs/task_demo/eval --toy_dir work_dirs/toy_data
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from dataset.atomic_write import write_text_atomic
from dataset.tsv import TsvReader
from rewards.box_iou import pairwise_iou

__all__ = ["diagnose", "format_diagnosis", "gui_diagnosis", "keypoint_diagnosis", "main", "ocr_diagnosis",
           "visual_prompt_diagnosis"]

STAGES = ("blind", "trained")
GUI_STEM = "toy_gui"


def _bounds(coords: Any) -> np.ndarray:
    """The xyxy bounding box (pixels) of a box ``[x0, y0, x1, y1]`` or a flat polygon ``[x, y, ...]``."""
    xy = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    return np.array([xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()])


def _centre(coords: Any) -> np.ndarray:
    """A point's own coordinates, or the centre of a box / polygon's bounds."""
    values = np.asarray(coords, dtype=np.float64).ravel()
    if values.size == 2:
        return values
    box = _bounds(values)
    return (box[:2] + box[2:]) / 2


def _answered(line: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(phrase, coordinates)`` of every answered item, in answer order."""
    return [(phrase, item) for phrase, items in (line.get("extracted_predictions") or {}).items()
            for item in items]


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def gui_diagnosis(lines: list[dict[str, Any]], buttons: list[dict[str, list[float]]]) -> dict[str, Any]:
    """``buttons[index]``: every button of that image, ``{phrase: xyxy box}``; each line's question names one
    (``... "click Save" ...``)."""
    named = 0
    chance = 0.0
    errors: list[float] = []
    for line in lines:
        boxes = buttons[line["index"]]
        chance += 1 / len(boxes)
        target = next(phrase for phrase in boxes if f'"{phrase}"' in line["question"])
        answered = _answered(line)
        if not answered:
            continue
        point = _centre(answered[0][1])
        distance = {phrase: float(np.hypot(*(point - _centre(box)))) for phrase, box in boxes.items()}
        if min(distance, key=distance.__getitem__) == target:
            named += 1
            errors.append(distance[target])
    n = max(len(lines), 1)
    return {"images": len(lines), "named_button": named / n, "chance": chance / n,
            "median_error_px_when_named": _median(errors)}


def ocr_diagnosis(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Text and geometry recalls of the true words (``gt``: ``{word: [box or polygon, ...]}``)."""
    words = text = box = both = 0
    for line in lines:
        answered = [(phrase, _bounds(item)) for phrase, item in _answered(line)]
        for word, shapes in line["gt"].items():
            if word == "###":
                continue
            for shape in shapes:
                words += 1
                truth = _bounds(shape)[None]
                hits = [phrase for phrase, bounds in answered if pairwise_iou(truth, bounds[None])[0, 0] >= 0.5]
                text += any(phrase == word for phrase, _ in answered)
                box += bool(hits)
                both += word in hits
    n = max(words, 1)
    return {"words": words, "text_recall": text / n, "box_recall": box / n, "text_and_box": both / n}


def visual_prompt_diagnosis(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and centre errors of the answered boxes against every true copy."""
    answered = truth = 0
    errors: list[float] = []
    for line in lines:
        centres = [_centre(item) for _, item in _answered(line)]
        copies = [box for boxes in line["gt"].values() for box in boxes]
        answered += len(centres)
        truth += len(copies)
        for box in copies:
            if centres:
                errors.append(min(float(np.hypot(*(_centre(box) - c))) for c in centres))
    n = max(len(lines), 1)
    return {"images": len(lines), "boxes_answered_per_image": answered / n, "copies_per_image": truth / n,
            "median_centre_error_px": _median(errors),
            "copies_within_5px": float(np.mean(np.asarray(errors) < 5)) if errors else 0.0}


def keypoint_diagnosis(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Median pixel error of each visible joint of the first true figure against the first answered one
    (a joint not answered is left out and counted in ``missing``)."""
    errors: dict[str, list[float]] = {}
    missing = 0
    for line in lines:
        figure = next(iter(line["gt"].values()))[0]
        answers = [item for _, item in _answered(line) if isinstance(item, dict)]
        joints = answers[0].get("keypoints", {}) if answers else {}
        for name, (x, y, *visibility) in figure["keypoints"].items():
            if visibility and visibility[0] == 0:
                continue
            guess = joints.get(name)
            if not isinstance(guess, (list, tuple)) or len(guess) < 2:
                missing += 1
                continue
            errors.setdefault(name, []).append(float(np.hypot(guess[0] - x, guess[1] - y)))
    return {"images": len(lines), "missing_joints": missing,
            "median_error_px": {name: _median(values) for name, values in errors.items()}}


def _gui_buttons(toy_dir: str | Path) -> list[dict[str, list[float]]]:
    base = Path(toy_dir) / f"{GUI_STEM}_val"
    with TsvReader(f"{base}.images.tsv", f"{base}.annotations.tsv", f"{base}.annotations.tsv.lineidx") as reader:
        return [{e["phrase"]: e["bbox"] for e in reader.read_annotation(i)[1]["boxes"]} for i in range(len(reader))]


def diagnose(eval_root: str | Path, toy_dir: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{task: {stage: numbers}}`` for every ``EVAL_ROOT/STAGE/TASK/predictions.jsonl`` present."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    buttons: list[dict[str, list[float]]] | None = None
    for task in ("visual_prompt", "keypoint", "ocr_box", "ocr_polygon", "gui_grounding", "gui_pointing"):
        for stage in STAGES:
            path = Path(eval_root) / stage / task / "predictions.jsonl"
            if not path.is_file():
                continue
            lines = [json.loads(row) for row in path.read_text(encoding="utf-8").splitlines() if row.strip()]
            if task.startswith("gui"):
                buttons = buttons if buttons is not None else _gui_buttons(toy_dir)
                numbers = gui_diagnosis(lines, buttons)
            elif task.startswith("ocr"):
                numbers = ocr_diagnosis(lines)
            elif task == "visual_prompt":
                numbers = visual_prompt_diagnosis(lines)
            else:
                numbers = keypoint_diagnosis(lines)
            out.setdefault(task, {})[stage] = numbers
    return out


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.2f}"
    return "-" if value is None else str(value)


def format_diagnosis(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """A markdown table per task: a row per stage, a column per number."""
    if not results:
        return "no predictions.jsonl found\n"
    sections = []
    for task, stages in results.items():
        keys = list(next(iter(stages.values())))
        rows = [f"#### {task}", "", "| stage | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        rows += [f"| {stage} | " + " | ".join(_value(numbers[k]) for k in keys) + " |" for stage, numbers in stages.items()]
        sections.append("\n".join(rows))
    return "\n\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the tables (and write them to ``--output``); returns the exit code."""
    p = argparse.ArgumentParser(description="Where the task demo's answers go wrong, per task (recognition vs "
                                            "localisation), for the image-blind guess and the trained model.")
    p.add_argument("--eval_root", default="work_dirs/task_demo/eval", help="scripts/task_demo.sh's eval folder")
    p.add_argument("--toy_dir", default="work_dirs/toy_data", help="the toy data (for every button of a GUI image)")
    p.add_argument("--output", default=None, help="also write the markdown here")
    args = p.parse_args(argv)
    text = format_diagnosis(diagnose(args.eval_root, args.toy_dir))
    print(text, end="")
    if args.output:
        write_text_atomic(args.output, text)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
