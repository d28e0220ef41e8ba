"""Convert a JSONL annotation file plus an image folder into a TSV triple.

Example::

    python tools/convert_json_data_to_tsv.py --json_file data.jsonl --image_root_path images/ \\
        --save_image_tsv_path out/x.images.tsv --save_ann_tsv_path out/x.annotations.tsv \\
        --save_ann_lineidx_path out/x.annotations.tsv.lineidx --num_workers 4
"""

from __future__ import annotations

import argparse
import logging
import sys

from dataset.convert import DEFAULT_JPEG_QUALITY, ConversionError, convert_jsonl_to_tsv
from dataset.output_paths import check_output_paths
from tools.cli import OneLineArgumentParser


def _quality(text: str) -> int:
    """argparse type: an int in [1, 100] (a bad value exits 2 with one line)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be an integer in 1..100, got {text!r}")
    return value


def build_parser() -> OneLineArgumentParser:
    """Command-line flags (the original tool's five plus workers, quality and strictness)."""
    p = OneLineArgumentParser(
        description="Convert JSONL ({'image_name': str, 'annotation': object} per line) and images "
        "into the images.tsv / annotations.tsv / annotations.tsv.lineidx triple. Images are re-encoded "
        "as RGB JPEG. Bad lines are skipped and listed at the end.",
    )
    p.add_argument("--json_file", required=True, help="input JSONL file, one JSON object per line; blank lines ignored")
    p.add_argument("--image_root_path", required=True, help="folder that each line's image_name is relative to")
    p.add_argument("--save_image_tsv_path", required=True, help="output images TSV ({offset}\\t{base64 JPEG})")
    p.add_argument("--save_ann_tsv_path", required=True, help="output annotations TSV ({image offset}\\t{JSON})")
    p.add_argument(
        "--save_ann_lineidx_path", required=True, help="output lineidx (byte offset of each annotation line)"
    )
    p.add_argument(
        "--num_workers", type=int, default=1,
        help="processes that decode and re-encode images (default 1); output is identical for any value",
    )
    p.add_argument(
        "--jpeg_quality", type=_quality, default=DEFAULT_JPEG_QUALITY,
        help=f"JPEG quality of the stored images, 1-100 (default {DEFAULT_JPEG_QUALITY}, PIL's default: the same "
        "bytes as the original converter); 95 keeps more detail at about twice the size",
    )
    p.add_argument(
        "--strict", action="store_true",
        help="fail (exit 1, write nothing) if any line is bad instead of skipping it",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the conversion; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    parser.require_file("--json_file", args.json_file)
    parser.require_dir("--image_root_path", args.image_root_path)
    check_output_paths("convert_json_data_to_tsv.py", files={
        "--save_image_tsv_path": args.save_image_tsv_path, "--save_ann_tsv_path": args.save_ann_tsv_path,
        "--save_ann_lineidx_path": args.save_ann_lineidx_path})
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        stats = convert_jsonl_to_tsv(
            args.json_file,
            args.image_root_path,
            args.save_image_tsv_path,
            args.save_ann_tsv_path,
            args.save_ann_lineidx_path,
            num_workers=args.num_workers,
            jpeg_quality=args.jpeg_quality,
            strict=args.strict,
        )
    except ConversionError as exc:
        logging.getLogger(__name__).error("%s\nstrict mode: no output written", exc)
        return 1
    print(f"wrote {stats.num_written} samples, skipped {len(stats.skipped)} line(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
