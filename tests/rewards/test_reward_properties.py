"""Properties of all rewards: range, near-perfect quantised answers, order invariance, robustness."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from reward_helpers import answer, make_gt

from dataset.grammar import BOX_END, BOX_START, OBJ_END, OBJ_START, parse_answer, quantize_box, quantize_point
from rewards import get_reward, parse_ground_truth
from verl.configs.reward_func import compute_score

PHRASES = ["dog", "cat", "red car", "person"]
REWARDS = ["box_iou", "point_in_box", "point_in_mask"]

coord = st.integers(0, 999)
box_bins = st.tuples(coord, coord, coord, coord)
point_bins = st.tuples(coord, coord)
size = st.tuples(st.integers(16, 1200), st.integers(16, 1200))


@st.composite
def scene(draw: st.DrawFn, reward: str) -> tuple[dict, list[tuple[str, list | None]]]:
    width, height = draw(size)
    gt_answer, groups = {}, []
    for phrase in draw(st.lists(st.sampled_from(PHRASES), unique=True, max_size=4)):
        boxes = [[x0, y0, x0 + w, y0 + h] for x0, y0, w, h in draw(st.lists(
            st.tuples(st.integers(0, width - 2), st.integers(0, height - 2), st.integers(1, width), st.integers(1, height)),
            max_size=4))]
        polys = [[b[0], b[1], b[2], b[1], b[2], b[3], b[0], b[3]] for b in boxes]
        gt_answer[phrase] = {"boxes": boxes, "masks": polys if reward == "point_in_mask" else []}
    for phrase in draw(st.lists(st.sampled_from([*PHRASES, "ghost"]), unique=True, max_size=5)):
        items = draw(st.lists(box_bins if reward == "box_iou" else point_bins, max_size=5))
        groups.append((phrase, items or None))
    return make_gt(gt_answer, reward_name=reward, size=(width, height)), groups


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(REWARDS).flatmap(scene), st.sampled_from(["default", "alt"]))
def test_scores_are_in_unit_range(sample: tuple[dict, list], option: str) -> None:
    gt, groups = sample
    alt = {"box_iou": "one_to_one", "point_in_box": "maximum", "point_in_mask": "maximum"}
    opts = {gt["reward_name"]: {"matching": alt[gt["reward_name"]]}} if option == "alt" else None
    row = compute_score([answer(*groups)], [gt], reward_options=opts)[0]
    assert all(0.0 <= row[k] <= 1.0 for k in ("overall", "precision", "recall"))


@st.composite
def large_boxes(draw: st.DrawFn) -> tuple[int, int, list[list[float]]]:
    width, height = draw(st.tuples(st.integers(100, 2000), st.integers(100, 2000)))
    boxes = []
    for _ in range(draw(st.integers(1, 6))):
        x0, y0 = draw(st.floats(0, 0.8 * width)), draw(st.floats(0, 0.8 * height))
        x1 = draw(st.floats(x0 + 0.11 * width, width))  # >= 110 bins wide after flooring
        y1 = draw(st.floats(y0 + 0.11 * height, height))
        boxes.append([x0, y0, min(x1, width), min(y1, height)])
    return width, height, boxes


@settings(max_examples=200, deadline=None)
@given(large_boxes())
def test_quantised_gt_scores_high(case: tuple[int, int, list[list[float]]]) -> None:
    width, height, boxes = case
    bins = [quantize_box(b, width, height) for b in boxes]
    assert all(b[2] - b[0] >= 100 and b[3] - b[1] >= 100 for b in bins)
    gt = make_gt({"dog": {"boxes": boxes}}, size=(width, height))
    for matching in ("best", "one_to_one"):
        row = compute_score([answer(("dog", bins))], [gt], reward_options={"box_iou": {"matching": matching}})[0]
        assert row["overall"] >= 0.95


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(REWARDS).flatmap(scene), st.randoms(use_true_random=False))
def test_permutations_leave_the_score_unchanged(sample: tuple[dict, list], rng: random.Random) -> None:
    gt, groups = sample
    shuffled_groups = [(p, rng.sample(items, len(items)) if items else items) for p, items in groups]
    rng.shuffle(shuffled_groups)
    phrases = list(gt["answer"])
    rng.shuffle(phrases)
    shuffled_gt = {**gt, "answer": {p: gt["answer"][p] for p in phrases}}
    if gt["reward_name"] == "box_iou":
        for p in phrases:
            entry = dict(shuffled_gt["answer"][p])
            entry["boxes"] = rng.sample(entry["boxes"], len(entry["boxes"]))
            shuffled_gt["answer"][p] = entry
        matchings = ["best", "one_to_one"]
    else:
        matchings = ["maximum"]  # greedy depends on item order when GT regions overlap (documented)
    for matching in matchings:
        opts = {gt["reward_name"]: {"matching": matching}}
        before = compute_score([answer(*groups)], [gt], reward_options=opts)[0]
        after = compute_score([answer(*shuffled_groups)], [shuffled_gt], reward_options=opts)[0]
        assert abs(before["overall"] - after["overall"]) <= 1e-9


def _adversarial(rng: random.Random) -> str:
    pieces = [OBJ_START, OBJ_END, BOX_START, BOX_END, "None", ",", ", ", "<", ">", "<<", "\n", " ", "dog", "cat",
              "<|im_end|>", "\x00", "ünï", f"<{'9' * rng.randrange(1, 5000)}>", f"<{rng.randrange(0, 1000)}>",
              "<-5>", "<1.5>", "<1e9>", OBJ_START + "dog" + OBJ_END + BOX_START]
    return "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 60)))


def test_adversarial_strings_never_raise() -> None:
    """Malformed answers (huge numbers, stray tokens, control characters) score in [0, 1]; their cost against a
    plain answer is measured in ``python -m bench.bench_reward_worst_case``, not here."""
    rng = random.Random(0)
    gts = [make_gt({"dog": {"boxes": [[10, 10, 300, 300]], "masks": [[10, 10, 300, 10, 300, 300]]},
                    "cat": {"boxes": []}}, reward_name=r, size=(640, 480)) for r in REWARDS]
    for i in range(10_000):
        text = _adversarial(rng) if i % 10 else "".join(map(chr, rng.choices(range(0x250), k=200)))
        row = compute_score([text], [gts[i % 3]])[0]
        assert 0.0 <= row["overall"] <= 1.0


def test_ten_thousand_items_score_as_hand_computed() -> None:
    """10k copies of one GT box under one-to-one matching, and 10k points: scored as by hand, in range
    (their speed: ``python -m bench.bench_reward_worst_case``)."""
    gts = [make_gt({"dog": {"boxes": [[10, 10, 300, 300], [5, 5, 50, 50]], "masks": [[10, 10, 300, 10, 300, 300]] * 2},
                    "cat": {"boxes": []}}, reward_name=r, size=(640, 480)) for r in REWARDS]
    boxes = answer(("dog", [quantize_box([10, 10, 300, 300], 640, 480)] * 10_000))
    row = compute_score([boxes], [gts[0]], reward_options={"box_iou": {"matching": "one_to_one"}})[0]
    # Hungarian pairs one copy with each GT box: IoU 1 with the first, 40*40 / (290*290 + 45*45 - 40*40) with
    # the second; quantising to 0.64 px bins moves each IoU by under 1%.
    matched_iou = 1 + 1600 / 84525
    assert abs(row["precision"] - matched_iou / 10_000) < 0.01 * 2 / 10_000
    assert abs(row["recall"] - matched_iou / 2) < 0.01
    points = answer(("dog", [quantize_point([100, 50], 640, 480)] * 10_000), ("cat", [(1, 1)] * 100))
    for gt in gts[1:]:
        groups, parsed = parse_answer(points), parse_ground_truth(gt)
        assert len(groups[0].items) == 10_000
        assert 0.0 <= get_reward(gt["reward_name"])(groups, parsed).score <= 1.0
