"""The worst-case reward bench runs in quick mode and reports both ratios for every reward."""

from __future__ import annotations

import random

from bench import bench_reward_worst_case as bench
from dataset.grammar import parse_answer


def test_quick_run_reports_every_ratio() -> None:
    results = bench.main(quick=True)
    assert results["slowest_adversarial_s"] > 0 and results["plain_10_box_s"] > 0
    for reward_name in bench.REWARDS:
        assert results[f"{reward_name}_per_item_10k_over_100"] > 0


def test_items_answer_holds_the_asked_number_of_items() -> None:
    for reward_name, width in (("box_iou", 4), ("point_in_box", 2)):
        groups = parse_answer(bench.items_answer(reward_name, 123))
        assert [g.phrase for g in groups] == ["dog"]
        assert len(groups[0].items) == 123 and all(len(item.bins) == width for item in groups[0].items)


def test_adversarial_answers_vary() -> None:
    rng = random.Random(0)
    assert len({bench.adversarial(rng) for _ in range(50)}) > 40
