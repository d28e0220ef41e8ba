"""Print the quickstart summary: held-out metrics before/after SFT and GRPO, and the GRPO reward curve."""

from __future__ import annotations

import sys

from demo.quickstart_report import quickstart_report
from tools.cli import OneLineArgumentParser


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(description=__doc__)
    parser.add_argument("--work_dirs", default="work_dirs",
                        help="folder holding eval/<stage>/metrics.json and grpo/metrics.jsonl (default: work_dirs)")
    args = parser.parse_args(argv)
    print(quickstart_report(args.work_dirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
