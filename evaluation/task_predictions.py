"""Prediction lines in the official evaluation shape for the other tasks (one JSON object per image).

``task_name`` and the shape of ``gt`` / ``extracted_predictions`` (pixels) per task:

* ``ocr_box``: ``"ocr_box"`` (the official generic branch, text = name); ``{text: [[x0, y0, x1, y1]]}``;
* ``ocr_polygon``: ``"task2_detect_all_in_polygon_and_recog"``; ``{text: [[x0, y0, x1, y1, ...]]}``, read with
  the wrapper's rule (2k bins = one polygon; a 4-bin item stays a 4-number list);
* ``keypoint``: ``"keypoint"``; ``{category: [{"bbox", "keypoints": {name: [x, y] | "unvisible"}}]}`` (GT
  joints with visibility 0 are left out of ``gt``);
* ``gui_grounding`` / ``gui_pointing``: ``"gui"``; ``gt`` is the element's ``[x0, y0, x1, y1]``;
* ``visual_prompt``: ``"visual_prompt_detection"`` (the original's prediction lines carry no name and are
  scored as referring; the name makes its count error and duplicate ratio computed);
* ``referring``: ``"referring_object_detection"``, or ``"hallucination"`` when the image has none of the
  asked objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dataset.grammar import (
    dequantize_box,
    dequantize_point,
    dequantize_polygon,
    parse_answer,
    parse_keypoint_answer,
)

TASK_NAMES = {"ocr_box": "ocr_box", "ocr_polygon": "task2_detect_all_in_polygon_and_recog", "keypoint": "keypoint",
              "gui_grounding": "gui", "gui_pointing": "gui", "visual_prompt": "visual_prompt_detection"}


def _items(raw_response: str, width: int, height: int) -> dict[str, list[list[float]]]:
    """Phrase -> every item in pixels as the wrapper's parser reads it: 2 bins a point, 4 a box, 2k a
    polygon (not split into boxes); a phrase written twice has its items merged."""
    decode = {"point": dequantize_point, "box": dequantize_box, "polygon": dequantize_polygon}
    out: dict[str, list[list[float]]] = {}
    for group in parse_answer(raw_response):
        items = out.setdefault(group.phrase, [])
        items.extend(list(decode[item.kind](item.bins, width, height)) for item in group.items)
    return out


def _keypoints(raw_response: str, width: int, height: int) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for inst in parse_keypoint_answer(raw_response):
        joints = {n: "unvisible" if xy is None else list(dequantize_point(xy, width, height))
                  for n, xy in inst.keypoints.items()}
        out.setdefault(inst.category, []).append(
            {"bbox": list(dequantize_box(inst.bbox, width, height)), "keypoints": joints})
    return out


def task_record(task: str, image_path: str, question: str, raw_response: str, gt: Mapping[str, Any]) -> dict[str, Any]:
    """One image's line for ``task`` from the reward ground truth ``gt`` (see the module docstring)."""
    width, height = (int(v) for v in gt["image_size"])
    answer = gt["answer"]
    record: dict[str, Any] = {"image_path": image_path, "question": question, "raw_response": raw_response,
                              "dataset_name": gt.get("dataset_name", "unknown"), "image_size": [width, height],
                              "task_name": TASK_NAMES.get(task, "referring_object_detection")}
    if task == "keypoint":
        record["gt"] = {p: [{"bbox": b, "phrase": p,
                             "keypoints": {n: xyv[:2] for n, xyv in k.items() if xyv[2] > 0}}
                            for b, k in zip(t.get("boxes") or [], t.get("keypoints") or [])]
                        for p, t in answer.items()}
        record["extracted_predictions"] = _keypoints(raw_response, width, height)
        return record
    preds = _items(raw_response, width, height)
    if task in ("gui_grounding", "gui_pointing"):
        record["gt"] = next((list(t["boxes"][0]) for t in answer.values() if t.get("boxes")), [])
        record["extracted_predictions"] = preds
        return record
    key = "polygons" if task == "ocr_polygon" else "boxes"
    record["gt"] = {p: [list(map(float, g)) for g in t.get(key) or []] for p, t in answer.items() if t.get(key)}
    if task in ("referring", "hallucination") and not record["gt"]:
        record["task_name"] = "hallucination"
    if task in ("ocr_box", "referring", "hallucination", "visual_prompt"):
        preds = {p: [i for i in items if len(i) == 4] for p, items in preds.items()}
    record["extracted_predictions"] = preds
    return record

