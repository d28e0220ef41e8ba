"""Draw a run's loss, reward and validation F1 against steps into one PNG.

Examples::

    python tools/plot_run.py work_dirs/sft_demo --output work_dirs/sft_demo/curves.png     # SFT (trainer_state.json)
    python tools/plot_run.py work_dirs/grpo/metrics.jsonl --output work_dirs/grpo/curves.png
    python tools/plot_run.py work_dirs/grpo --keys reward/overall val/protocol_box_mean_f1 --output curves.png
"""

from __future__ import annotations

import argparse
import sys

from dataset.atomic_write import write_bytes_atomic
from evaluation.run_curves import choose_panels, draw_curves, read_series
from tools.cli import OneLineArgumentParser


def build_parser() -> OneLineArgumentParser:
    p = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a GRPO metrics.jsonl, an SFT trainer_state.json, or the run's output folder")
    p.add_argument("--output", required=True, help="PNG file to write")
    p.add_argument("--keys", nargs="+", default=None,
                   help="metrics to draw, one panel each (default: loss, reward and validation F1 panels)")
    p.add_argument("--width", type=int, default=800, help="image width in pixels (default 800)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        image = draw_curves(choose_panels(read_series(args.run), args.keys), width=args.width)
    except (OSError, ValueError) as exc:
        print(f"plot_run.py: error: {exc}", file=sys.stderr)
        return 2
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes_atomic(args.output, buffer.getvalue())
    print(f"wrote {args.output} ({image.width}x{image.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
