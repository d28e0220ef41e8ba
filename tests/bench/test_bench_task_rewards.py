"""The task-reward benchmark's loops score exactly as the rewards (the bench asserts it); no timing checked."""

from __future__ import annotations

import pytest

from bench import bench_task_rewards


@pytest.mark.parametrize("reward", sorted(bench_task_rewards.LOOPS))
def test_loop_and_vectorised_reward_agree(reward: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_task_rewards, "BATCH", 2)
    result = bench_task_rewards.bench_one(reward, repeats=1)
    assert set(result) >= {"vectorised", "loop", "speedup"} and 0.0 < result["mean_score"] <= 1.0
