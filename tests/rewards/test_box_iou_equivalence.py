"""box_iou end to end (parse + ground truth + score) against a naive loop written here, on random answers.

Each answer is built from a description of what it must parse to (per phrase, the boxes in bins), with
the spellings docs/answer_parsing.md defines: spaces in tokens, leading zeros, numbers over 999, runs of
boxes without commas, points and polygons the box reward ignores, duplicates, repeated phrases,
negatives, junk between groups and text after ``<|im_end|>``. Both the plain-Python and the numpy path
of the reward score every answer.
"""

from __future__ import annotations

import itertools
import random

import pytest
from reward_helpers import make_gt

from dataset.grammar import BOX_END, BOX_START, IM_END, OBJ_END, OBJ_START
from rewards import box_iou
from verl.configs.reward_func import compute_score

PHRASES = ("dog", "cat", "red car", "person", "tree")
PATHS = {"python": 10**9, "numpy": -1}  # PYTHON_MAX_PAIRS forcing one path


def _bin_text(value: int, rng: random.Random) -> tuple[str, int]:
    """One bin token and the value it parses to."""
    style = rng.random()
    if style < 0.05:
        return f"<{rng.randint(1000, 99999)}>", 999  # clamped
    if style < 0.1:
        return f"<{value:04d}>", value  # leading zeros
    if style < 0.15:
        return f"< {value} >", value  # spaces inside
    return f"<{value}>", value


def _box_bins(rng: random.Random) -> tuple[int, int, int, int]:
    kind = rng.random()
    x0, y0, x1, y1 = (rng.randint(0, 999) for _ in range(4))
    if kind < 0.1:
        return x0, y0, x0, y1  # zero area: dropped
    if kind < 0.6:  # near a corner of the image grid shared by many boxes, so IoUs are not all 0
        x0, y0 = rng.randint(0, 600), rng.randint(0, 600)
        return x0, y0, x0 + rng.randint(1, 300), y0 + rng.randint(1, 300)
    return x0, y0, x1, y1  # any corner order


def _group_body(rng: random.Random, boxes: list[tuple[int, ...]]) -> str:
    """A group body whose box reading is ``boxes`` (appended to), with ignored items mixed in."""
    items = []
    for _ in range(rng.choice([0, 1, 2, 3, 5, 12, 40])):
        roll = rng.random()
        if roll < 0.08:  # a point or a 3-bin fragment: not a box
            items.append("".join(f"<{rng.randint(0, 999)}>" for _ in range(rng.choice([2, 3]))))
            continue
        count = 2 if roll < 0.16 else 1  # two boxes written without a comma
        text = ""
        for _ in range(count):
            parsed = [_bin_text(b, rng) for b in _box_bins(rng)]
            text += "".join(t for t, _ in parsed)
            boxes.append(tuple(v for _, v in parsed))
        items.append(text)
        if rng.random() < 0.1:  # the same item again
            items.append(text)
            boxes.extend(boxes[-count:])
    return ",".join(items) if items else "None"


def random_answer(rng: random.Random) -> tuple[str, dict[str, list[tuple[int, ...]]]]:
    """``(text, phrase -> boxes in bins it must parse to)``."""
    expected: dict[str, list[tuple[int, ...]]] = {}
    groups = []
    for _ in range(rng.randint(0, 5)):
        phrase = rng.choice(PHRASES)
        body = _group_body(rng, expected.setdefault(phrase, []))
        spaced = f" {phrase} " if rng.random() < 0.2 else phrase
        groups.append(f"{OBJ_START}{spaced}{OBJ_END}{BOX_START}{body}{BOX_END}")
    text = rng.choice([", ", " and "]).join(groups)
    if rng.random() < 0.3:  # ignored: everything after the end token
        text += f"{IM_END}{OBJ_START}dog{OBJ_END}{BOX_START}<1><2><300><400>{BOX_END}"
    return text, expected


def random_gt(rng: random.Random) -> dict:
    answer = {}
    for phrase in rng.sample(PHRASES, rng.randint(0, len(PHRASES))):
        boxes = []
        for _ in range(rng.choice([0, 1, 2, 4, 10, 30])):
            x0, y0 = rng.uniform(0, 600), rng.uniform(0, 600)
            box = [x0, y0, x0 + rng.uniform(0, 300), y0 + rng.uniform(0, 300)]
            if rng.random() < 0.2:
                box = [round(c) for c in box]  # integer coordinates
            if rng.random() < 0.2:
                box = [box[2], box[3], box[0], box[1]]  # swapped corners
            boxes.append(box)
        answer[phrase] = {"boxes": boxes, "points": [[b[0], b[1]] for b in boxes]}
    return make_gt(answer, size=(rng.choice([640, 999, 1333]), rng.choice([480, 999, 750])))


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _ordered(box: tuple[float, ...]) -> tuple[float, float, float, float]:
    return min(box[0], box[2]), min(box[1], box[3]), max(box[0], box[2]), max(box[1], box[3])


def _best_one_to_one(iou: list[list[float]]) -> float:
    """The largest total IoU of a one-to-one pairing, by trying every pairing (small blocks only)."""
    rows, cols = len(iou), len(iou[0])
    if rows > cols:
        return _best_one_to_one([list(c) for c in zip(*iou)])
    return max(sum(iou[r][c] for r, c in enumerate(perm)) for perm in itertools.permutations(range(cols), rows))


def naive_box_iou(expected: dict[str, list[tuple[int, ...]]], gt: dict, matching: str) -> tuple[float, float, float]:
    """``(f1, precision, recall)`` by the definition in rewards/box_iou.py, pair by pair."""
    width, height = gt["image_size"]
    preds = {p: [b for b in (_ordered((x0 / 999 * width, y0 / 999 * height, x1 / 999 * width, y1 / 999 * height))
                             for x0, y0, x1, y1 in boxes) if (b[2] - b[0]) * (b[3] - b[1]) > 0]
             for p, boxes in expected.items()}
    refs = {p: [_ordered(b) for b in e["boxes"]] for p, e in gt["answer"].items()}
    num_pred, num_gt = sum(map(len, preds.values())), sum(map(len, refs.values()))
    if num_gt == 0:
        return (1.0, 1.0, 1.0) if num_pred == 0 else (0.0, 0.0, 1.0)
    if num_pred == 0:
        return 0.0, 0.0, 0.0
    precision_sum = recall_sum = 0.0
    for phrase, boxes in preds.items():
        if not boxes or not refs.get(phrase):
            continue
        iou = [[_iou(b, g) for g in refs[phrase]] for b in boxes]
        if matching == "best":
            precision_sum += sum(max(row) for row in iou)
            recall_sum += sum(max(col) for col in zip(*iou))
        else:
            precision_sum += _best_one_to_one(iou)
            recall_sum = precision_sum
    p, r = precision_sum / num_pred, recall_sum / num_gt
    return (2 * p * r / (p + r) if p + r > 0 else 0.0), p, r


@pytest.mark.parametrize("path", PATHS)
def test_box_iou_equals_a_naive_loop_on_random_answers(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(box_iou, "PYTHON_MAX_PAIRS", PATHS[path])
    rng = random.Random(17)
    cases = [(random_answer(rng), random_gt(rng)) for _ in range(300)]
    rows = compute_score([text for (text, _), _ in cases], [gt for _, gt in cases])
    for ((text, expected), gt), row in zip(cases, rows):
        f1, p, r = naive_box_iou(expected, gt, "best")
        assert row["overall"] == pytest.approx(f1, abs=1e-12), text
        assert (row["precision"], row["recall"]) == pytest.approx((p, r), abs=1e-12), text


@pytest.mark.parametrize("path", PATHS)
def test_one_to_one_equals_trying_every_pairing(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(box_iou, "PYTHON_MAX_PAIRS", PATHS[path])
    rng = random.Random(23)
    for _ in range(150):
        gt = make_gt({p: {"boxes": [list(_box_bins(rng)) for _ in range(rng.randint(0, 4))]} for p in PHRASES[:3]})
        expected = {p: [_box_bins(rng) for _ in range(rng.randint(0, 4))] for p in PHRASES[1:4]}
        text = ", ".join(f"{OBJ_START}{p}{OBJ_END}{BOX_START}{','.join(''.join(f'<{v}>' for v in b) for b in boxes) or 'None'}"
                         f"{BOX_END}" for p, boxes in expected.items())
        row = compute_score([text], [gt], reward_options={"box_iou": {"matching": "one_to_one"}})[0]
        f1, p, r = naive_box_iou(expected, gt, "one_to_one")
        assert (row["overall"], row["precision"], row["recall"]) == pytest.approx((f1, p, r), abs=1e-12), text


def test_a_ground_truth_shared_by_rollouts_scores_like_copies() -> None:
    rng = random.Random(29)
    gt = random_gt(rng)
    while not any(e["boxes"] for e in gt["answer"].values()):
        gt = random_gt(rng)
    texts = [random_answer(rng)[0] for _ in range(8)]
    shared = compute_score(texts, [gt] * 8)
    copies = compute_score(texts, [{**gt, "answer": dict(gt["answer"])} for _ in texts])
    assert shared == copies
