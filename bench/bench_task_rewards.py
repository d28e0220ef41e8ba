"""Task rewards at 50 objects: each vectorised reward against a straightforward per-pair Python loop of
the same rule (same parse, same one-to-one assignment), timed alternately on the same batch.

Run ``python -m bench.bench_task_rewards`` (also part of ``python -m bench --only rewards``);
:func:`main` returns ``{reward: {"vectorised", "loop", "speedup"}}``. Scores are asserted equal.
"""

from __future__ import annotations

import logging
import math
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dataset.grammar import (
    KeypointInstance,
    ParsedGroup,
    compose_answer,
    compose_keypoint_answer,
    dequantize,
    dequantize_box,
    dequantize_point,
    dequantize_polygon,
    parse_answer,
    parse_keypoint_answer,
)
from dataset.polygons import polygon_iou
from rewards import get_reward, parse_ground_truth
from rewards.assignment import max_weight_matching
from rewards.ground_truth import GroundTruth
from rewards.matching import text_key

logger = logging.getLogger(__name__)

NUM_OBJECTS = 50
BATCH = 8
REPEATS = 5
SIZE = 999  # square image: a bin is a pixel
WORDS = ("alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta")
JOINTS = [f"joint {i}" for i in range(17)]


def _f1(matched: float, num_pred: int, num_gt: int) -> float:
    if num_pred == 0 or num_gt == 0:
        return float(num_pred == num_gt)
    p, r = matched / num_pred, matched / num_gt
    return 2 * p * r / (p + r) if p + r else 0.0


def _loop_match(rows: list[list[float]]) -> float:
    weights = np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    r, c = max_weight_matching(weights) if weights.size else ([], [])
    return float(weights[r, c].sum()) if len(r) else 0.0


def _box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    a = (min(a[0], a[2]), min(a[1], a[3]), max(a[0], a[2]), max(a[1], a[3]))
    b = (min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3]))
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# ------------------------------------------------------------------ loops of the same rules


def loop_vp(groups: list[ParsedGroup], gt: GroundTruth) -> float:
    refs = [tuple(b) for t in gt.answer.values() for b in t.boxes.tolist()]
    preds = [dequantize_box(i.bins, gt.width, gt.height) for g in groups if g.phrase in gt.answer
             for i in g.items if i.kind == "box"]
    return _f1(_loop_match([[_box_iou(p, r) for r in refs] for p in preds]), len(preds), len(refs))


def _ocr_pairs(groups: list[ParsedGroup], gt: GroundTruth, kind: str) -> tuple[list, list, int]:
    preds, other = [], 0
    for g in groups:
        for i in g.items:
            if i.kind == kind:
                preds.append((g.phrase, i.bins))
            else:
                other += 1
    return preds, [(p, s) for p, e in gt.raw["answer"].items() for s in e[kind + "es" if kind == "box" else "polygons"]], other


def loop_ocr_box(groups: list[ParsedGroup], gt: GroundTruth) -> float:
    preds, refs, other = _ocr_pairs(groups, gt, "box")
    rows = [[_box_iou(dequantize_box(b, gt.width, gt.height), tuple(s)) if text_key(t) == text_key(rt) else 0.0
             for rt, s in refs] for t, b in preds]
    return _f1(_loop_match(rows), len(preds) + other, len(refs))


def loop_polygon(groups: list[ParsedGroup], gt: GroundTruth) -> float:
    preds, refs, other = _ocr_pairs(groups, gt, "polygon")
    rows = [[polygon_iou(dequantize_polygon(b, gt.width, gt.height), s) if text_key(t) == text_key(rt) else 0.0
             for rt, s in refs] for t, b in preds]
    return _f1(_loop_match(rows), len(preds) + other, len(refs))


def loop_keypoint(text: str, gt: GroundTruth) -> float:
    names = gt.raw["keypoint_names"]
    refs = [(b, k) for e in gt.raw["answer"].values() for b, k in zip(e["boxes"], e["keypoints"])]
    preds = parse_keypoint_answer(text)
    rows = []
    for p in preds:
        row = []
        for box, kps in refs:
            area = (box[2] - box[0]) * (box[3] - box[1])
            total, labelled = 0.0, 0
            for name in names:
                x, y, v = kps[name]
                if v <= 0:
                    continue
                labelled += 1
                xy = p.keypoints.get(name)
                if xy is not None:
                    d2 = (dequantize(xy[0], gt.width) - x) ** 2 + (dequantize(xy[1], gt.height) - y) ** 2
                    total += math.exp(-d2 / (2 * 0.025 ** 2 * area))
            row.append(total / labelled)
        rows.append(row)
    return _f1(_loop_match(rows), len(preds), len(refs))


def loop_gui_any(groups: list[ParsedGroup], gt: GroundTruth) -> float:
    x0, y0, x1, y1 = next(iter(gt.answer.values())).boxes[0].tolist()
    for g in groups:
        for i in g.items:
            if i.kind == "point":
                cx, cy = dequantize_point(i.bins, gt.width, gt.height)
            elif i.kind == "box":
                bx0, by0, bx1, by1 = dequantize_box(i.bins, gt.width, gt.height)
                cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
            else:
                continue
            if x0 <= cx <= x1 and y0 <= cy <= y1:
                return 1.0
    return 0.0


# ------------------------------------------------------------------ samples


def _jitter(rng: random.Random, value: int) -> int:
    return min(max(value + rng.randint(-3, 3), 0), 999)


def _gt(reward: str, answer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"reward_name": reward, "dataset_name": "bench", "image_size": [SIZE, SIZE], "answer": answer, **extra}


def make_samples(reward: str, rng: random.Random) -> tuple[list[str], list[dict[str, Any]]]:
    """``BATCH`` answers and ground truths of ``NUM_OBJECTS`` objects each, answers near the truth."""
    texts, gts = [], []
    for _ in range(BATCH):
        boxes = []
        for _ in range(NUM_OBJECTS):
            x, y = rng.randint(0, 900), rng.randint(0, 900)
            boxes.append((x, y, x + rng.randint(20, 90), y + rng.randint(20, 90)))
        if reward == "vp_box_iou":
            gts.append(_gt(reward, {"object_1": {"boxes": [list(b) for b in boxes]}}))
            texts.append(compose_answer([("object_1", [tuple(_jitter(rng, c) for c in b) for b in boxes])]))
        elif reward in ("ocr_box_iou", "polygon_iou"):
            words = [rng.choice(WORDS) for _ in boxes]
            answer: dict[str, Any] = {}
            for w, (a, b, c, d) in zip(words, boxes):
                entry = answer.setdefault(w, {"boxes": [], "polygons": []})
                entry["boxes"].append([a, b, c, d])
                entry["polygons"].append([a, b, c, b + 5, c, d, a, d - 5])
            gts.append(_gt(reward, answer))
            if reward == "ocr_box_iou":
                items = [(w, [tuple(_jitter(rng, v) for v in box)]) for w, box in zip(words, boxes)]
            else:
                items = [(w, [tuple(_jitter(rng, v) for v in (a, b, c, b + 5, c, d, a, d - 5))])
                         for w, (a, b, c, d) in zip(words, boxes)]
            texts.append(compose_answer(items))
        elif reward == "keypoint_oks":
            kps = [{n: [rng.randint(b[0], b[2]), rng.randint(b[1], b[3]), rng.choice((0, 1, 2))] for n in JOINTS}
                   for b in boxes]
            gts.append(_gt(reward, {"person": {"boxes": [list(b) for b in boxes], "keypoints": kps}},
                           keypoint_names=JOINTS))
            texts.append(compose_keypoint_answer(
                KeypointInstance("person", b, {n: (_jitter(rng, k[n][0]), _jitter(rng, k[n][1])) for n in JOINTS})
                for b, k in zip(boxes, kps)))
        else:  # gui_hit, any item: 50 points, the last one on the element
            gts.append(_gt(reward, {"play": {"boxes": [[400, 400, 450, 450]]}}))
            points = [(rng.randint(0, 300), rng.randint(0, 300)) for _ in range(NUM_OBJECTS - 1)] + [(420, 420)]
            texts.append(compose_answer([("play", points)]))
    return texts, gts


LOOPS: dict[str, tuple[Callable[..., float], dict[str, Any]]] = {
    "vp_box_iou": (loop_vp, {}),
    "keypoint_oks": (loop_keypoint, {}),
    "ocr_box_iou": (loop_ocr_box, {}),
    "polygon_iou": (loop_polygon, {}),
    "gui_hit": (loop_gui_any, {"mode": "any"}),
}


def bench_one(reward: str, repeats: int = REPEATS) -> dict[str, Any]:
    """Vectorised reward vs its loop on one batch of parsed answers (the reward math alone)."""
    texts, raw = make_samples(reward, random.Random(reward))
    gts = [parse_ground_truth(g) for g in raw]
    fn, options = get_reward(reward), LOOPS[reward][1]
    loop = LOOPS[reward][0]
    answers = texts if getattr(fn, "reads_text", False) else [parse_answer(t) for t in texts]
    fast = [fn(a, g, **options).score for a, g in zip(answers, gts)]
    slow = [loop(a, g) for a, g in zip(answers, gts)]
    assert all(abs(a - b) <= 1e-9 for a, b in zip(fast, slow)), f"{reward}: vectorised and loop disagree"
    fast_s, slow_s = [], []
    for _ in range(repeats):  # alternately, so load on a shared machine hits both alike
        for run, times in ((lambda: [fn(a, g, **options) for a, g in zip(answers, gts)], fast_s),
                           (lambda: [loop(a, g) for a, g in zip(answers, gts)], slow_s)):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    return {"vectorised": {"median": statistics.median(BATCH / t for t in fast_s)},
            "loop": {"median": statistics.median(BATCH / t for t in slow_s)},
            "speedup": statistics.median(s / f for f, s in zip(fast_s, slow_s)), "mean_score": float(np.mean(fast))}


def main() -> dict[str, Any]:
    """Every task reward against its loop at ``NUM_OBJECTS`` objects; logs one row per reward."""
    results = {}
    for reward in LOOPS:
        results[reward] = r = bench_one(reward)
        logger.info("%-13s %d obj: vectorised %8.0f vs loop %8.0f answers/s -> %.1fx (mean score %.2f)", reward,
                    NUM_OBJECTS, r["vectorised"]["median"], r["loop"]["median"], r["speedup"], r["mean_score"])
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
