"""Readable per-sample reward records, appended to a file when ``DEBUG_MODE=true``.

The file is ``$LOG_PATH`` when set (a relative path resolves against the process's working
directory, so prefer an absolute one under Ray), else ``<log dir>/reward_debug.log`` where the log
dir is the ``log_dir`` argument, else ``$REWARD_LOG_DIR``, else the working directory. Writing
never raises: a failure is reported through ``logging`` and scoring goes on.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from rewards.ground_truth import GroundTruth
from rewards.registry import RewardResult

logger = logging.getLogger(__name__)

DEFAULT_LOG_NAME = "reward_debug.log"
MAX_FIELD_CHARS = 4000  # a 10k-box answer or a long RLE would drown the log


def debug_enabled(env: Mapping[str, str]) -> bool:
    """``DEBUG_MODE`` set to true/1/yes (any case)."""
    return env.get("DEBUG_MODE", "").strip().lower() in ("1", "true", "yes")


def debug_log_path(env: Mapping[str, str], log_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where records go; see the module docstring for the order of precedence."""
    if env.get("LOG_PATH"):
        return Path(env["LOG_PATH"])
    return Path(log_dir or env.get("REWARD_LOG_DIR") or os.getcwd()) / DEFAULT_LOG_NAME


def _clip(text: str) -> str:
    if len(text) <= MAX_FIELD_CHARS:
        return text
    return f"{text[:MAX_FIELD_CHARS]}... ({len(text) - MAX_FIELD_CHARS} more chars)"


def format_record(prediction: str, gt: GroundTruth, result: RewardResult, format_ok: float) -> str:
    """One multi-line record; the header shows exactly the score that was returned."""
    details = ", ".join(f"{k}: {v:g}" for k, v in result.details.items())
    answer = json.dumps(gt.raw.get("answer", {}), ensure_ascii=False, default=str)
    return "\n".join(
        [
            f"------------- Reward: {gt.reward_name}: {result.score:.6f} | Dataset: {gt.dataset_name} -------------",
            f"Precision: {result.precision:.6f}, Recall: {result.recall:.6f}, Format OK: {format_ok:g}",
            f"Counts: {details}" if details else "Counts: -",
            f"Prediction: {_clip(prediction)}",
            f"GT: {_clip(answer)}",
            "",
        ]
    )


def append_records(path: Path, records: Sequence[str]) -> bool:
    """Append ``records`` to ``path`` (parents created); False, with a logged warning, on failure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write("\n".join(records) + "\n")
    except OSError as err:
        logger.warning("could not write reward debug log %s: %s", path, err)
        return False
    return True
