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
from dataset.convert import ConversionError
from dataset.output_paths import check_output_paths
from dataset.real_data import SourceOptions, convert_records, iter_source_records


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


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
    p.add_argument("--output_prefix", default=None,
                   help="write PREFIX.images.tsv, PREFIX.annotations.tsv, PREFIX.annotations.tsv.lineidx")
    p.add_argument("--output_jsonl", default=None,
                   help="also (or only) write the {'image_name', 'annotation'} JSONL")
    p.add_argument("--refs_file", default=None, help="refcoco: refs(unc).p / refs(umd).p pickle or a refs JSON list")
    p.add_argument("--refcoco_split", default=None, help="refcoco: keep refs of this split only (train, val, "
                   "testA, testB, test); default all")
    p.add_argument("--label_map", default=None,
                   help="odvg: JSON {label id: name} for detection instances without a 'category'")
    p.add_argument("--categories", default=None,
                   help="comma-separated category names to keep (case-insensitive); default all")
    p.add_argument("--exclude_categories", default=None, help="comma-separated category names to drop")
    p.add_argument("--max_samples", type=int, default=None, help="stop after N samples (after filtering)")
    p.add_argument("--num_workers", type=int, default=1,
                   help="processes for masks and points (coco, lvis) and for re-encoding images (default 1); "
                   "same output for any value")
    p.add_argument("--seed", type=int, default=0, help="seeds the points drawn inside masks (default 0)")
    p.add_argument("--jpeg_quality", type=int, default=95, help="JPEG quality of the stored images (default 95)")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 1, write nothing) on any bad record or image instead of skipping it")
    p.add_argument("--no_progress", action="store_true", help="hide the progress bars")
    return p


def _check(args: argparse.Namespace) -> str | None:
    """The first user mistake in ``args``, as one line, or ``None``."""
    if not args.output_prefix and not args.output_jsonl:
        return "give --output_prefix, --output_jsonl or both"
    if args.max_samples is not None and args.max_samples < 1:
        return f"--max_samples must be >= 1, got {args.max_samples}"
    if args.num_workers < 1:
        return f"--num_workers must be >= 1, got {args.num_workers}"
    if not 1 <= args.jpeg_quality <= 100:
        return f"--jpeg_quality must be in 1..100, got {args.jpeg_quality}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the conversion; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = SourceOptions(
        format=args.format, ann_file=args.ann_file, refs_file=args.refs_file, refcoco_split=args.refcoco_split,
        label_map_file=args.label_map, seed=args.seed,
        categories=CategoryFilter(_names(args.categories), _names(args.exclude_categories)),
    )
    mistake = _check(args)
    try:
        if mistake is None:
            options.check()
    except FormatError as exc:
        mistake = str(exc)
    if mistake is not None:
        print(f"convert_coco_to_tsv.py: error: {mistake}", file=sys.stderr)
        return 2
    check_output_paths("convert_coco_to_tsv.py",
                       files={"--output_prefix": args.output_prefix, "--output_jsonl": args.output_jsonl})
    try:
        stats = convert_records(iter_source_records(options, args.num_workers), args.image_root,
                                jsonl_out=args.output_jsonl, tsv_prefix=args.output_prefix,
                                max_samples=args.max_samples, num_workers=args.num_workers,
                                jpeg_quality=args.jpeg_quality, strict=args.strict, progress=not args.no_progress)
    except FormatError as exc:
        print(f"convert_coco_to_tsv.py: error: {exc}", file=sys.stderr)
        return 2
    except ConversionError as exc:
        logging.getLogger(__name__).error("%s\nstrict mode: no output written", exc)
        return 1
    print(f"wrote {stats.num_written} samples, skipped {len(stats.bad)} bad record(s) "
          f"and {stats.num_empty} image(s) without objects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
