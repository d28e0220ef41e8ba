"""Print a GRPO run's reward curve (start / middle / end window means and per-step values).

Example: python tools/print_reward_curve.py work_dirs/grpo/metrics.jsonl --key reward/overall
"""

from __future__ import annotations

import argparse
import sys

from tools.cli import OneLineArgumentParser
from verl.trainer.reward_curve import format_curve, load_metrics


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics", help="metrics.jsonl written by the GRPO trainer (in trainer.save_checkpoint_path)")
    parser.add_argument("--key", default="reward/overall", help="metric to summarise (default: reward/overall)")
    parser.add_argument("--fraction", type=float, default=0.2, help="window size as a fraction of the steps")
    args = parser.parse_args(argv)
    try:
        print(format_curve(load_metrics(args.metrics), args.key, args.fraction))
    except (OSError, ValueError) as exc:
        print(f"print_reward_curve: {args.metrics}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
