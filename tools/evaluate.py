"""Evaluate a Rex-Omni model on a split and write metrics.json (+ predictions, drawings, an HTML page).

Examples::

    python tools/evaluate.py --model work_dirs/sft_demo --split work_dirs/toy_data/toy_grounding_val \\
        --task grounding --output_dir work_dirs/sft_demo/eval --html work_dirs/sft_demo/eval/report.html
    python tools/evaluate.py --model MODEL --split instances_val2017.json --image_root val2017/
    python tools/evaluate.py --predictions answer.jsonl          # score a Rex-Omni predictions file
    python tools/evaluate.py --model work_dirs/sft --config configs/my_data.py   # on the config's val_dataset

Every metric of Rex-Omni's protocol is named ``protocol_*`` in both modes. It ends printing the paths it wrote.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from dataset.atomic_write import write_json_atomic
from dataset.output_paths import check_output_paths
from evaluation.evaluate import TASK_REWARDS, config_task, run_evaluation
from evaluation.generation import BACKENDS, make_generator
from evaluation.official_predictions import PredictionFileError, read_predictions, score_records
from evaluation.sources import open_split
from tools.cli import OneLineArgumentParser


def build_parser() -> OneLineArgumentParser:
    """Command-line flags."""
    p = OneLineArgumentParser(description="Run a Rex-Omni model on a split (TSV or COCO JSON), parse its answers "
                                "with dataset.grammar and score them with the GRPO reward functions and Rex-Omni's "
                                "evaluation protocol (protocol_*: P/R/F1 at IoU 0.5..0.95, mean F1, point in mask "
                                "and box); or score an existing predictions JSONL (--predictions).")
    p.add_argument("--model", default=None, help="HF model folder (a train.py output_dir or checkpoint-*)")
    p.add_argument("--split", default=None,
                   help="TSV prefix (reads PREFIX.images.tsv, PREFIX.annotations.tsv(.lineidx)) or a COCO/LVIS "
                   "instances .json with --image_root; default with --config: the config's val_dataset")
    p.add_argument("--image_root", default=None,
                   help="folder of the images: of a COCO JSON --split, or of the image_path entries of "
                   "--predictions (for --html)")
    p.add_argument("--skip_empty_images", action="store_true",
                   help="COCO JSON --split: leave out images without objects (default: ask each for 3 of the "
                   "split's categories, so boxes answered there count as false positives)")
    p.add_argument("--predictions", default=None,
                   help="score this predictions JSONL (Rex-Omni's shape: extracted_predictions + gt per image) "
                   "instead of running a model; --model and --split are then not used")
    p.add_argument("--html", default=None,
                   help="also write one self-contained HTML page: GT vs prediction per image, sortable by "
                   "per-image F1, filterable by category")
    p.add_argument("--task", choices=sorted(TASK_REWARDS), default="grounding",
                   help="grounding: box F1@0.5 + box_iou reward; pointing: point F1 + point_in_box reward; the "
                   "other tasks: their reward (docs/tasks.md) and their official protocol_* numbers")
    p.add_argument("--config", default=None,
                   help="training config (configs/*.py): ask with the task_fn of its first val_dataset (else "
                   "train_dataset) of --task's kind, i.e. the prompts and negatives the model was trained with, "
                   "and without --split evaluate on that val_dataset; default: "
                   "the task's built-in task function with all 43 grounding (or the pointing) templates")
    p.add_argument("--output_dir", default=None, help="where metrics.json, predictions.jsonl, vis/ go "
                   "(default: MODEL/eval; with --predictions: the predictions file's folder)")
    p.add_argument("--overwrite", action="store_true",
                   help="with --predictions: replace a metrics.json that a model evaluation wrote there")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="auto: vLLM if installed and on GPU, else HF")
    p.add_argument("--batch_size", type=int, default=8, help="images per generate call (default 8)")
    p.add_argument("--max_new_tokens", type=int, default=256, help="generation length limit (default 256)")
    p.add_argument("--max_samples", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--num_visualisations", type=int, default=8, help="PNG drawings of the first N samples")
    p.add_argument("--seed", type=int, default=0, help="seeds the question sampling (same seed, same questions)")
    return p


def _print_metrics(metrics: dict) -> None:
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))


def _print_written(paths: list[str]) -> None:
    """The closing lines: every file or folder this run wrote."""
    for path in paths:
        print(f"wrote {path}")


def _is_model_evaluation(metrics_path: str) -> bool:
    """Whether ``metrics_path`` exists and was written by a model evaluation (it names its split)."""
    import json

    try:
        with open(metrics_path, encoding="utf-8") as handle:
            return "split" in json.load(handle)
    except (OSError, ValueError):
        return False


def score_predictions_file(args: argparse.Namespace) -> int:
    """``--predictions``: score the file under Rex-Omni's protocol, write metrics (and the HTML page)."""
    from pathlib import Path

    from PIL import Image

    from evaluation.html_report import ReportImage, write_report

    output_dir = args.output_dir or os.path.dirname(os.path.abspath(args.predictions))
    metrics_path = os.path.join(output_dir, "metrics.json")
    check_output_paths("evaluate.py", dirs={"--output_dir": output_dir}, files={"--html": args.html})
    if not args.overwrite and _is_model_evaluation(metrics_path):
        print(f"evaluate.py: error: {metrics_path} holds a model evaluation's metrics: give another --output_dir "
              "or --overwrite to replace it", file=sys.stderr)
        return 2
    try:
        records = read_predictions(args.predictions)
        metrics = {f"protocol_{key}": value for key, value in score_records(records).items()}
    except (OSError, PredictionFileError) as exc:
        print(f"evaluate.py: error: {exc}", file=sys.stderr)
        return 2
    write_json_atomic(metrics_path, {**metrics, "predictions": args.predictions})
    if args.html:
        items = []
        for record in records:
            path = Path(args.image_root or "", str(record.get("image_path", "")))
            image = Image.open(path).convert("RGB") if args.image_root and path.is_file() else None
            items.append(ReportImage.from_record(record, image))
        write_report(args.html, items, title=Path(args.predictions).name, metrics=metrics)
    _print_metrics(metrics)
    _print_written([metrics_path] + ([args.html] if args.html else []))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Evaluate; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.predictions:
        return score_predictions_file(args)
    if not args.model or not (args.split or args.config):
        print("evaluate.py: error: give --model and --split (or --config with a val_dataset), or --predictions FILE",
              file=sys.stderr)
        return 2
    output_dir = args.output_dir or os.path.join(args.model, "eval")
    check_output_paths("evaluate.py", dirs={"--output_dir": output_dir}, files={"--html": args.html})
    try:  # a bad config fails first, then a missing model or split, all before the model loads
        task_fn, config_split = config_task(args.config, args.task, with_split=not args.split) \
            if args.config else (None, None)
        split_path = args.split or config_split
    except (OSError, ValueError) as exc:
        print(f"evaluate.py: error: {exc}", file=sys.stderr)
        return 2
    parser.require_dir("--model", args.model)
    try:  # opened once: a COCO JSON is parsed here and reused by the evaluation
        split = open_split(split_path, args.image_root, args.skip_empty_images)
    except (OSError, ValueError) as exc:
        print(f"evaluate.py: error: {exc}", file=sys.stderr)
        return 2
    generator = make_generator(args.model, args.backend, args.max_new_tokens)
    metrics = run_evaluation(generator, split, args.task, output_dir, batch_size=args.batch_size,
                             max_samples=args.max_samples, num_visualisations=args.num_visualisations,
                             seed=args.seed, task_fn=task_fn, image_root=args.image_root, html_path=args.html)
    _print_metrics(metrics)
    _print_written([os.path.join(output_dir, name) for name in ("metrics.json", "predictions.jsonl")]
                   + ([os.path.join(output_dir, "vis")] if args.num_visualisations > 0 else [])
                   + ([args.html] if args.html else []))
    return 0


if __name__ == "__main__":
    sys.exit(main())
