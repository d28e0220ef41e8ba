"""``worker``: the configs of the colocated workers, each defined beside its worker and gathered here
(as EasyR1's ``verl/workers/config.py``). The trainer's ``PPOConfig`` holds one ``WorkerConfig``."""

from __future__ import annotations

from dataclasses import dataclass, field

from verl.workers.actor_config import ActorConfig, RefConfig
from verl.workers.reward_config import RewardConfig
from verl.workers.rollout_config import RolloutConfig

__all__ = ["WorkerConfig"]


@dataclass
class WorkerConfig:
    actor: ActorConfig = field(default_factory=ActorConfig)  # the trained policy
    rollout: RolloutConfig = field(default_factory=RolloutConfig)  # the sampling engine
    ref: RefConfig = field(default_factory=RefConfig)  # the frozen reference policy
    reward: RewardConfig = field(default_factory=RewardConfig)  # the reward function
