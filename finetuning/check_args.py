"""Check SFT arguments without starting anything::

    python -m finetuning.check_args [--skip_model_check] <train.py flags>

Runs the checks of ``finetuning.train`` that need no process group (flags, config, model and data
paths, model/data values), then the model-folder check of ``tools/check_model.py`` on the model those
flags name, unless ``--skip_model_check`` comes first. Exit 0 when they pass; otherwise one line on
stderr and exit 2. ``scripts/sft.sh`` runs it once before ``torchrun`` so a mistake is reported once,
not per rank, from one Python process.
"""

from __future__ import annotations

import sys

from finetuning.arguments import UsageError, check_args
from modeling.model_folder import run_model_check

SKIP_MODEL_CHECK = "--skip_model_check"


def main(argv: list[str] | None = None) -> int:
    """Returns 0 when the arguments (and the model folder) pass, 2 (after one line on stderr) when not."""
    argv = list(sys.argv[1:] if argv is None else argv)
    check_model = not argv or argv[0] != SKIP_MODEL_CHECK
    try:
        merged, _ = check_args(argv if check_model else argv[1:])
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_model_check(str(merged["model_name_or_path"])) if check_model else 0


if __name__ == "__main__":
    sys.exit(main())
