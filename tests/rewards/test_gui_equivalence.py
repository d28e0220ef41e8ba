"""``gui_hit`` equals a plain per-item loop of its rule on random answers.

The reward skips items by comparing bins with bounds worked out from the GT box; the loop below
dequantises every item with the codec and tests it, so any item the shortcut wrongly skips (or keeps)
changes a score. Image sizes are odd and GT edges sit exactly on bin coordinates, where a bound one
bin off would show.
"""

from __future__ import annotations

import random

import pytest

from dataset.grammar import (
    ParsedGroup,
    ParsedItem,
    dequantize,
    dequantize_box,
    dequantize_point,
    parse_answer,
)
from rewards import get_reward, parse_ground_truth

from .reward_helpers import answer, make_gt


def loop_score(groups: list[ParsedGroup], gt_box: list[float], width: int, height: int, mode: str,
               length_penalty: bool) -> float:
    """The rule item by item: a point inside the box, or a box whose centre is (bounds inclusive)."""
    x0, y0, x1, y1 = min(gt_box[0], gt_box[2]), min(gt_box[1], gt_box[3]), max(gt_box[0], gt_box[2]), max(gt_box[1], gt_box[3])
    outcomes = []
    for group in groups:
        for item in group.items:
            if item.kind == "point":
                cx, cy = dequantize_point(item.bins, width, height)
            elif item.kind == "box":
                bx0, by0, bx1, by1 = dequantize_box(item.bins, width, height)
                cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
            else:
                continue
            outcomes.append(x0 <= cx <= x1 and y0 <= cy <= y1)
    if not outcomes:
        return 0.0
    if mode == "first":
        return float(outcomes[0])
    return sum(outcomes) / len(outcomes) if length_penalty else float(any(outcomes))


def random_case(rng: random.Random) -> tuple[list[ParsedGroup], dict, list[float], int, int]:
    width, height = rng.choice((999, 37, 1921, 640, 3)), rng.choice((999, 53, 1080, 7))
    # GT edges on bin coordinates (the floats of some bin) half the time, anywhere otherwise.
    def coord(side: int) -> float:
        return dequantize(rng.randint(0, 999), side) if rng.random() < 0.5 else rng.uniform(-5, side + 5)
    gt_box = [coord(width), coord(height), coord(width), coord(height)]
    centre_x, centre_y = rng.randint(0, 999), rng.randint(0, 999)

    def near(c: int) -> int:  # bins around the element, so that edges are crossed often
        return min(999, max(0, c + rng.randint(-30, 30))) if rng.random() < 0.7 else rng.randint(0, 999)

    groups = []
    for _ in range(rng.randint(0, 3)):
        items = []
        for _ in range(rng.randint(0, 12)):
            kind = rng.choice(("point", "box", "polygon"))
            if kind == "point":
                items.append(ParsedItem("point", (near(centre_x), near(centre_y))))
            elif kind == "box":
                items.append(ParsedItem("box", (near(centre_x), near(centre_y), near(centre_x), near(centre_y))))
            else:
                items.append(ParsedItem("polygon", tuple(near(centre_x) for _ in range(6))))
        kinds = {i.kind for i in items}
        if items and len(kinds) == 1 and kinds != {"polygon"} and rng.random() < 0.5:
            # the parser's well-formed form: one kind, bins in one flat list
            groups.append(ParsedGroup("play", uniform=(items[0].kind, [b for i in items for b in i.bins])))
        else:
            groups.append(ParsedGroup("play", items))
    gt = make_gt({"play": {"boxes": [gt_box]}}, "gui_hit", size=(width, height))
    return groups, gt, gt_box, width, height


@pytest.mark.parametrize("mode,length_penalty", [("first", False), ("any", False), ("any", True)])
def test_gui_hit_equals_the_per_item_loop(mode: str, length_penalty: bool) -> None:
    rng = random.Random(f"gui {mode} {length_penalty}")
    reward = get_reward("gui_hit")
    hits = 0
    for _ in range(3000):
        groups, raw, gt_box, width, height = random_case(rng)
        expected = loop_score(groups, gt_box, width, height, mode, length_penalty)
        got = reward(groups, parse_ground_truth(raw), mode=mode, length_penalty=length_penalty).score
        assert got == expected, (groups, gt_box, width, height)
        hits += expected > 0
    assert 300 < hits < 2700  # both outcomes are well represented


def test_gui_hit_on_the_exact_edges_of_a_box() -> None:
    # 37 px wide: bin b is at b / 999 * 37 px. Edges placed exactly on bins 400 and 450.
    x0, x1 = dequantize(400, 37), dequantize(450, 37)
    gt = parse_ground_truth(make_gt({"play": {"boxes": [[x0, 0, x1, 37]]}}, "gui_hit", size=(37, 37)))
    reward = get_reward("gui_hit")
    for bin_x, inside in ((399, False), (400, True), (450, True), (451, False)):
        groups = parse_answer(answer(("play", [(0, 0)] * 10 + [(bin_x, 500)])))
        assert reward(groups, gt, mode="any").score == float(inside), bin_x
    # box centres: bins 400 + 400 give x0's float exactly (a hit); 399 + 401 average to bin 400 too, but
    # the codec's floats put that centre one unit in the last place below x0 (a miss, as the rule says)
    assert (399 / 999 * 37 + 401 / 999 * 37) / 2 < x0
    for bins, inside in (((400, 500, 400, 500), True), ((399, 500, 401, 500), False), ((398, 500, 401, 500), False),
                         ((450, 500, 450, 500), True), ((449, 500, 453, 500), False)):
        groups = parse_answer(answer(("play", [(0, 0, 1, 1)] * 10 + [bins])))
        assert reward(groups, gt, mode="any").score == float(inside), bins
