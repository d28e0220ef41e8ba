"""Image-blind guesses for the task demo: the best answer a model could give from the question alone.

A model that never looks at the image can still learn from the training split where objects usually
are, which words are common, and what the prompt already says. Per task the guess is built from the
training split only; where there are several reasonable guesses, each is scored on (part of) the
training split with the task's main metric (:data:`MAIN_METRICS`) and the best is kept. Positions are
handled in bins (0-999), so one guess serves every image size.

* ``visual_prompt``: the prompt's exemplar boxes, copied. The other copies are anywhere in the image;
  a box added blind lowers precision far more often than it raises recall.
* ``ocr_box`` / ``ocr_polygon``: the question never changes, so one answer for every image: the ``k``
  words whose "medoid" geometry hits the most training instances (``k`` chosen on training data), each
  at that medoid: the training box (polygon) of the word that overlaps, at IoU >= 0.5, the most
  training boxes (polygons) of the same word.
* ``keypoint``: one answer for every image: the training figure with the highest mean OKS' against
  all training figures, or a left and a right figure (the medoids of each half), whichever scores more.
* ``gui_grounding`` / ``gui_pointing``: per instruction (it names the label), the point that lies in the
  most training boxes of that label; grounding answers a box of the label's median size centred there.

Main metrics: one-to-one or first-item scores, so a blind answer cannot gain by spraying items (the
official keypoint AP and GUI accuracy count a GT as found if *any* predicted item fits it).

``python -m demo.task_blind_guess --task T --train PREFIX --split PREFIX --output_dir DIR`` fits the
guess on ``--train`` and scores it on ``--split`` like ``tools/evaluate.py`` (metrics.json,
predictions.jsonl), plus ``blind_guess.json`` (the candidates' training scores and the one kept).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from dataset.grammar import (
    KeypointInstance,
    compose_answer,
    compose_keypoint_answer,
    quantize_box,
    quantize_point,
    quantize_polygon,
)
from dataset.polygons import polygon_iou

__all__ = ["MAIN_METRICS", "BlindGenerator", "fit_blind_guess", "main"]

MAIN_METRICS = {"visual_prompt": "protocol_box_f1@0.5", "keypoint": "mean_keypoint_oks_reward",
                "ocr_box": "protocol_box_f1@0.5", "ocr_polygon": "protocol_polygon_f1@0.5",
                "gui_grounding": "mean_gui_hit_reward", "gui_pointing": "mean_gui_hit_reward"}
KEYPOINT_SIGMA = 0.025  # the keypoint_oks reward's default σ
_BINS = re.compile(r"<(\d+)><(\d+)><(\d+)><(\d+)>")
_PROMPT_KEY = re.compile(r'\{"([^"]+)":')

Guess = Callable[[str], str]  # question -> answer text


class BlindGenerator:
    """The evaluation's generator interface; answers ``guess(question)`` and never reads the image."""

    def __init__(self, guess: Guess) -> None:
        self.guess = guess

    def generate(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[str]:
        return [self.guess(q) for q in questions]


# ---------------------------------------------------------------- geometry in bins

def box_iou_matrix(boxes: np.ndarray) -> np.ndarray:
    """``(n, n)`` IoU of xyxy boxes."""
    x0 = np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    y0 = np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    x1 = np.minimum(boxes[:, None, 2], boxes[None, :, 2])
    y1 = np.minimum(boxes[:, None, 3], boxes[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area[:, None] + area[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def polygon_iou_matrix(polygons: Sequence[Sequence[float]]) -> np.ndarray:
    """``(n, n)`` exact IoU of flat polygons."""
    n = len(polygons)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = polygon_iou(polygons[i], polygons[j])
    return out


def medoid(overlap: np.ndarray, threshold: float = 0.5) -> tuple[int, int]:
    """``(index, hits)``: the item whose row of ``overlap`` reaches ``threshold`` most often (first on ties)."""
    hits = (overlap >= threshold).sum(axis=1)
    best = int(np.argmax(hits))
    return best, int(hits[best])


def densest_point(boxes: np.ndarray, step: int = 5) -> tuple[int, int]:
    """The point of a ``step``-bin grid over 0..999 that lies inside the most boxes (inclusive; first on ties)."""
    grid = np.arange(0, 1000, step)
    xs, ys = np.meshgrid(grid, grid, indexing="xy")
    px, py = xs.reshape(-1, 1), ys.reshape(-1, 1)
    inside = (px >= boxes[:, 0]) & (px <= boxes[:, 2]) & (py >= boxes[:, 1]) & (py <= boxes[:, 3])
    best = int(np.argmax(inside.sum(axis=1)))
    return int(px[best, 0]), int(py[best, 0])


# ---------------------------------------------------------------- per-task guesses

def copy_exemplars(question: str) -> str:
    """The visual prompt's reference boxes answered as they are, under the prompt's JSON key."""
    key = _PROMPT_KEY.search(question)
    boxes = [tuple(int(v) for v in m) for m in _BINS.findall(question)]
    return compose_answer([(key.group(1) if key else "object_1", boxes)])


def _text_instances(samples: Iterable[Mapping[str, Any]], polygons: bool) -> dict[str, list[tuple[int, ...]]]:
    """Word -> bins of every training instance (its box, or its polygon when ``polygons``)."""
    out: dict[str, list[tuple[int, ...]]] = {}
    for gt in samples:
        width, height = gt["image_size"]
        for word, entry in gt["answer"].items():
            for i, box in enumerate(entry["boxes"]):
                out.setdefault(word, []).append(quantize_polygon(entry["polygons"][i], width, height) if polygons
                                                else quantize_box(box, width, height))
    return out


def ocr_candidates(samples: Sequence[Mapping[str, Any]], polygons: bool) -> dict[str, str]:
    """Constant OCR answers: the top ``k`` words (by medoid hits), each at its medoid, for every ``k``."""
    ranked = []
    for word, items in _text_instances(samples, polygons).items():
        overlap = polygon_iou_matrix(items) if polygons else box_iou_matrix(np.asarray(items, dtype=float))
        index, hits = medoid(overlap)
        ranked.append((hits, word, items[index]))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    return {f"top {k} word(s) at their medoid": compose_answer([(w, [item]) for _, w, item in ranked[:k]])
            for k in range(1, len(ranked) + 1)}


def _figures(samples: Iterable[Mapping[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """Every training figure: box and joints in bins, visibility, box area in bins² (for OKS')."""
    out = []
    for gt in samples:
        width, height = gt["image_size"]
        for category, entry in gt["answer"].items():
            for box, joints in zip(entry["boxes"], entry["keypoints"]):
                bins = quantize_box(box, width, height)
                xy = np.array([quantize_point(joints[n][:2], width, height) for n in names], dtype=float)
                out.append({"category": category, "box": bins, "xy": xy,
                            "visible": np.array([joints[n][2] > 0 for n in names]),
                            "area": float((bins[2] - bins[0]) * (bins[3] - bins[1]))})
    return out


def oks_matrix(figures: Sequence[Mapping[str, Any]], sigma: float = KEYPOINT_SIGMA) -> np.ndarray:
    """``[i, j]`` = OKS' of figure ``j`` taken as the prediction for GT figure ``i`` (labelled joints of ``i``)."""
    xy = np.stack([f["xy"] for f in figures])  # (n, J, 2)
    visible = np.stack([f["visible"] for f in figures])  # (n, J)
    area = np.array([f["area"] for f in figures])
    d2 = ((xy[:, None] - xy[None, :]) ** 2).sum(-1)  # (n, n, J)
    score = np.exp(-d2 / (2 * sigma ** 2 * np.maximum(area, 1e-9))[:, None, None]) * visible[:, None, :]
    return score.sum(-1) / np.maximum(visible.sum(-1), 1)[:, None]


def keypoint_candidates(samples: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, str]:
    """Constant keypoint answers: the medoid figure, and the medoids of the left and of the right half."""
    figures = _figures(samples, names)

    def best(group: list[dict[str, Any]]) -> dict[str, Any]:
        return group[int(np.argmax(oks_matrix(group).mean(axis=0)))]

    def answer(chosen: list[dict[str, Any]]) -> str:
        chosen = sorted(chosen, key=lambda f: f["box"][0])
        return compose_keypoint_answer(KeypointInstance(f["category"], f["box"], {
            n: tuple(int(v) for v in f["xy"][j]) for j, n in enumerate(names)}) for f in chosen)

    out = {"one medoid figure": answer([best(figures)])}
    left = [f for f in figures if f["box"][0] + f["box"][2] < 1000]
    right = [f for f in figures if f["box"][0] + f["box"][2] >= 1000]
    if left and right:
        out["a left and a right medoid figure"] = answer([best(left), best(right)])
    return out


def gui_guess(samples: Sequence[tuple[str, Mapping[str, Any]]], pointing: bool) -> Guess:
    """Per question: the densest point of its label's training boxes (a box of median size around it)."""
    boxes: dict[str, tuple[str, list[tuple[int, ...]]]] = {}
    for question, gt in samples:
        width, height = gt["image_size"]
        for phrase, entry in gt["answer"].items():
            boxes.setdefault(question, (phrase, []))[1].append(quantize_box(entry["boxes"][0], width, height))
    answers = {}
    for question, (phrase, items) in boxes.items():
        array = np.asarray(items, dtype=float)
        x, y = densest_point(array)
        if pointing:
            answers[question] = compose_answer([(phrase, [(x, y)])])
        else:
            hw = int(np.median(array[:, 2] - array[:, 0]) / 2)
            hh = int(np.median(array[:, 3] - array[:, 1]) / 2)
            answers[question] = compose_answer([(phrase, [(max(0, x - hw), max(0, y - hh),
                                                           min(999, x + hw), min(999, y + hh))])])
    fallback = next(iter(answers.values()), "")
    return lambda question: answers.get(question, fallback)


# ---------------------------------------------------------------- fitting

def score_guess(guess: Guess, samples: Sequence[Any], task: str) -> float:
    """The main metric of ``guess`` over evaluation samples (``evaluation.evaluate.EvalSample``)."""
    from evaluation.evaluate import scored_row, split_metrics

    rows = [scored_row(s, guess(s.question), task) for s in samples]
    return float(split_metrics(rows, task)[MAIN_METRICS[task]])


def fit_blind_guess(task: str, samples: Sequence[Any]) -> tuple[Guess, dict[str, Any]]:
    """The blind guess of ``task`` fitted on training ``samples`` (EvalSample: question, ground_truth).

    Returns ``(guess, info)``; ``info`` names the candidates with their training score and the one kept.
    """
    if task not in MAIN_METRICS:
        raise ValueError(f"task must be one of {sorted(MAIN_METRICS)}, got {task!r}")
    truths = [s.ground_truth for s in samples]
    if task == "visual_prompt":
        candidates: dict[str, Guess] = {"copy the exemplars": copy_exemplars}
    elif task in ("ocr_box", "ocr_polygon"):
        candidates = {name: (lambda q, a=answer: a)
                      for name, answer in ocr_candidates(truths, task == "ocr_polygon").items()}
    elif task == "keypoint":
        names = truths[0]["keypoint_names"]
        candidates = {name: (lambda q, a=answer: a) for name, answer in keypoint_candidates(truths, names).items()}
    else:
        pairs = [(s.question, s.ground_truth) for s in samples]
        candidates = {"densest point per instruction": gui_guess(pairs, task == "gui_pointing")}
    scores = {name: score_guess(guess, samples, task) for name, guess in candidates.items()}
    kept = max(scores, key=lambda name: scores[name])
    return candidates[kept], {"task": task, "metric": MAIN_METRICS[task], "kept": kept, "train_scores": scores,
                              "num_train_samples": len(samples)}


# ---------------------------------------------------------------- command line

def build_parser() -> Any:
    from tools.cli import OneLineArgumentParser

    p = OneLineArgumentParser(description="Fit the image-blind guess of a task on a training split and score it "
                              "on a held-out split like tools/evaluate.py (metrics.json, predictions.jsonl, "
                              "blind_guess.json).")
    p.add_argument("--task", required=True, choices=sorted(MAIN_METRICS))
    p.add_argument("--train", required=True, help="TSV prefix of the training split the guess is fitted on")
    p.add_argument("--split", required=True, help="TSV prefix of the held-out split it is scored on")
    p.add_argument("--config", default=None, help="ask with this config's task function of the task (tools/evaluate.py)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--max_train", type=int, default=256, help="training images fitted on (default 256)")
    p.add_argument("--max_samples", type=int, default=None, help="score only the first N held-out images")
    p.add_argument("--seed", type=int, default=0, help="seeds the question sampling, as tools/evaluate.py's")
    return p


def main(argv: list[str] | None = None) -> int:
    """Fit, score, write; returns the exit code."""
    import os

    from dataset.atomic_write import write_json_atomic
    from dataset.output_paths import check_output_paths
    from evaluation.evaluate import iter_samples, run_evaluation, task_fn_from_config
    from evaluation.sources import open_split

    args = build_parser().parse_args(argv)
    check_output_paths("task_blind_guess", dirs={"--output_dir": args.output_dir})
    try:  # every input is read before any fitting: a bad one stops in one line
        task_fn = task_fn_from_config(args.config, args.task) if args.config else None
        train = list(iter_samples(args.train, args.task, args.max_train, args.seed, task_fn))
        split = open_split(args.split)
    except (OSError, ValueError) as exc:
        print(f"task_blind_guess: error: {exc}", file=sys.stderr)
        return 2
    if not train:
        print(f"task_blind_guess: error: {args.train} has no usable {args.task} sample", file=sys.stderr)
        return 2
    guess, info = fit_blind_guess(args.task, train)
    metrics = run_evaluation(BlindGenerator(guess), split, args.task, args.output_dir,
                             max_samples=args.max_samples, num_visualisations=0, seed=args.seed, task_fn=task_fn)
    info["held_out"] = metrics[MAIN_METRICS[args.task]]
    write_json_atomic(os.path.join(args.output_dir, "blind_guess.json"), info)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
