"""Does a model learn *where* things are? A bare training loop that tracks token and box accuracies.

This is the diagnostic behind README "What the quickstart shows today". It trains a Rex-Omni folder
on a toy grounding split with plain AdamW (hard CE, no Trainer) and every ``--log_every`` steps prints:

* ``text_acc``: greedy (teacher-forced) accuracy on the answer's non-coordinate tokens (phrase, markers),
  which the model can learn by copying from the question;
* ``coord_within30``: share of coordinate tokens whose greedy bin is within 30 of the target bin, which
  needs the image;
* ``blind_within30``: the same for an image-blind guess, the window's mean target bin per slot
  (x0, y0, x1, y1). ``coord_within30`` at or below this means the model is not using the image.
* ``box_iou50``: share of target boxes whose four greedy (teacher-forced) bins give IoU >= 0.5, and
  ``blind_box_iou50``, the same for the window's mean box.

Examples (README "What the quickstart shows today")::

    python -m bench.probe_localisation --steps 400 --log_every 50 --reinit_std 0.06
    python tools/make_toy_data.py --output_dir work_dirs/toy_coded    # the demo preset: position-coded
    python -m bench.probe_localisation --data work_dirs/toy_coded/toy_grounding_train --steps 1500 \
        --log_every 50 --one_template --reinit_std 0.06 --rope_theta 10

``bench/demo_sweep/probe_sweep.sh`` runs ten such variants side by side on a GPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

ONE_TEMPLATE = "Detect [OBJ]."
WITHIN_BINS = 30
NUM_BOX_SLOTS = 4


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="work_dirs/models/rex-omni-demo", help="HF model folder to start from")
    p.add_argument("--data", default="work_dirs/toy_data/toy_grounding_train",
                   help="TSV prefix of a grounding split (PREFIX.images.tsv, PREFIX.annotations.tsv(.lineidx))")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    p.add_argument("--batch_size", type=int, default=8, help="samples per step (default 8)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate after 20 warm-up steps")
    p.add_argument("--min_pixels", type=int, default=16 * 28 * 28, help="image area lower bound (pixels)")
    p.add_argument("--max_pixels", type=int, default=64 * 28 * 28,
                   help="image area upper bound; 12544 = 16 visual tokens, 50176 = 64 (default)")
    p.add_argument("--one_template", action="store_true",
                   help=f"ask every question as {ONE_TEMPLATE!r} instead of the 43 grounding templates")
    p.add_argument("--reinit_std", type=float, default=None,
                   help="re-initialise all weights randomly with this std, coordinate embeddings as the demo "
                   "builder sets them (default: keep the folder's weights)")
    p.add_argument("--log_every", type=int, default=20, help="steps per printed window (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seeds weights (with --reinit_std) and sample order")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--rope_theta", type=float, default=None,
                   help="language-model rope_theta for the re-initialised model (needs --reinit_std; "
                   "default: the folder's)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    return p


def _load_model(path: str, reinit_std: float | None, tokenizer: Any, rope_theta: float | None = None) -> Any:
    """The folder's model; with ``reinit_std``, fresh random weights of that std, the coordinate
    embeddings set as the demo builder does (``init_gaussian_coordinate_embeddings``), and the
    language model's ``rope_theta`` replaced when given."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from dataset.vocab_layout import coordinate_token_ids
    from finetuning.tiny_model import init_gaussian_coordinate_embeddings

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path)
    if reinit_std is not None:
        config = model.config
        for cfg in (config, config.text_config, config.vision_config):
            cfg.initializer_range = reinit_std
        if rope_theta is not None:
            config.text_config.rope_parameters = {**config.text_config.rope_parameters, "rope_theta": rope_theta}
        model = Qwen2_5_VLForConditionalGeneration(config)
        init_gaussian_coordinate_embeddings(model, coordinate_token_ids(tokenizer))
    return model.train()


def _build_dataset(args: argparse.Namespace, processor: Any) -> Any:
    from dataset.sft_dataset import GroundingTSVDataset
    from dataset.task_fns import GroundingTaskFn
    from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY

    prompts = [ONE_TEMPLATE] if args.one_template else GROUNDING_SINGLE_REGION_STAGE_XYXY
    task_fn = GroundingTaskFn(task_prompts=prompts, max_negatives=0, image_min_pixels=args.min_pixels,
                              image_max_pixels=args.max_pixels)
    prefix = args.data
    return GroundingTSVDataset(f"{prefix}.images.tsv", f"{prefix}.annotations.tsv",
                               f"{prefix}.annotations.tsv.lineidx", args.min_pixels, args.max_pixels,
                               task_fn=task_fn, processor=processor)


def token_accuracies(
    logits: torch.Tensor, labels: torch.Tensor, coord_lookup: torch.Tensor
) -> dict[str, list[float]]:
    """Per-target outcomes of one batch: ``text`` (0/1 per non-coordinate target), and for coordinate
    targets ``coord`` (0/1: greedy bin within ``WITHIN_BINS``), ``target_bin`` and ``slot`` (0..3 in its box).

    ``coord_lookup`` maps token id -> bin (``-1`` for other tokens), as ``finetuning.soft_ce.coordinate_lookup``.
    """
    pred, target = logits[:, :-1].argmax(-1), labels[:, 1:]
    supervised = target != -100
    target_bin = coord_lookup[target.clamp(min=0)].masked_fill(~supervised, -1)
    pred_bin = coord_lookup[pred]
    is_coord = target_bin >= 0
    text = (pred == target)[supervised & ~is_coord]
    coord_hit = (pred_bin >= 0) & ((pred_bin - target_bin).abs() <= WITHIN_BINS)
    # Slot of each coordinate inside its box: count coordinate targets since the last non-coordinate one.
    slots = torch.zeros_like(target_bin)
    for row in range(target.shape[0]):
        run = -1
        for col in range(target.shape[1]):
            run = run + 1 if is_coord[row, col] else -1
            slots[row, col] = run % NUM_BOX_SLOTS
    boxes: list[list[int]] = []
    return {
        "text": text.float().tolist(),
        "coord": coord_hit[is_coord].float().tolist(),
        "box50": box_hits(pred_bin, target_bin, slots, boxes),
        "boxes": boxes,
        "target_bin": target_bin[is_coord].tolist(),
        "slot": slots[is_coord].tolist(),
    }


def box_iou_bins(a: list[int], b: list[int]) -> float:
    """IoU of two ``[x0, y0, x1, y1]`` boxes in bins (the reward's ``pairwise_iou``; an inverted box scores 0)."""
    from verl.rewards.box_iou import pairwise_iou

    return float(pairwise_iou(np.asarray([a], dtype=float), np.asarray([b], dtype=float))[0, 0])


def box_hits(
    pred_bin: torch.Tensor, target_bin: torch.Tensor, slots: torch.Tensor, targets: list[list[int]] | None = None
) -> list[float]:
    """Teacher-forced box hits: 1.0 per target box whose four greedy bins give IoU >= 0.5, else 0.0.

    A box is four consecutive coordinate targets (slots 0..3); a non-coordinate prediction is a miss.
    The target boxes are appended to ``targets`` when given.
    """
    hits = []
    for row in range(target_bin.shape[0]):
        cols = (target_bin[row] >= 0).nonzero().flatten().tolist()
        for i in range(0, len(cols) - NUM_BOX_SLOTS + 1):
            box_cols = cols[i : i + NUM_BOX_SLOTS]
            if slots[row, box_cols[0]] != 0 or box_cols[-1] - box_cols[0] != NUM_BOX_SLOTS - 1:
                continue
            pred = pred_bin[row, box_cols].tolist()
            target = target_bin[row, box_cols].tolist()
            hits.append(float(min(pred) >= 0 and box_iou_bins(pred, target) >= 0.5))
            if targets is not None:
                targets.append(target)
    return hits


def blind_within(target_bins: list[int], slots: list[int]) -> float:
    """Share of targets within ``WITHIN_BINS`` of their slot's mean bin: an image-blind baseline."""
    if not target_bins:
        return 0.0
    hits = 0
    for slot in set(slots):
        bins = [b for b, s in zip(target_bins, slots) if s == slot]
        mean = sum(bins) / len(bins)
        hits += sum(abs(b - mean) <= WITHIN_BINS for b in bins)
    return hits / len(target_bins)


def blind_box_hits(boxes: list[list[int]]) -> float:
    """Share of ``boxes`` that the mean box of ``boxes`` overlaps with IoU >= 0.5: an image-blind baseline."""
    from finetuning.quickstart_report import mean_box_guess

    return mean_box_guess(boxes, boxes)[0] if boxes else 0.0


def _window_record(step: int, window: dict[str, list[float]], losses: list[float], start: float) -> dict[str, Any]:
    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    return {
        "step": step,
        "loss": round(mean(losses), 4),
        "text_acc": round(mean(window["text"]), 4),
        "coord_within30": round(mean(window["coord"]), 4),
        "blind_within30": round(blind_within(window["target_bin"], window["slot"]), 4),
        "box_iou50": round(mean(window["box50"]), 4),
        "blind_box_iou50": round(blind_box_hits(window["boxes"]), 4),
        "seconds": round(time.time() - start, 1),
    }


def run_probe(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Train and return one record per ``log_every`` window (also printed as JSON lines)."""
    from transformers import AutoProcessor

    from dataset.collator import DataCollatorForSupervisedDataset
    from dataset.vocab_layout import coordinate_token_ids
    from finetuning.soft_ce import coordinate_lookup

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    processor = AutoProcessor.from_pretrained(args.model)
    model = _load_model(args.model, args.reinit_std, processor.tokenizer, args.rope_theta).to(args.device)
    dataset = _build_dataset(args, processor)
    collate = DataCollatorForSupervisedDataset(processor.tokenizer)
    lookup = coordinate_lookup(coordinate_token_ids(processor.tokenizer), model.config.text_config.vocab_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    records: list[dict[str, Any]] = []
    window: dict[str, list[float]] = {"text": [], "coord": [], "target_bin": [], "slot": [], "box50": [], "boxes": []}
    losses: list[float] = []
    start = time.time()
    for step in range(1, args.steps + 1):
        batch = collate([dataset[rng.randrange(len(dataset))] for _ in range(args.batch_size)])
        for group in optimizer.param_groups:
            group["lr"] = args.lr * min(1.0, step / 20)
        batch = {k: v.to(args.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        out = model(**batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(out.loss.detach().item())
        with torch.no_grad():
            for key, values in token_accuracies(out.logits.cpu(), batch["labels"].cpu(), lookup).items():
                window[key].extend(values)
        if step % args.log_every == 0 or step == args.steps:
            records.append(_window_record(step, window, losses, start))
            print(json.dumps(records[-1]), flush=True)
            window = {key: [] for key in window}
            losses = []
    return records


def main(argv: list[str] | None = None) -> int:
    """Run the probe; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or args.log_every < 1:
        raise SystemExit("--steps, --batch_size and --log_every must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    run_probe(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
