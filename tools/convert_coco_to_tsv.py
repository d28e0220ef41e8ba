"""Convert COCO / LVIS / RefCOCO / ODVG annotations + images into a TSV triple (and/or the JSONL).

Examples::

    python tools/convert_coco_to_tsv.py --format coco --ann_file instances_val2017.json \\
        --image_root val2017/ --output_prefix data/coco_val
    python tools/convert_coco_to_tsv.py --format refcoco --ann_file refcoco/instances.json \\
        --refs_file "refcoco/refs(unc).p" --refcoco_split val --image_root train2014/ --output_prefix data/refcoco_val
"""

from __future__ import annotations

import argparse
import logging
import sys

from dataset.coco_formats import FORMATS, CategoryFilter, FormatError
from dataset.real_data import SourceOptions, iter_source_records
from tools.conversion_cli import add_output_flags, category_names, output_flag_mistake, run_conversion


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    p = argparse.ArgumentParser(description="Convert COCO, LVIS, RefCOCO(+/g) or ODVG annotations into the "
                                "images.tsv / annotations.tsv / .lineidx triple (and/or the JSONL that "
                                "convert_json_data_to_tsv.py reads). Boxes become xyxy pixels; objects with a "
                                "mask also keep the COCO RLE mask and a seeded point inside it (pointing data).")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="coco/lvis: instances JSON; refcoco: instances JSON + --refs_file; odvg: ODVG JSONL")
    p.add_argument("--ann_file", required=True, help="instances JSON (coco, lvis, refcoco) or ODVG JSONL (odvg)")
    p.add_argument("--image_root", required=True, help="folder the images' file names are relative to")
    p.add_argument("--refs_file", default=None, help="refcoco: refs(unc).p / refs(umd).p pickle or a refs JSON list")
    p.add_argument("--refcoco_split", default=None, help="refcoco: keep refs of this split only (train, val, "
                   "testA, testB, test); default all")
    p.add_argument("--label_map", default=None,
                   help="odvg: JSON {label id: name} for detection instances without a 'category'")
    p.add_argument("--seed", type=int, default=0, help="seeds the points drawn inside masks (default 0)")
    add_output_flags(p, categories_help="comma-separated category names to keep (case-insensitive); default all",
                     max_samples_help="stop after N samples (after filtering)",
                     num_workers_help="processes for masks and points (coco, lvis) and for re-encoding images "
                     "(default 1); same output for any value")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the conversion; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = SourceOptions(
        format=args.format, ann_file=args.ann_file, refs_file=args.refs_file, refcoco_split=args.refcoco_split,
        label_map_file=args.label_map, seed=args.seed,
        categories=CategoryFilter(category_names(args.categories), category_names(args.exclude_categories)),
    )
    mistake = output_flag_mistake(args)
    try:
        if mistake is None:
            options.check()
    except FormatError as exc:
        mistake = str(exc)
    if mistake is not None:
        print(f"convert_coco_to_tsv.py: error: {mistake}", file=sys.stderr)
        return 2
    return run_conversion("convert_coco_to_tsv.py", iter_source_records(options, args.num_workers), args)


if __name__ == "__main__":
    sys.exit(main())
