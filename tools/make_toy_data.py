"""Build the synthetic toy grounding/pointing datasets (TSV triples + a JSONL demo for the converter).

Two presets set the scene defaults; any flag given explicitly wins over its preset:

* ``demo`` (default): what the CPU quickstart trains on. 2048 + 64 images of 112 px (16 visual tokens),
  one large shape each, on a position-coded canvas (``--background coded``), no negatives. A randomly
  initialised demo model learns these boxes in a few hundred steps (README, "What the quickstart shows").
* ``varied``: coloured shapes ("red circle") on textured backgrounds, 224 px, 1-5 shapes, negatives.
  Closer to real data; the demo model does not learn to localise on it from scratch.

``--task`` builds the other tasks' toy sets instead (``demo/task_toy_data.py``: visual prompting,
keypoints, OCR boxes, OCR polygons, GUI; ``all``: every one), as ``toy_<task>_{train,val}`` triples
of 112 px position-coded images (512 + 64 by default; ``--num_train``, ``--num_val``, ``--image_size``
and ``--seed`` apply, the scene flags do not).

Example::

    python tools/make_toy_data.py --output_dir work_dirs/toy_data
    python tools/make_toy_data.py --preset varied --output_dir work_dirs/toy_varied --num_train 512
    python tools/make_toy_data.py --task all --output_dir work_dirs/toy_tasks
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from demo.task_toy_data import TASK_SCENES, make_task_toy_dataset
from demo.toy_data import MAX_OBJECTS, NEGATIVE_PROB, SIZE_RANGE, make_toy_datasets
from tools.cli import OneLineArgumentParser

PRESETS: dict[str, dict[str, Any]] = {
    "demo": dict(num_train=2048, num_val=64, image_size=(112, 112), negative_rate=0.0, max_objects=1,
                 size_range=(0.25, 0.45), background="coded", object_alpha=1.0),
    # The library's own scene defaults (demo.toy_data).
    "varied": dict(num_train=512, num_val=64, image_size=(224, 224), negative_rate=NEGATIVE_PROB,
                   max_objects=MAX_OBJECTS, size_range=SIZE_RANGE, background="random", object_alpha=1.0),
}


def _image_size(text: str) -> tuple[int, int]:
    """'224' -> (224, 224); '320x240' -> (320, 240) as (width, height)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise argparse.ArgumentTypeError(f"expected N or WxH, got {text!r}")


def _preset_help(key: str) -> str:
    return "; ".join(f"{name}: {values[key]}" for name, values in PRESETS.items())


def build_parser() -> OneLineArgumentParser:
    """Command-line flags; scene flags default to None and are filled from ``--preset``."""
    p = OneLineArgumentParser(
        description="Write deterministic synthetic toy datasets: toy_{grounding,pointing}_{train,val} TSV "
        "triples and jsonl/toy_grounding_train.jsonl with images for trying the converter. Scene flags "
        "default to the chosen --preset's values (shown per flag)."
    )
    p.add_argument("--output_dir", default="work_dirs/toy_data", help="destination (default work_dirs/toy_data)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="demo",
                   help="demo: the quickstart's learnable scenes (default); varied: harder, closer to real data")
    p.add_argument("--num_train", type=int, help=f"training images ({_preset_help('num_train')})")
    p.add_argument("--num_val", type=int, help=f"validation images ({_preset_help('num_val')})")
    p.add_argument("--image_size", type=_image_size, help="N (square) or WxH (demo: 112; varied: 224)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same arguments give identical bytes")
    p.add_argument("--negative_rate", type=float,
                   help=f"probability that an image also lists one absent phrase with bbox null "
                   f"({_preset_help('negative_rate')})")
    p.add_argument("--max_objects", type=int, help=f"shapes per image drawn from 1..N ({_preset_help('max_objects')})")
    p.add_argument("--size_range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                   help=f"shape side as a fraction of the shorter image side ({_preset_help('size_range')})")
    p.add_argument("--background", choices=("random", "positional", "coded"),
                   help="coded: red encodes the column and blue the row in every pixel, shapes only raise green "
                   "and are named by shape ('star'); random: a different gradient/stripes/noise per image, "
                   "coloured shapes ('red star'); positional: one fixed colour map (red rises left to right, "
                   f"blue top to bottom) under coloured shapes ({_preset_help('background')})")
    p.add_argument("--object_alpha", type=float,
                   help="opacity of coloured shapes in (0, 1]; below 1 the background shows through (default 1)")
    p.add_argument("--task", choices=("grounding", *TASK_SCENES, "all"), default="grounding",
                   help="grounding: the grounding and pointing sets (default); visual_prompt, keypoint, ocr_box, "
                   "ocr_polygon, gui: that task's toy set; all: every task's set")
    p.add_argument("--no_progress", action="store_true", help="hide the progress bars (--task sets)")
    p.add_argument("--force", action="store_true", help="rebuild even if matching outputs already exist")
    return p


def build_task_sets(args: argparse.Namespace) -> list[str]:
    """Build the ``--task`` toy sets; returns their manifest paths."""
    tasks = list(TASK_SCENES) if args.task == "all" else [args.task]
    size = args.image_size or (112, 112)
    return [make_task_toy_dataset(args.output_dir, task, num_train=512 if args.num_train is None else args.num_train,
                                  num_val=64 if args.num_val is None else args.num_val, image_size=size,
                                  seed=args.seed, force=args.force, progress=not args.no_progress)["manifest"]
            for task in tasks]


def resolve_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for ``make_toy_datasets``: the preset's values, overridden by the flags given."""
    kwargs = dict(PRESETS[args.preset])
    for key in kwargs:
        value = getattr(args, key)
        if value is not None:
            kwargs[key] = tuple(value) if key == "size_range" else value
    return kwargs


def main(argv: list[str] | None = None) -> int:
    """Build the toy data; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    for name, value in (("--num_train", args.num_train), ("--num_val", args.num_val)):
        if value is not None and value < 0:
            print(f"make_toy_data.py: error: {name} must be >= 0, got {value}", file=sys.stderr)
            return 2
    if args.task != "grounding":
        try:
            manifests = build_task_sets(args)
        except ValueError as exc:
            print(f"make_toy_data.py: error: {exc}", file=sys.stderr)
            return 2
        print(f"toy data ready in {args.output_dir} (manifests: {', '.join(manifests)})")
        return 0
    paths = make_toy_datasets(args.output_dir, seed=args.seed, force=args.force, **resolve_arguments(args))
    print(f"toy data ready in {args.output_dir} (manifest: {paths['manifest']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
