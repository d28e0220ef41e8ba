"""What the converter CLIs share (``convert_coco_to_tsv.py``, ``convert_task_to_tsv.py``): the output
and speed flags, their checks, and the run that writes the TSV triple and/or the JSONL.

A user mistake is one line on stderr and exit code 2; ``--strict`` with a bad record exits 1 and writes
nothing; a finished run prints one summary line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable

from dataset.coco_formats import FormatError, SourceRecord
from dataset.convert import ConversionError
from dataset.output_paths import check_output_paths
from dataset.real_data import convert_records

__all__ = ["add_output_flags", "category_names", "output_flag_mistake", "run_conversion"]


def category_names(text: str | None) -> tuple[str, ...]:
    """``"dog, cat,"`` -> ``("dog", "cat")`` (a comma-separated flag; ``None`` is empty)."""
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def add_output_flags(p: argparse.ArgumentParser, *, categories_help: str, max_samples_help: str,
                     num_workers_help: str) -> None:
    """The flags every converter has after its own: outputs, category filter, limits, workers, JPEG
    quality, strictness, progress bars."""
    p.add_argument("--output_prefix", default=None,
                   help="write PREFIX.images.tsv, PREFIX.annotations.tsv, PREFIX.annotations.tsv.lineidx")
    p.add_argument("--output_jsonl", default=None, help="also (or only) write the {'image_name', 'annotation'} JSONL")
    p.add_argument("--categories", default=None, help=categories_help)
    p.add_argument("--exclude_categories", default=None, help="comma-separated category names to drop")
    p.add_argument("--max_samples", type=int, default=None, help=max_samples_help)
    p.add_argument("--num_workers", type=int, default=1, help=num_workers_help)
    p.add_argument("--jpeg_quality", type=int, default=95, help="JPEG quality of the stored images (default 95)")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 1, write nothing) on any bad record or image instead of skipping it")
    p.add_argument("--no_progress", action="store_true", help="hide the progress bars")


def output_flag_mistake(args: argparse.Namespace) -> str | None:
    """The first mistake in the flags of :func:`add_output_flags`, as one line, or ``None``."""
    if not args.output_prefix and not args.output_jsonl:
        return "give --output_prefix, --output_jsonl or both"
    if args.max_samples is not None and args.max_samples < 1:
        return f"--max_samples must be >= 1, got {args.max_samples}"
    if args.num_workers < 1:
        return f"--num_workers must be >= 1, got {args.num_workers}"
    if not 1 <= args.jpeg_quality <= 100:
        return f"--jpeg_quality must be in 1..100, got {args.jpeg_quality}"
    return None


def run_conversion(prog: str, records: Iterable[SourceRecord], args: argparse.Namespace) -> int:
    """Check the outputs can be written, convert ``records`` (images under ``args.image_root``) and
    print the summary; returns the exit code (2: unusable input file, 1: ``--strict`` stopped)."""
    check_output_paths(prog, files={"--output_prefix": args.output_prefix, "--output_jsonl": args.output_jsonl})
    try:
        stats = convert_records(records, args.image_root, jsonl_out=args.output_jsonl, tsv_prefix=args.output_prefix,
                                max_samples=args.max_samples, num_workers=args.num_workers,
                                jpeg_quality=args.jpeg_quality, strict=args.strict, progress=not args.no_progress)
    except FormatError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except ConversionError as exc:
        logging.getLogger(prog).error("%s\nstrict mode: no output written", exc)
        return 1
    print(f"wrote {stats.num_written} samples, skipped {len(stats.bad)} bad record(s) "
          f"and {stats.num_empty} image(s) without objects")
    return 0
