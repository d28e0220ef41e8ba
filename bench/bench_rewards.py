"""Reward throughput: scores/s per reward at 1, 10 and 100 objects per image, and vectorised
``box_iou`` against a per-pair pure-Python loop of the same definition and against a
reimplementation of the original Rex-Omni ``compute_score`` (regex parse + loops), end to end.

Run ``python -m bench.bench_rewards``; :func:`main` returns the numbers as a dict.
"""

from __future__ import annotations

import logging
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from dataset.grammar import (
    ParsedGroup,
    compose_answer,
    dequantize_box,
    parse_answer,
    quantize_box,
    quantize_point,
)
from rewards import parse_ground_truth
from rewards.box_iou import box_iou_reward
from verl.configs.reward_func import compute_score

logger = logging.getLogger(__name__)

CLASSES = ("person", "car", "dog", "traffic light")
OBJECT_COUNTS = (1, 10, 100)
BATCH_SIZE = 32
ROLLOUTS = 8  # answers per prompt in the grouped comparison
REPEATS = 7


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _ordered(box: Sequence[float]) -> tuple[float, float, float, float]:
    return (min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3]))


def loop_box_iou(prediction: str, gt: dict[str, Any]) -> tuple[float, float, float]:
    """Reference ``box_iou`` (default matching) as plain loops over pairs: ``(f1, precision, recall)``."""
    return loop_box_iou_groups(parse_answer(prediction), gt)


def loop_box_iou_groups(groups: list[ParsedGroup], gt: dict[str, Any]) -> tuple[float, float, float]:
    """:func:`loop_box_iou` on an already parsed answer."""
    width, height = gt["image_size"]
    preds = []
    for group in groups:
        for bins in group.of_kind("box"):
            box = _ordered(dequantize_box(bins, width, height))
            if (box[2] - box[0]) * (box[3] - box[1]) > 0:
                preds.append((group.phrase, box))
    gts = [(p, _ordered(b)) for p, entry in gt["answer"].items() for b in entry.get("boxes", [])]
    if not gts and not preds:
        return 1.0, 1.0, 1.0
    if not gts:
        return 0.0, 0.0, 1.0
    if not preds:
        return 0.0, 0.0, 0.0
    precision = sum(max([_iou(b, g) for q, g in gts if q == p] or [0.0]) for p, b in preds) / len(preds)
    recall = sum(max([_iou(g, b) for p, b in preds if p == q] or [0.0]) for q, g in gts) / len(gts)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return f1, precision, recall


_ORIGINAL_SPACES = re.compile(r"\s*(<|>|/)\s*")
_ORIGINAL_GROUP = re.compile(r"<\|object_ref_start\|>(.*?)<\|object_ref_end\|><\|box_start\|>(.*?)<\|box_end\|>")
_ORIGINAL_BIN = re.compile(r"<(\d+)>")


def original_box_iou(prediction: str, gt: dict[str, Any]) -> float:
    """The original ``compute_score`` for ``box_iou``, one sample: whitespace normalised around
    ``<``, ``>`` and ``/``; groups by regex; bins chunked by 4 ignoring commas; ``bin / 1000 * side``;
    corners ordered, zero-area boxes dropped; many-to-one F1 by loops over pairs."""
    width, height = gt["image_size"]
    text = _ORIGINAL_SPACES.sub(r"\1", prediction).replace("\n", "")
    preds: dict[str, list[tuple[float, float, float, float]]] = {}
    for cls, content in _ORIGINAL_GROUP.findall(text):
        nums = [int(n) for n in _ORIGINAL_BIN.findall(content)]
        boxes = preds.setdefault(cls.strip(), [])
        for i in range(0, len(nums) - 3, 4):
            x0, y0, x1, y1 = (nums[i] / 1000 * width, nums[i + 1] / 1000 * height,
                              nums[i + 2] / 1000 * width, nums[i + 3] / 1000 * height)
            box = _ordered((x0, y0, x1, y1))
            if (box[2] - box[0]) * (box[3] - box[1]) > 0:
                boxes.append(box)
    gts = {cls: [_ordered(b) for b in entry["boxes"]] for cls, entry in gt["answer"].items() if "boxes" in entry}
    n_gt, n_pred = sum(len(b) for b in gts.values()), sum(len(b) for b in preds.values())
    if n_gt == 0:
        return 1.0 if n_pred == 0 else 0.0
    recall = sum(max([_iou(g, p) for p in preds.get(c, [])] or [0.0]) for c, bs in gts.items() for g in bs) / n_gt
    precision = (sum(max([_iou(p, g) for g in gts.get(c, [])] or [0.0]) for c, bs in preds.items() for p in bs)
                 / n_pred if n_pred else 0.0)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _random_box(rng: random.Random, width: int, height: int) -> list[float]:
    w, h = rng.uniform(0.05, 0.4) * width, rng.uniform(0.05, 0.4) * height
    x0, y0 = rng.uniform(0, width - w), rng.uniform(0, height - h)
    return [x0, y0, x0 + w, y0 + h]


def _box_rle(box: Sequence[float], width: int, height: int) -> dict[str, Any]:
    bits = np.zeros((height, width), dtype=np.uint8, order="F")
    bits[int(box[1]) : int(box[3]), int(box[0]) : int(box[2])] = 1
    rle = mask_utils.encode(bits)
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def make_sample(reward_name: str, num_objects: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A realistic (prediction, ground truth): jittered hits, a few misses, false positives and a negative."""
    width, height = rng.choice([(640, 480), (1024, 768), (800, 1200)])
    classes = list(CLASSES[:3])
    answer: dict[str, dict[str, list]] = {c: {"boxes": [], "points": [], "masks": []} for c in CLASSES}
    predicted: dict[str, list[tuple[int, ...]]] = {c: [] for c in CLASSES}
    for _ in range(num_objects):
        cls, box = rng.choice(classes), _random_box(rng, width, height)
        answer[cls]["boxes"].append(box)
        answer[cls]["points"].append([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        if reward_name == "point_in_mask":
            answer[cls]["masks"].append(_box_rle(box, width, height))
        if rng.random() < 0.9:  # hit, slightly off
            jitter = [c + rng.gauss(0, 4) for c in box]
            if reward_name == "box_iou":
                predicted[cls].append(quantize_box(jitter, width, height))
            else:
                predicted[cls].append(quantize_point(answer[cls]["points"][-1], width, height))
        if rng.random() < 0.1:  # false positive
            fp = _random_box(rng, width, height)
            item = quantize_box(fp, width, height) if reward_name == "box_iou" else quantize_point(fp[:2], width, height)
            predicted[rng.choice(classes)].append(item)
    groups = [(c, predicted[c] or None) for c in CLASSES]  # the unused class is a negative
    rng.shuffle(groups)
    gt = {"reward_name": reward_name, "dataset_name": "bench", "image_size": [width, height], "answer": answer}
    return compose_answer(groups) + "<|im_end|>", gt


def _rates(fn: Callable[[], Any], batch: int, repeats: int) -> dict[str, float]:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        rates.append(batch / (time.perf_counter() - start))
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def bench_reward(reward_name: str, num_objects: int, repeats: int = REPEATS, **options: Any) -> dict[str, float]:
    """Scores/s of ``compute_score`` on a batch of ``BATCH_SIZE`` samples with ``num_objects`` each."""
    rng = random.Random(num_objects)
    predicts, gts = zip(*(make_sample(reward_name, num_objects, rng) for _ in range(BATCH_SIZE)))
    reward_options = {reward_name: options} if options else None
    return _rates(lambda: compute_score(predicts, gts, reward_options=reward_options), BATCH_SIZE, repeats)


def bench_box_iou_vs_loop(num_objects: int, repeats: int = REPEATS) -> dict[str, Any]:
    """Vectorised vs loop ``box_iou`` on the same batch; scores asserted equal to 1e-9."""
    rng = random.Random(1000 + num_objects)
    predicts, gts = zip(*(make_sample("box_iou", num_objects, rng) for _ in range(BATCH_SIZE)))
    fast = [r["overall"] for r in compute_score(predicts, gts)]
    slow = [loop_box_iou(p, g)[0] for p, g in zip(predicts, gts)]
    assert all(abs(a - b) <= 1e-9 for a, b in zip(fast, slow)), "vectorised and loop box_iou disagree"
    parsed = [parse_ground_truth(g) for g in gts]
    groups = [parse_answer(p) for p in predicts]
    # GRPO's shape: ROLLOUTS answers per prompt scored against the same ground-truth object (the
    # prompt's answer repeated; nothing caches answers, only validated ground truths).
    group_predicts = [p for p in predicts[:BATCH_SIZE // ROLLOUTS] for _ in range(ROLLOUTS)]
    group_gts = [g for g in gts[:BATCH_SIZE // ROLLOUTS] for _ in range(ROLLOUTS)]
    pairs = {
        # The original's own parse and loops (bins / 1000, so scores differ slightly from ours).
        "vs_original": (lambda: compute_score(predicts, gts),
                        lambda: [original_box_iou(p, g) for p, g in zip(predicts, gts)], "original"),
        "vs_original_grouped": (lambda: compute_score(group_predicts, group_gts),
                                lambda: [original_box_iou(p, g) for p, g in zip(group_predicts, group_gts)],
                                "original"),
        "end_to_end": (lambda: compute_score(predicts, gts),
                       lambda: [loop_box_iou(p, g) for p, g in zip(predicts, gts)], "loop"),
        # The same two on pre-parsed answers and ground truths: the reward math alone.
        "math_only": (lambda: [box_iou_reward(a, g) for a, g in zip(groups, parsed)],
                      lambda: [loop_box_iou_groups(a, g) for a, g in zip(groups, gts)], "loop"),
    }
    original = pairs["vs_original"][1]
    # One stage of compute_score alone vs the whole original: the stage costs 1/speedup of its time.
    stages = {"parse_vs_original": lambda: [parse_answer(p) for p in predicts],
              "ground_truth_vs_original": lambda: [parse_ground_truth(g) for g in gts],
              "math_vs_original": pairs["math_only"][0]}
    pairs.update({name: (stage, original, "original") for name, stage in stages.items()})
    return {name: _paired(fast_fn, slow_fn, other, repeats) for name, (fast_fn, slow_fn, other) in pairs.items()}


def _paired(fast_fn: Callable[[], Any], slow_fn: Callable[[], Any], other: str, repeats: int) -> dict[str, Any]:
    """Both functions timed alternately, so load on a shared machine hits them alike; ``speedup`` is the
    median of the per-round ratios."""
    fast_s, slow_s = [], []
    for _ in range(repeats):
        for fn, times in ((fast_fn, fast_s), (slow_fn, slow_s)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    rates = {name: {"median": statistics.median(BATCH_SIZE / t for t in times),
                    "min": BATCH_SIZE / max(times), "max": BATCH_SIZE / min(times)}
             for name, times in (("vectorised", fast_s), (other, slow_s))}
    return {**rates, "speedup": statistics.median(s / f for f, s in zip(fast_s, slow_s))}


def main() -> dict[str, Any]:
    """Run every benchmark, log a table and return ``{"rewards": ..., "box_iou_vs_loop": ...}``."""
    results: dict[str, Any] = {"batch_size": BATCH_SIZE, "repeats": REPEATS, "rewards": {}, "box_iou_vs_loop": {}}
    runs = [("box_iou", {}), ("box_iou", {"matching": "one_to_one"}), ("point_in_box", {}), ("point_in_mask", {})]
    for name, options in runs:
        label = name + "".join(f"[{v}]" for v in options.values())
        for n in OBJECT_COUNTS:
            r = bench_reward(name, n, **options)
            results["rewards"][f"{label}@{n}"] = r
            logger.info("%-24s %4d obj: %9.0f scores/s (min %.0f, max %.0f)", label, n, r["median"], r["min"], r["max"])
    for n in OBJECT_COUNTS:
        results["box_iou_vs_loop"][n] = both = bench_box_iou_vs_loop(n)
        for kind, r in both.items():
            other = r.get("loop", r.get("original"))
            logger.info("box_iou vectorised vs %s %4d obj: %8.0f vs %8.0f scores/s -> %.1fx",
                        f"original ({kind})" if "original" in r else f"loop ({kind})", n, r["vectorised"]["median"],
                        other["median"], r["speedup"])
    from bench.bench_task_rewards import main as task_rewards_main

    results["task_rewards_vs_loop"] = task_rewards_main()  # a row per task reward at 50 objects
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
