"""Convert keypoint, OCR, GUI and visual-prompt datasets into a TSV triple (and/or the JSONL).

Examples::

    python tools/convert_task_to_tsv.py --format coco_keypoints --ann_file person_keypoints_val2017.json \\
        --image_root val2017/ --output_prefix data/coco_kp_val
    python tools/convert_task_to_tsv.py --format icdar2015 --ann_dir ch4_test_gt/ --image_root ch4_test_images/ \\
        --output_prefix data/ic15_test
    python tools/convert_task_to_tsv.py --format screenspot --ann_file screenspot_web.json \\
        --image_root screenspot_imgs/ --output_prefix data/screenspot_web
    python tools/convert_task_to_tsv.py --format visual_prompt --ann_file instances_val2017.json \\
        --image_root val2017/ --num_exemplars 2 --output_prefix data/coco_vp_val
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator

from dataset.coco_formats import CategoryFilter, SourceRecord
from dataset.real_data import SourceOptions, iter_source_records
from dataset.task_formats import (
    add_exemplars,
    iter_hiertext_records,
    iter_icdar2015_records,
    iter_keypoint_records,
    iter_screenspot_records,
    iter_totaltext_records,
    load_given_exemplars,
)
from tools.conversion_cli import add_output_flags, category_names, output_flag_mistake, run_conversion

TASK_FORMATS = ("coco_keypoints", "icdar2015", "totaltext", "hiertext", "screenspot", "visual_prompt")
_NEEDS_DIR = ("icdar2015", "totaltext")
_DEFAULT_LEVEL = {"icdar2015": "word", "totaltext": "word", "hiertext": "text line"}


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    p = argparse.ArgumentParser(description="Convert keypoint (COCO person, AP-10K), OCR (ICDAR2015, Total-Text, "
                                "HierText), GUI (ScreenSpot) or visual-prompt (any COCO/LVIS instances file) "
                                "annotations into the images.tsv / annotations.tsv / .lineidx triple (and/or the "
                                "JSONL that convert_json_data_to_tsv.py reads). Bad records are skipped and listed.")
    p.add_argument("--format", required=True, choices=TASK_FORMATS,
                   help="coco_keypoints: COCO-style keypoints JSON (COCO person, AP-10K); icdar2015 / totaltext: a "
                   "folder of gt_*.txt; hiertext: its JSON; screenspot: its JSON list; visual_prompt: COCO/LVIS "
                   "instances JSON")
    p.add_argument("--ann_file", default=None, help="the annotation JSON (coco_keypoints, hiertext, screenspot, "
                   "visual_prompt)")
    p.add_argument("--ann_dir", default=None, help="the folder of per-image gt_*.txt files (icdar2015, totaltext)")
    p.add_argument("--image_root", required=True, help="folder the images' file names are relative to")
    p.add_argument("--level", default=None, choices=("word", "text line"),
                   help="OCR granularity written in each entry (default: word for icdar2015/totaltext, "
                   "text line for hiertext, whose words are read with --level word)")
    p.add_argument("--box_format", default="xywh", choices=("xywh", "xyxy"),
                   help="screenspot: bbox format (xywh: ScreenSpot, -v2; xyxy: ScreenSpot-Pro)")
    p.add_argument("--min_keypoints", type=int, default=1,
                   help="coco_keypoints: leave out instances with fewer labelled joints (default 1)")
    p.add_argument("--lvis", action="store_true", help="visual_prompt: the file is LVIS (names with _ as spaces)")
    p.add_argument("--num_exemplars", type=int, default=1,
                   help="visual_prompt: exemplars drawn per phrase and image (seeded; 0 = let the task function "
                   "draw them each epoch); default 1")
    p.add_argument("--exemplar_file", default=None,
                   help="visual_prompt: JSON {image file name: {phrase: [[x0, y0, x1, y1], ...]}} of given exemplars")
    p.add_argument("--seed", type=int, default=0, help="seeds sampled exemplars and mask points (default 0)")
    add_output_flags(p, categories_help="comma-separated category names to keep (coco_keypoints, visual_prompt); "
                     "default all", max_samples_help="stop after N samples",
                     num_workers_help="processes re-encoding images (default 1)")
    return p


def _check(args: argparse.Namespace) -> str | None:
    """The first user mistake in ``args``, as one line, or ``None``."""
    if args.format in _NEEDS_DIR and not args.ann_dir:
        return f"--format {args.format} needs --ann_dir (the folder of gt_*.txt files)"
    if args.format not in _NEEDS_DIR and not args.ann_file:
        return f"--format {args.format} needs --ann_file"
    if args.num_exemplars < 0:
        return f"--num_exemplars must be >= 0, got {args.num_exemplars}"
    return output_flag_mistake(args)


def iter_records(args: argparse.Namespace) -> Iterator[SourceRecord]:
    """The records of the chosen format (raises ``FormatError`` for an unusable input file)."""
    keep = CategoryFilter(category_names(args.categories), category_names(args.exclude_categories))
    level = args.level or _DEFAULT_LEVEL.get(args.format, "word")
    if args.format == "coco_keypoints":
        yield from iter_keypoint_records(args.ann_file, keep, args.min_keypoints)
    elif args.format == "icdar2015":
        yield from iter_icdar2015_records(args.ann_dir, args.image_root, level)
    elif args.format == "totaltext":
        yield from iter_totaltext_records(args.ann_dir, args.image_root, level)
    elif args.format == "hiertext":
        yield from iter_hiertext_records(args.ann_file, level)
    elif args.format == "screenspot":
        yield from iter_screenspot_records(args.ann_file, args.box_format)
    else:
        given = load_given_exemplars(args.exemplar_file) if args.exemplar_file else None
        options = SourceOptions(format="lvis" if args.lvis else "coco", ann_file=args.ann_file, seed=args.seed,
                                categories=keep)
        for record in iter_source_records(options, args.num_workers):
            yield add_exemplars(record, args.num_exemplars, args.seed, given)


def main(argv: list[str] | None = None) -> int:
    """Run the conversion; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    mistake = _check(args)
    for path in (args.ann_file, args.exemplar_file):
        if mistake is None and path and not os.path.isfile(path):
            mistake = f"file not found: {path}"
    if mistake is not None:
        print(f"convert_task_to_tsv.py: error: {mistake}", file=sys.stderr)
        return 2
    return run_conversion("convert_task_to_tsv.py", iter_records(args), args)


if __name__ == "__main__":
    sys.exit(main())
