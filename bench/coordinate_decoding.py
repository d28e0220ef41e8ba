"""How much a grounding model knows beyond its greedy answer: held-out mean IoU of boxes read from its
coordinate distributions in different ways.

Each held-out image's ground-truth answer is fed in (teacher forcing); at each of the 4 coordinate
positions the model's distribution over the 1000 bins is read. A box is then decoded per coordinate as
the argmax (what greedy decoding writes), the distribution's mean, or the argmax after smoothing the
logits over neighbouring bins. A large gap between argmax and mean means the distributions are flat
and the greedy answer lands anywhere on the plateau (docs/demo.md, "GRPO on the demo").

    python -m bench.coordinate_decoding --model work_dirs/sft_demo --split work_dirs/toy_data/toy_grounding_val
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
import torch

from dataset.chat import render_prompt
from dataset.grammar import compose_answer, quantize_box
from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY
from evaluation.generation import HFGenerator
from evaluation.sources import open_split

SMOOTHING_BINS = (8, 24)


def coordinate_logits(model_path: str, split: str, max_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4, 1000) coordinate logits at the ground-truth answer's 4 positions and (N, 4) true bins, over
    the first ``max_samples`` images with exactly one box."""
    gen = HFGenerator(model_path, device="cpu")
    tokenizer = gen.processor.tokenizer
    coord_ids = torch.tensor(tokenizer.convert_tokens_to_ids([f"<{b}>" for b in range(1000)]))
    box_end = tokenizer.convert_tokens_to_ids("<|box_end|>")
    logits, truth = [], []
    for item in open_split(split).iter(max_samples):
        boxes = item.annotation.get("boxes") or []
        if len(boxes) != 1 or boxes[0].get("bbox") is None:
            continue
        width, height = item.image.size
        bins = quantize_box(boxes[0]["bbox"], width, height)
        answer = compose_answer([(boxes[0]["phrase"], [bins])])
        question = GROUNDING_SINGLE_REGION_STAGE_XYXY[0].replace("[OBJ]", boxes[0]["phrase"])  # "Detect [OBJ]."
        prompt = render_prompt(gen.processor, question)
        inputs = gen.processor(text=[prompt + answer], images=[item.image], return_tensors="pt")
        with torch.no_grad():
            out = gen.model(**inputs).logits[0]
        end = int((inputs["input_ids"][0] == box_end).nonzero()[-1])
        logits.append(out[end - 5:end - 1][:, coord_ids].float().numpy())  # positions predicting the 4 bins
        truth.append(bins)
    if not logits:
        raise ValueError(f"{split}: no image with exactly one box among the first {max_samples}")
    return np.stack(logits), np.array(truth, dtype=float)


def _smooth(logits: np.ndarray, sigma: int) -> np.ndarray:
    kernel = np.exp(-0.5 * (np.arange(-4 * sigma, 4 * sigma + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(logits, [(0, 0)] * (logits.ndim - 1) + [(4 * sigma, 4 * sigma)], mode="edge")
    return np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="valid"), -1, padded)


def mean_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean IoU of (N, 4) xyxy boxes in bin units."""
    iw = np.clip(np.minimum(pred[:, 2], truth[:, 2]) - np.maximum(pred[:, 0], truth[:, 0]), 0, None)
    ih = np.clip(np.minimum(pred[:, 3], truth[:, 3]) - np.maximum(pred[:, 1], truth[:, 1]), 0, None)
    inter = iw * ih
    area = lambda b: np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)  # noqa: E731
    return float(np.mean(inter / np.maximum(area(pred) + area(truth) - inter, 1e-9)))


def decoding_report(logits: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    bins = np.arange(logits.shape[-1])
    report = {
        "images": len(truth),
        "top1_probability": float(probs.max(-1).mean()),
        "argmax_abs_error_bins": float(np.abs(logits.argmax(-1) - truth).mean()),
        "mean_abs_error_bins": float(np.abs((probs * bins).sum(-1) - truth).mean()),
        "iou_argmax": mean_iou(logits.argmax(-1).astype(float), truth),
        "iou_mean": mean_iou((probs * bins).sum(-1), truth),
    }
    for sigma in SMOOTHING_BINS:
        report[f"iou_argmax_smoothed_{sigma}"] = mean_iou(_smooth(logits, sigma).argmax(-1).astype(float), truth)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="HF model folder (an SFT or GRPO output)")
    p.add_argument("--split", required=True, help="TSV prefix of a grounding split (one box per image)")
    p.add_argument("--max_samples", type=int, default=64, help="images to read (default 64)")
    args = p.parse_args(argv)
    try:
        logits, truth = coordinate_logits(args.model, args.split, args.max_samples)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"coordinate_decoding: {exc}", file=sys.stderr)
        return 2
    for key, value in decoding_report(logits, truth).items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
