"""Rollout engines behind one interface (``RolloutEngine``), chosen by ``worker.rollout.name``."""

from verl.workers.rollout.base import (
    Responses,
    RolloutEngine,
    SamplingSettings,
    assemble_rollout,
)
from verl.workers.rollout.build import build_rollout

__all__ = ["Responses", "RolloutEngine", "SamplingSettings", "assemble_rollout", "build_rollout"]
