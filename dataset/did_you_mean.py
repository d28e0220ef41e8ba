"""One "did you mean" hint for every misspelt name a user can type (train.py flags, GRPO config keys)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(name: str, known: Iterable[str], prefix: str = "") -> str:
    """`` (did you mean 'PREFIX<closest>'?)`` for the known name closest to ``name``, or ``""`` when none is
    close (difflib's ratio >= 0.6)."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""
