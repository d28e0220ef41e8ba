"""Evaluate a Rex-Omni model on a TSV split and write metrics.json (+ predictions, a few drawings).

Example::

    python tools/evaluate.py --model work_dirs/sft_demo --split work_dirs/toy_data/toy_grounding_val \\
        --task grounding --output_dir work_dirs/sft_demo/eval
"""

from __future__ import annotations

import logging
import os
import sys

from finetuning.evaluation import TASK_REWARDS, run_evaluation, task_fn_from_config
from finetuning.generation import BACKENDS, make_generator
from tools.cli import OneLineArgumentParser


def build_parser() -> OneLineArgumentParser:
    """Command-line flags."""
    p = OneLineArgumentParser(description="Run a Rex-Omni model on a TSV split, parse its answers with "
                                "dataset.grammar and score them with the GRPO reward functions.")
    p.add_argument("--model", required=True, help="HF model folder (a train.py output_dir or checkpoint-*)")
    p.add_argument("--split", required=True,
                   help="TSV prefix: reads PREFIX.images.tsv, PREFIX.annotations.tsv(.lineidx)")
    p.add_argument("--task", choices=sorted(TASK_REWARDS), default="grounding",
                   help="grounding: box F1@0.5 + box_iou reward; pointing: point F1 + point_in_box reward")
    p.add_argument("--config", default=None,
                   help="training config (configs/*.py): ask with the task_fn of its val_dataset (else "
                   "train_dataset), i.e. the prompts and negatives the model was trained with; default: "
                   "the task's built-in task function with all 43 grounding (or the pointing) templates")
    p.add_argument("--output_dir", default=None, help="where metrics.json, predictions.jsonl, vis/ go "
                   "(default: MODEL/eval)")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="auto: vLLM if installed and on GPU, else HF")
    p.add_argument("--batch_size", type=int, default=8, help="images per generate call (default 8)")
    p.add_argument("--max_new_tokens", type=int, default=256, help="generation length limit (default 256)")
    p.add_argument("--max_samples", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--num_visualisations", type=int, default=8, help="PNG drawings of the first N samples")
    p.add_argument("--seed", type=int, default=0, help="seeds the question sampling (same seed, same questions)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Evaluate; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:  # a bad config fails before the model loads
        task_fn = task_fn_from_config(args.config, args.task) if args.config else None
    except (OSError, ValueError) as exc:
        print(f"evaluate.py: error: {exc}", file=sys.stderr)
        return 2
    parser.require_dir("--model", args.model)
    parser.require_file("--split", f"{args.split}.annotations.tsv")
    generator = make_generator(args.model, args.backend, args.max_new_tokens)
    output_dir = args.output_dir or os.path.join(args.model, "eval")
    metrics = run_evaluation(generator, args.split, args.task, output_dir, batch_size=args.batch_size,
                             max_samples=args.max_samples, num_visualisations=args.num_visualisations,
                             seed=args.seed, task_fn=task_fn)
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
