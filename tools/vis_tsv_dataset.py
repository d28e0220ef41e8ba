"""Draw samples of a TSV dataset (grounding boxes, pointing points, masks, negatives) to PNG files.

Example::

    python tools/vis_tsv_dataset.py --img_tsv_file x.images.tsv --ann_tsv_file x.annotations.tsv \\
        --ann_lineidx_file x.annotations.tsv.lineidx --output_dir vis --num_samples 20
"""

from __future__ import annotations

import argparse
import logging
import sys

from dataset.output_paths import check_output_paths
from dataset.visualize import visualize_tsv
from tools.cli import OneLineArgumentParser


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of integers, got {text!r}") from None


def build_parser() -> OneLineArgumentParser:
    """Command-line flags."""
    p = OneLineArgumentParser(
        description="Visualise a TSV triple: boxes, points and masks with their phrases (one colour per "
        "phrase) and a legend listing negatives. Writes <output_dir>/<index:06d>.png per sample."
    )
    p.add_argument("--img_tsv_file", required=True, help="the *.images.tsv file")
    p.add_argument("--ann_tsv_file", required=True, help="the *.annotations.tsv file")
    p.add_argument("--ann_lineidx_file", required=True, help="the *.annotations.tsv.lineidx file")
    p.add_argument("--output_dir", default="work_dirs/vis", help="where PNGs are written (default work_dirs/vis)")
    p.add_argument("--num_samples", type=int, default=10, help="random samples to draw (default 10)")
    p.add_argument("--indices", type=_int_list, default=None, help="comma list of sample indices; overrides sampling")
    p.add_argument("--seed", type=int, default=42, help="seed for choosing random samples (default 42)")
    p.add_argument(
        "--box_format", choices=("xyxy", "xywh"), default="xyxy",
        help="format of the bbox values in the annotations (default: xyxy)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Draw the samples; returns 0, or 1 if no sample could be drawn."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("img_tsv_file", "ann_tsv_file", "ann_lineidx_file"):
        parser.require_file(f"--{flag}", getattr(args, flag))
    check_output_paths("vis_tsv_dataset.py", dirs={"--output_dir": args.output_dir})
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    stats = visualize_tsv(
        args.img_tsv_file,
        args.ann_tsv_file,
        args.ann_lineidx_file,
        args.output_dir,
        num_samples=args.num_samples,
        indices=args.indices,
        seed=args.seed,
        box_format=args.box_format,
    )
    print(f"wrote {len(stats.written)} image(s) to {args.output_dir}, skipped {len(stats.skipped)} bad sample(s)")
    return 0 if stats.written or not stats.skipped else 1


if __name__ == "__main__":
    sys.exit(main())
