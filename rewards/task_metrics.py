"""The official metric (``other_metric.py``) for the other tasks' prediction lines, as pure functions.

Per image (one JSONL line, pixels); split numbers are means over images, F1 of the means:

* polygons (``task2_detect_all_in_polygon_and_recog``, ``task4_detect_all_in_polygon``): names
  lower-cased, spaces and ``_`` deleted; the predictions under GT names are pooled, GT polygons walked
  in order each take the unused prediction of largest IoU that is ``>= T`` and ``> 0``; ``n_pred``
  counts every prediction. IoU is exact (:mod:`dataset.polygons`), 0 for fewer than 6 numbers or an
  invalid polygon. :func:`evaluation_parser_split` reproduces how the original's evaluation parser
  splits a polygon whose second vertex lies right of and below the first into two 4-number lists.
* ``keypoint``: OKS = mean over the GT joints present in the prediction of
  ``exp(-d² / (2·0.025²·A))``, A = GT box area; a predicted ``"unvisible"`` contributes 0 (the
  original crashes and drops the image). AP@t = share of GT instances whose best OKS over all
  predictions is ``>= t`` (1 without GT, 0 without predictions); ``avg_oks`` = mean best OKS over GT
  instances with best OKS > 0.5; each IoU threshold maps to an OKS threshold, AP being P and R.
* ``gui``: right iff any predicted point, or any predicted box's centre, lies in the GT box (inclusive).
* ``hallucination``: right iff nothing is predicted.
* ``visual_prompt_detection``: the generic box rule plus ``mae`` = ``|n_pred - n_gt|`` and the
  duplicate ratio (prediction pairs with IoU > 0.9, over the predictions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import mean
from typing import Any

import numpy as np

from dataset.polygons import polygon_iou
from rewards.detection_metrics import IOU_THRESHOLDS, ImageScore, box_iou, point_in_box

POLYGON_TASKS = ("task2_detect_all_in_polygon_and_recog", "task4_detect_all_in_polygon")
KEYPOINT_OKS_THRESHOLDS = (0.5, 0.75, 0.9, 0.95)
KEYPOINT_SIGMA = 0.025
UNVISIBLE = "unvisible"


def _iou_threshold_to_oks(threshold: float) -> float:
    """The official mapping: 0.5-0.6 -> 0.5, 0.65-0.75 -> 0.75, 0.8-0.9 -> 0.9, 0.95 -> 0.95."""
    if threshold <= 0.6 + 1e-9:
        return 0.5
    if threshold <= 0.75 + 1e-9:
        return 0.75
    if threshold <= 0.9 + 1e-9:
        return 0.9
    return 0.95


def name_key(name: str) -> str:
    """The generic branch's name normalisation: lower case, spaces and ``_`` deleted."""
    return name.lower().replace("_", "").replace(" ", "")


def evaluation_parser_split(polygon: Sequence[float]) -> list[list[float]]:
    """How the original evaluation parser reads a flat polygon: while the next 4 numbers form a box
    with ``x1 > x0`` and ``y1 > y0`` they become a 4-number list, else all remaining numbers become one
    list. An 8-number quadrilateral whose top-right corner lies below its top-left one becomes two lists."""
    values, out, i = list(polygon), [], 0
    while i < len(values):
        chunk = values[i:i + 4]
        if len(chunk) == 4 and chunk[2] > chunk[0] and chunk[3] > chunk[1]:
            out.append(chunk)
            i += 4
        else:
            out.append(values[i:])
            break
    return out


def match_polygons(gt: Mapping[str, Sequence[Sequence[float]]], pred: Mapping[str, Sequence[Sequence[float]]],
                   threshold: float) -> ImageScore:
    """One image's polygon P/R at one IoU threshold (see the module docstring)."""
    gt_n = {name_key(k): list(v) for k, v in gt.items()}
    pred_n = {name_key(k): list(v) for k, v in pred.items()}  # a later key wins, as in the original
    n_gt = sum(len(v) for v in gt_n.values())
    n_pred = sum(len(v) for v in pred_n.values())
    if not gt_n:
        score = 1.0 if n_pred == 0 else 0.0
        return ImageScore(score, score, n_gt, n_pred, 0)
    if n_pred == 0:
        return ImageScore(0.0, 0.0, n_gt, n_pred, 0)
    pool = [p for k in gt_n for p in pred_n.get(k, [])]
    used: set[int] = set()
    for g in (g for polys in gt_n.values() for g in polys):
        best, best_iou = -1, 0.0
        for i, p in enumerate(pool):
            if i in used or len(p) < 6 or len(g) < 6:
                continue
            iou = polygon_iou(g, p)
            if iou > best_iou and iou >= threshold:
                best, best_iou = i, iou
        if best >= 0:
            used.add(best)
    m = len(used)
    return ImageScore(m / n_pred, m / n_gt if n_gt else 0.0, n_gt, n_pred, m)


def oks(gt_box: Sequence[float], gt_joints: Mapping[str, Any], pred_joints: Mapping[str, Any],
        sigma: float = KEYPOINT_SIGMA) -> float:
    """The official OKS of one pair; a predicted ``"unvisible"`` (or any non-point) contributes 0."""
    if not gt_joints or not pred_joints:
        return 0.0
    area = (gt_box[2] - gt_box[0]) * (gt_box[3] - gt_box[1])
    if area <= 0:
        return 0.0
    scores = []
    for name, g in gt_joints.items():
        p = pred_joints.get(name)
        if g is None or p is None:
            continue
        if isinstance(p, (list, tuple)) and len(p) == 2:
            d2 = (float(p[0]) - g[0]) ** 2 + (float(p[1]) - g[1]) ** 2
            scores.append(float(np.exp(-d2 / (2 * sigma ** 2 * area))))
        else:
            scores.append(0.0)
    return sum(scores) / len(scores) if scores else 0.0


def keypoint_image(gt: Mapping[str, Sequence[Mapping[str, Any]]],
                   pred: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """One image's ``{"ap": {t: AP@t}, "avg_oks", "num_gt", "num_pred"}`` (see the module docstring)."""
    gts = [g for instances in gt.values() for g in instances if g.get("keypoints")]
    preds = [p for instances in pred.values() for p in instances if isinstance(p, Mapping)]
    best = [max((oks(g.get("bbox", [0, 0, 1, 1]), g["keypoints"], p.get("keypoints") or {}) for p in preds),
                default=0.0) for g in gts]
    if not gts:
        ap = {t: 1.0 for t in KEYPOINT_OKS_THRESHOLDS}
    elif not preds:
        ap = {t: 0.0 for t in KEYPOINT_OKS_THRESHOLDS}
    else:
        ap = {t: sum(b >= t for b in best) / len(best) for t in KEYPOINT_OKS_THRESHOLDS}
    matched = [b for b in best if b > 0.5]
    return {"ap": ap, "avg_oks": mean(matched) if matched else 0.0, "num_gt": len(gts), "num_pred": len(preds)}


def gui_correct(gt_box: Sequence[float], pred: Mapping[str, Sequence[Sequence[float]]]) -> bool:
    """Any predicted point in the GT box, or any predicted box with its centre in it (inclusive)."""
    if not isinstance(gt_box, (list, tuple)) or len(gt_box) != 4:
        return False
    for items in pred.values():
        for item in items:
            if isinstance(item, (list, tuple)) and len(item) == 2 and point_in_box(item, gt_box):
                return True
            if isinstance(item, (list, tuple)) and len(item) == 4:
                centre = ((item[0] + item[2]) / 2, (item[1] + item[3]) / 2)
                if point_in_box(centre, gt_box):
                    return True
    return False


def duplicate_ratio(boxes: Sequence[Sequence[float]]) -> float:
    """Prediction pairs with IoU > 0.9 over the number of predictions (0 without predictions)."""
    n = len(boxes)
    pairs = sum(box_iou(boxes[i], boxes[j]) > 0.9 for i in range(n) for j in range(i + 1, n))
    return pairs / n if n else 0.0


def image_task_score(record: Mapping[str, Any]) -> float:
    """One line's own score for reports: polygon F1 at IoU 0.5, keypoint AP@0.5, GUI or hallucination 0/1."""
    task, gt, pred = record.get("task_name"), record["gt"], record["extracted_predictions"]
    if task in POLYGON_TASKS:
        return match_polygons(gt, pred, 0.5).f1
    if task == "keypoint":
        return float(keypoint_image(gt, pred)["ap"][0.5])
    if task == "gui":
        return float(gui_correct(gt, pred))
    return float(not any(pred.values()))


def summarise_task_lines(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Split numbers of the polygon, keypoint, GUI, hallucination and visual-prompt lines among ``records``
    (other lines are ignored): ``polygon_*`` (as ``box_*``: per threshold and mean), ``keypoint_ap@t``,
    ``keypoint_mean_f1``, ``keypoint_avg_oks``, ``gui_accuracy``, ``hallucination_accuracy``,
    ``visual_prompt_mae`` and ``visual_prompt_duplicate_ratio``."""
    from rewards.detection_metrics import summarise_box_protocol

    out: dict[str, float] = {}
    polygons = [r for r in records if r.get("task_name") in POLYGON_TASKS]
    if polygons:
        by_t = {t: [match_polygons(r["gt"], r["extracted_predictions"], t) for r in polygons] for t in IOU_THRESHOLDS}
        out.update({k.replace("box_", "polygon_", 1): v for k, v in summarise_box_protocol(by_t).items()})
        out["polygon_num_images"] = len(polygons)
        # The same lines read the way the original's evaluation parser reads them (down-sloping quads split).
        split = [{k: [q for p in v for q in evaluation_parser_split(p)] for k, v in r["extracted_predictions"].items()}
                 for r in polygons]
        by_t = {t: [match_polygons(r["gt"], s, t) for r, s in zip(polygons, split)] for t in IOU_THRESHOLDS}
        summary = summarise_box_protocol(by_t)
        out.update(polygon_evaluation_parser_f1_at_0_5=summary["box_f1@0.5"],
                   polygon_evaluation_parser_mean_f1=summary["box_mean_f1"])
    keypoints = [keypoint_image(r["gt"], r["extracted_predictions"]) for r in records if r.get("task_name") == "keypoint"]
    if keypoints:
        for t in KEYPOINT_OKS_THRESHOLDS:
            out[f"keypoint_ap@{t:g}"] = mean(k["ap"][t] for k in keypoints)
        # P = R = AP at the mapped threshold, so F1 = AP; averaged over the ten IoU thresholds.
        out["keypoint_mean_f1"] = mean(out[f"keypoint_ap@{_iou_threshold_to_oks(t):g}"] for t in IOU_THRESHOLDS)
        out["keypoint_avg_oks"] = mean(k["avg_oks"] for k in keypoints)
        out["keypoint_num_images"] = len(keypoints)
    gui = [gui_correct(r["gt"], r["extracted_predictions"]) for r in records if r.get("task_name") == "gui"]
    if gui:
        out.update(gui_accuracy=mean(map(float, gui)), gui_num_images=len(gui))
    halluc = [not any(r["extracted_predictions"].values()) for r in records if r.get("task_name") == "hallucination"]
    if halluc:
        out.update(hallucination_accuracy=mean(map(float, halluc)), hallucination_num_images=len(halluc))
    vp = [r for r in records if r.get("task_name") == "visual_prompt_detection"]
    if vp:
        counts = [(sum(map(len, r["extracted_predictions"].values())), sum(map(len, r["gt"].values()))) for r in vp]
        out["visual_prompt_mae"] = mean(abs(p - g) for p, g in counts)
        out["visual_prompt_duplicate_ratio"] = mean(
            duplicate_ratio([b for boxes in r["extracted_predictions"].values() for b in boxes]) for r in vp)
    return out
