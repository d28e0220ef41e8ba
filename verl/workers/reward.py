"""Reward manager: decode responses, call the configured reward function, place scores on tokens.

``worker.reward.reward_function`` is ``path/to/file.py:fn``. ``batch`` mode calls
``fn(predicts, ground_truths, **kwargs)`` once (and ``images=`` when ``fn`` accepts it); ``sequential``
mode calls ``fn(predict, ground_truth)`` per sample. If the batch call raises, samples are scored one by
one; a sample whose reward raises gets 0 and its traceback is logged. The step goes on.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

from verl.protocol import Batch
from verl.workers.reward_config import RewardConfig

__all__ = ["RewardManager", "RewardOutput", "load_reward_function"]

logger = logging.getLogger(__name__)

RewardOutput = tuple[torch.Tensor, dict[str, list[float]]]


def load_reward_function(spec: str) -> Callable[..., Any]:
    """Import ``fn`` from ``file.py:fn`` (``compute_score`` when no name is given)."""
    path, _, name = spec.partition(":")
    module_name = f"rex_reward_{abs(hash(path))}"
    module = sys.modules.get(module_name)
    if module is None:
        file_spec = importlib.util.spec_from_file_location(module_name, path)
        if file_spec is None or file_spec.loader is None:
            raise ImportError(f"cannot load reward file {path}")
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[module_name] = module
        file_spec.loader.exec_module(module)
    fn = getattr(module, name or "compute_score", None)
    if not callable(fn):
        raise AttributeError(f"{path} has no function '{name or 'compute_score'}'")
    return fn


class RewardManager:
    """Scores a rollout batch; ``submit`` runs it in a background thread (off the driver's critical path).

    Returns ``(token_level_scores (B, R) with the score on the last response token, per-key score lists)``.
    """

    def __init__(self, cfg: RewardConfig, tokenizer: Any) -> None:
        if cfg.reward_function is None:
            raise ValueError("worker.reward.reward_function is not set")
        self.cfg, self.tokenizer = cfg, tokenizer
        self.fn = load_reward_function(cfg.reward_function)
        self.pass_images = "images" in inspect.signature(self.fn).parameters
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reward")
        self.last_seconds = 0.0  # wall time of the latest ``compute`` (it runs in the background)

    def submit(self, batch: Batch) -> Future[RewardOutput]:
        """Start scoring ``batch`` (needs ``responses``, ``response_mask``, ``ground_truth``)."""
        return self._pool.submit(self.compute, batch)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def decode(self, batch: Batch) -> list[str]:
        lengths = batch["response_mask"].sum(-1).tolist()
        return [self.tokenizer.decode(row[:n].tolist(), skip_special_tokens=self.cfg.skip_special_tokens)
                for row, n in zip(batch["responses"], lengths)]

    def compute(self, batch: Batch) -> RewardOutput:
        start = time.perf_counter()
        predicts = self.decode(batch)
        truths = list(batch["ground_truth"])
        images = None
        if self.pass_images and "multi_modal_data" in batch:
            images = [(mm or {}).get("image", [None])[0] for mm in batch["multi_modal_data"]]
        rows = self._score(predicts, truths, images)
        lengths = batch["response_mask"].sum(-1)
        scores = torch.zeros(batch["responses"].shape, dtype=torch.float32)
        last = (lengths - 1).clamp(min=0)
        scores[torch.arange(len(rows)), last] = torch.tensor([r.get("overall", 0.0) for r in rows])
        keys = sorted({k for r in rows for k in r})
        self.last_seconds = time.perf_counter() - start
        return scores, {k: [float(r.get(k, 0.0)) for r in rows] for k in keys}

    def _score(self, predicts: list[str], truths: list[Any], images: Sequence[Any] | None) -> list[dict[str, float]]:
        kwargs = dict(self.cfg.reward_function_kwargs)
        if self.cfg.reward_type == "batch":
            try:
                extra = {"images": images} if images is not None else {}
                rows = self.fn(predicts, truths, **kwargs, **extra)
                if len(rows) != len(predicts):
                    raise ValueError(f"reward function returned {len(rows)} rows for {len(predicts)} samples")
                return [dict(r) for r in rows]
            except Exception:  # noqa: BLE001 - fall back to per-sample scoring to isolate the bad sample
                logger.exception("batch reward failed; scoring %d samples one by one", len(predicts))
        return [self._score_one(i, p, t, images, kwargs) for i, (p, t) in enumerate(zip(predicts, truths))]

    def _score_one(self, index: int, predict: str, truth: Any, images: Sequence[Any] | None,
                   kwargs: dict[str, Any]) -> dict[str, float]:
        try:
            if self.cfg.reward_type == "sequential":
                return dict(self.fn(predict, truth, **kwargs))
            extra = {"images": [images[index]]} if images is not None else {}
            return dict(self.fn([predict], [truth], **kwargs, **extra)[0])
        except Exception:  # noqa: BLE001 - one bad sample must not stop the step
            logger.exception("reward failed for sample %d (scored 0); response: %r", index, predict[:200])
            return {"overall": 0.0, "reward_error": 1.0}
