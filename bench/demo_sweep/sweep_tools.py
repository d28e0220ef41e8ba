"""Helpers the demo sweeps call from bash.

    python3 bench/demo_sweep/sweep_tools.py reinit SRC DST STD THETA   # SRC's demo model, re-initialised
    python3 bench/demo_sweep/sweep_tools.py score CHECKPOINT NAME       # one line from CHECKPOINT/eval/metrics.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def reinit(source: str, destination: str, std: float, rope_theta: float) -> None:
    """Save ``source``'s model re-initialised with ``std`` and ``rope_theta`` (and its processor) to ``destination``."""
    from transformers import AutoProcessor

    from bench.probe_localisation import _load_model

    processor = AutoProcessor.from_pretrained(source)
    model = _load_model(source, std, processor.tokenizer, rope_theta)
    model.save_pretrained(destination)
    processor.save_pretrained(destination)


def score_line(checkpoint: str, name: str) -> str:
    """``NAME step N F1=.. parse=.. iou_reward=.. npred=.. ngt=..`` for ``<checkpoint>/eval/metrics.json``."""
    metrics = json.loads((Path(checkpoint) / "eval" / "metrics.json").read_text())
    step = checkpoint.rstrip("/").rsplit("-", 1)[-1]
    return (f"{name:<28} step {step:>5} F1={metrics['box_f1@0.5']:.3f} parse={metrics['parse_rate']:.2f} "
            f"iou_reward={metrics['mean_box_iou_reward']:.3f} npred={metrics['num_predictions']} "
            f"ngt={metrics['num_gt']}")


def main(argv: list[str]) -> int:
    """Dispatch ``reinit`` or ``score``; returns the exit code."""
    if len(argv) == 5 and argv[0] == "reinit":
        reinit(argv[1], argv[2], float(argv[3]), float(argv[4]))
        return 0
    if len(argv) == 3 and argv[0] == "score":
        print(score_line(argv[1], argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    sys.exit(main(sys.argv[1:]))
