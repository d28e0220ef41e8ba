"""Reward cost on hostile answers: malformed strings and 10,000-item answers against plain ones.

Two ratios, each measured side by side in one run:

* ``adversarial_over_plain``: the slowest of 2,000 malformed answers (stray tokens, 5,000-digit numbers,
  control characters) over the median plain 10-box answer, end to end through ``compute_score``;
* ``per_item_10k_over_100``: the time per item of a 10,000-item answer over that of a 100-item answer, per
  reward (about 1 when the cost grows linearly with the answer; 100 would mean quadratic).

Run ``python -m bench.bench_reward_worst_case``; :func:`main` returns the numbers as a dict.
"""

from __future__ import annotations

import logging
import random
import statistics
import time
from typing import Any

from dataset.grammar import (
    BOX_END,
    BOX_START,
    OBJ_END,
    OBJ_START,
    compose_answer,
    quantize_box,
    quantize_point,
)
from verl.configs.reward_func import compute_score

logger = logging.getLogger(__name__)

REWARDS = ("box_iou", "point_in_box", "point_in_mask")
SIZE = (640, 480)
ADVERSARIAL_ANSWERS = 2_000
REPEATS = 5


def ground_truth(reward_name: str) -> dict[str, Any]:
    """Two dog boxes with masks and a negative cat on a 640x480 image."""
    return {"reward_name": reward_name, "dataset_name": "bench", "image_size": list(SIZE),
            "answer": {"dog": {"boxes": [[10, 10, 300, 300], [5, 5, 50, 50]],
                               "masks": [[10, 10, 300, 10, 300, 300]] * 2},
                       "cat": {"boxes": []}}}


def adversarial(rng: random.Random) -> str:
    """One malformed answer built from the grammar's tokens and hostile pieces."""
    pieces = [OBJ_START, OBJ_END, BOX_START, BOX_END, "None", ",", ", ", "<", ">", "<<", "\n", " ", "dog", "cat",
              "<|im_end|>", "\x00", "ünï", f"<{'9' * rng.randrange(1, 5000)}>", f"<{rng.randrange(0, 1000)}>",
              "<-5>", "<1.5>", "<1e9>", OBJ_START + "dog" + OBJ_END + BOX_START]
    return "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 60)))


def seconds(text: str, gt: dict[str, Any]) -> float:
    """Best of ``REPEATS`` end-to-end scorings of one answer, in seconds."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        compute_score([text], [gt])
        best = min(best, time.perf_counter() - start)
    return best


def items_answer(reward_name: str, count: int) -> str:
    """``count`` copies of one box (box_iou) or one point (the point rewards) for ``dog``."""
    if reward_name == "box_iou":
        item = quantize_box([10, 10, 300, 300], *SIZE)
    else:
        item = quantize_point([100, 50], *SIZE)
    return compose_answer([("dog", [item] * count)]) + "<|im_end|>"


def main(quick: bool = False) -> dict[str, Any]:
    """Both ratios; logs one line each."""
    rng = random.Random(0)
    gt = ground_truth("box_iou")
    plain = compose_answer([("dog", [quantize_box([10 + i, 10, 300, 300], *SIZE) for i in range(10)])])
    plain_s = statistics.median(seconds(plain, gt) for _ in range(9))
    count = ADVERSARIAL_ANSWERS // (10 if quick else 1)
    slowest = max(seconds(adversarial(rng), ground_truth(REWARDS[i % 3])) for i in range(count))
    results: dict[str, Any] = {"plain_10_box_s": plain_s, "slowest_adversarial_s": slowest,
                               "adversarial_over_plain": slowest / plain_s}
    logger.info("slowest of %d malformed answers %.2f ms vs plain 10-box answer %.2f ms -> %.1fx", count,
                slowest * 1e3, plain_s * 1e3, slowest / plain_s)
    for reward_name in REWARDS:
        gt = ground_truth(reward_name)
        small, large = seconds(items_answer(reward_name, 100), gt), seconds(items_answer(reward_name, 10_000), gt)
        ratio = (large / 10_000) / (small / 100)
        results[f"{reward_name}_per_item_10k_over_100"] = ratio
        logger.info("%-13s per item: 10k items %.2f us vs 100 items %.2f us -> %.2fx", reward_name,
                    large / 10_000 * 1e6, small / 100 * 1e6, ratio)
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
