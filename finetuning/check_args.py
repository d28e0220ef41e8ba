"""Check SFT arguments without starting anything: ``python -m finetuning.check_args <train.py flags>``.

Runs the checks of ``finetuning.train`` that need no process group (flags, config, model and data
paths, model/data values). Exit 0 when they pass; otherwise one line on stderr and exit 2.
``scripts/sft.sh`` runs it once before ``torchrun`` so a mistake is reported once, not per rank.
"""

from __future__ import annotations

import sys

from finetuning.arguments import UsageError, check_args


def main(argv: list[str] | None = None) -> int:
    """Returns 0 when the arguments pass, 2 (after one line on stderr) when they do not."""
    try:
        check_args(list(sys.argv[1:] if argv is None else argv))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
