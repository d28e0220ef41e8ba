"""Rewards by name: ``register_reward(name)`` adds one, ``get_reward(name)`` looks it up.

A reward is a pure function ``fn(groups, gt, **options) -> RewardResult`` where ``groups`` is
``dataset.grammar.parse_answer(prediction)`` and ``gt`` a validated
:class:`~rewards.ground_truth.GroundTruth`. The built-ins (``box_iou``, ``point_in_box``,
``point_in_mask``) register when ``rewards`` is imported.

Add your own in a file of yours and point the trainer at it::

    # my_rewards.py  ->  worker.reward.reward_function: path/to/my_rewards.py:compute_score
    from verl.configs.reward_func import compute_score  # noqa: F401  (the entry the trainer calls)
    from rewards import RewardResult, register_reward

    @register_reward("phrase_recall")
    def phrase_recall(groups, gt, **options):
        wanted = {p for p, t in gt.answer.items() if not t.is_negative}
        found = {g.phrase for g in groups if g.items} & wanted
        recall = len(found) / len(wanted) if wanted else 1.0
        return RewardResult(score=recall, precision=recall, recall=recall)

Samples whose ground truth says ``"reward_name": "phrase_recall"`` are then scored by it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dataset.grammar import ParsedGroup
from rewards.ground_truth import GroundTruth


@dataclass(frozen=True)
class RewardResult:
    """Score in ``[0, 1]`` plus the precision/recall it came from; ``details`` feed the debug log."""

    score: float
    precision: float
    recall: float
    details: dict[str, float] = field(default_factory=dict)


class RewardFn(Protocol):
    def __call__(self, groups: list[ParsedGroup], gt: GroundTruth, **options: Any) -> RewardResult: ...


_REWARDS: dict[str, RewardFn] = {}


class UnknownRewardError(ValueError):
    """No reward is registered under the requested name."""


def register_reward(name: str) -> Callable[[RewardFn], RewardFn]:
    """Decorator registering ``fn`` under ``name``; re-registering a name replaces it (reloads)."""

    def decorator(fn: RewardFn) -> RewardFn:
        _REWARDS[name] = fn
        return fn

    return decorator


def get_reward(name: str) -> RewardFn:
    """The reward registered as ``name``; raises :class:`UnknownRewardError` listing the known ones."""
    try:
        return _REWARDS[name]
    except KeyError:
        raise UnknownRewardError(
            f"unknown reward_name {name!r}; known rewards: {', '.join(sorted(_REWARDS))}"
        ) from None


def known_rewards() -> list[str]:
    """Sorted names of all registered rewards."""
    return sorted(_REWARDS)


def f1_result(precision: float, recall: float, **details: float) -> RewardResult:
    """``RewardResult`` with score ``2PR / (P + R)`` (0 when both are 0)."""
    total = precision + recall
    score = 2.0 * precision * recall / total if total > 0 else 0.0
    return RewardResult(score=score, precision=precision, recall=recall, details=dict(details))


def empty_case(num_gt: int, num_pred: int) -> RewardResult | None:
    """The original's edge cases: nothing expected and nothing predicted -> 1.0; one side empty -> 0.0.

    Returns ``None`` when both sides have objects and the reward must do the real work.
    """
    counts = {"num_gt": float(num_gt), "num_pred": float(num_pred)}
    if num_gt == 0 and num_pred == 0:
        return RewardResult(1.0, 1.0, 1.0, counts)
    if num_gt == 0:  # everything predicted is a false positive; nothing was missed
        return RewardResult(0.0, 0.0, 1.0, counts)
    if num_pred == 0:
        return RewardResult(0.0, 0.0, 0.0, counts)
    return None
