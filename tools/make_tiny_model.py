"""Build a tiny, randomly initialised Rex-Omni (Qwen2.5-VL) checkpoint folder, offline.

Example: python tools/make_tiny_model.py --size demo
         python tools/make_tiny_model.py --size test --layout published
"""

from __future__ import annotations

import argparse
import logging
import time

from demo.tiny_model import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS, LAYOUTS, SIZES, build_tiny_rex_omni
from tools.cli import OneLineArgumentParser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    parser = OneLineArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--output_dir",
        default=None,
        help="folder to write the HF checkpoint (model, tokenizer, processor, chat template) into; "
        "default: work_dirs/models/rex-omni-<size>",
    )
    parser.add_argument(
        "--size",
        choices=SIZES,
        default="demo",
        help="'test': ~0.25M params, for unit tests; 'demo': a few million params, big enough to learn the "
        "toy task on CPU (default: demo)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="RNG seed for the random weights; same seed, same weights"
    )
    parser.add_argument(
        "--min_pixels",
        type=int,
        default=DEFAULT_MIN_PIXELS,
        help=f"image processor lower bound on resized image area in pixels (default {DEFAULT_MIN_PIXELS} = 16*28*28)",
    )
    parser.add_argument(
        "--max_pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"image processor upper bound on resized image area in pixels (default {DEFAULT_MAX_PIXELS} = 256*28*28)",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="project",
        help="'project': tokenizer.json with <0>..<999> as new tokens (default); 'published': the files of "
        "IDEA-Research/Rex-Omni (vocab.json + merges.txt with 151,643 entries, <0>..<999> repurposing ids "
        "150643..151642, transformers-4.x config.json), to test the real checkpoint's layout",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="rebuild even if output_dir already holds a model built with the same arguments",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build the model described by the command line."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    suffix = "" if args.layout == "project" else f"-{args.layout}"
    output_dir = args.output_dir or f"work_dirs/models/rex-omni-{args.size}{suffix}"
    start = time.perf_counter()
    path = build_tiny_rex_omni(
        output_dir,
        size=args.size,
        seed=args.seed,
        min_pixels=args.min_pixels,
        max_pixels=args.max_pixels,
        force=args.force,
        layout=args.layout,
    )
    logging.getLogger("make_tiny_model").info("model ready in %s (%.1f s)", path, time.perf_counter() - start)


if __name__ == "__main__":
    main()
