"""Opt-in fault hooks for the crash tests: a named point in the code may sleep, raise or exit.

Off unless ``VERL_FAULT_INJECT`` is set, e.g. ``point=save_actor,action=sleep,seconds=300,call=2,rank=0``
(fields: ``point`` (required), ``action`` = raise | exit | sleep (default raise), ``rank`` (default: any),
``call`` = the n-th time this process reaches the point (default 1), ``seconds`` for sleep, ``flag`` = a file
touched just before the fault fires so a test can time a SIGKILL). The variable is forwarded to Ray workers.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from pathlib import Path

__all__ = ["ENV_VAR", "FaultInjected", "fault_point"]

logger = logging.getLogger(__name__)

ENV_VAR = "VERL_FAULT_INJECT"
_calls: Counter[str] = Counter()


class FaultInjected(RuntimeError):
    """Raised by a ``raise`` fault."""


def _parse(spec: str) -> dict[str, str]:
    fields = dict(item.split("=", 1) for item in spec.split(",") if "=" in item)
    if "point" not in fields:
        raise ValueError(f"{ENV_VAR}={spec!r}: needs point=<name>")
    return fields


def fault_point(name: str, rank: int = 0) -> None:
    """Fire the configured fault if ``name`` (and ``rank``, and the call count) match; else do nothing."""
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return
    fields = _parse(spec)
    if fields["point"] != name or int(fields.get("rank", rank)) != rank:
        return
    _calls[name] += 1
    if _calls[name] != int(fields.get("call", 1)):
        return
    if "flag" in fields:
        Path(fields["flag"]).touch()
    action = fields.get("action", "raise")
    logger.warning("fault injection: %s at %s (rank %d, call %d)", action, name, rank, _calls[name])
    if action == "sleep":
        time.sleep(float(fields.get("seconds", 3600)))
    elif action == "exit":
        os._exit(int(fields.get("code", 3)))
    else:
        raise FaultInjected(f"fault injection at {name} (rank {rank}, call {_calls[name]})")
