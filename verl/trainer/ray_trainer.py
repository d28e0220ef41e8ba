"""The GRPO driver: owns the data loader, the worker group, the reward manager and the loop.

One step: generate (n samples per prompt) -> reward (background thread) -> old log-probs -> reference
log-probs -> advantages -> actor update -> metrics -> maybe checkpoint. ``global_step`` counts completed
steps; training stops after ``training_steps`` = ``max_steps`` or ``len(loader) * total_epochs``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from verl import core_algos
from verl.protocol import Batch
from verl.single_controller import WorkerGroup
from verl.trainer.config import ConfigError, PPOConfig, config_to_dict
from verl.trainer.data_loader import StatefulLoader
from verl.trainer.metrics import (
    Tracker,
    data_metrics,
    reward_metrics,
    rollout_probs_metrics,
    throughput_metrics,
)
from verl.trainer.validation_protocol import ValidationAnswers
from verl.workers import checkpoint
from verl.workers.reward import RewardManager

__all__ = ["GRPOTrainer"]

logger = logging.getLogger(__name__)


def request_seed(seed: int, step: int, index: int) -> int:
    """Stable 64-bit sampling seed of one rollout request; independent of PYTHONHASHSEED and workers."""
    digest = hashlib.blake2b(f"{seed}:{step}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")

# Columns the workers need after generation (images stay on the driver for the reward).
WORKER_COLUMNS = ("input_ids", "attention_mask", "position_ids", "responses", "response_mask", "multi_modal_inputs")


@contextmanager
def _timer(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


class GRPOTrainer:
    """Single-controller GRPO loop over a :class:`WorkerGroup` of :class:`~verl.workers.fsdp_worker.FSDPWorker`."""

    def __init__(self, config: PPOConfig, workers: WorkerGroup, reward: RewardManager, train_loader: StatefulLoader,
                 val_loader: StatefulLoader | None = None) -> None:
        self.config, self.workers, self.reward = config, workers, reward
        self.train_loader, self.val_loader = train_loader, val_loader
        trainer = config.trainer
        self.training_steps = trainer.max_steps or len(train_loader) * trainer.total_epochs
        self.use_ref = not config.algorithm.disable_kl
        self.global_step = 0
        self.save_root = Path(trainer.save_checkpoint_path or "checkpoints")
        self.val_pictures: dict[str, Any] = {}  # the last validation's pictures (tag -> PIL image)
        if val_loader is None and (trainer.val_freq > 0 or trainer.val_before_train or trainer.val_only):
            raise ConfigError(f"trainer.val_freq/val_before_train/val_only ask for validation, but "
                              f"data.config_path ({config.data.config_path}) defines no `val_dataset`")

    # ------------------------------------------------------------------------------- lifecycle
    def init_workers(self) -> None:
        """Rendezvous and build the models on every rank."""
        address, port = self.workers.master_address()  # type: ignore[attr-defined]
        self.workers.init_model(address, port, self.training_steps)

    def resume(self) -> None:
        """Load ``trainer.load_checkpoint_path``, else the latest complete checkpoint under the save dir."""
        path = self.config.trainer.load_checkpoint_path
        found = Path(path) if path else checkpoint.find_latest_checkpoint(self.save_root)
        if found is None:
            return
        state = checkpoint.load_trainer_state(found)
        self.workers.load_checkpoint(str(found))
        self.global_step = int(state["global_step"])
        self.train_loader.load_state_dict(state["dataloader"])
        logger.info("resumed from %s at step %d", found, self.global_step)

    def save(self) -> None:
        """Collective save, then trainer state, then the ``latest`` marker (last), then rotation."""
        path = checkpoint.step_dir(self.save_root, self.global_step)
        self.workers.save_checkpoint(str(path))
        checkpoint.save_trainer_state(path, {"global_step": self.global_step,
                                             "dataloader": self.train_loader.state_dict()})
        checkpoint.write_latest(self.save_root, self.global_step)
        checkpoint.rotate_checkpoints(self.save_root, self.config.trainer.save_limit)
        logger.info("saved checkpoint %s", path)

    def fit(self) -> list[dict[str, float]]:
        """Run until ``training_steps``; returns every step's metrics."""
        cfg = self.config.trainer
        tracker = Tracker(cfg.logger, str(self.save_root), cfg.project_name, cfg.experiment_name,
                          config_to_dict(self.config))
        history: list[dict[str, float]] = []
        self.resume()
        last_saved = self.global_step
        try:
            if cfg.val_before_train or cfg.val_only:
                tracker.log(self.global_step, self.validate())
                tracker.log_images(self.global_step, self.val_pictures)
                if cfg.val_only:
                    return history
            bar = tqdm(total=self.training_steps, initial=self.global_step, desc="GRPO", dynamic_ncols=True)
            while self.global_step < self.training_steps:
                epoch, raw = self.train_loader.next_batch()
                metrics = self.train_step(raw)
                self.global_step += 1
                metrics["train/epoch"] = float(epoch)
                last = self.global_step == self.training_steps
                if cfg.val_freq > 0 and (self.global_step % cfg.val_freq == 0 or last):
                    metrics.update(self.validate())
                    tracker.log_images(self.global_step, self.val_pictures)
                if cfg.save_freq > 0 and self.global_step % cfg.save_freq == 0:
                    self.save()
                    last_saved = self.global_step
                tracker.log(self.global_step, metrics)
                history.append(metrics)
                bar.update(1)
            bar.close()
            train_data = getattr(self.train_loader, "dataset", None)
            for ds in getattr(train_data, "datasets", [train_data]):
                if hasattr(ds, "log_skip_totals"):
                    ds.log_skip_totals()
            if last_saved != self.global_step:
                self.save()
        finally:
            tracker.close()
        return history

    # ---------------------------------------------------------------------------------- one step
    def _prompt_batch(self, raw: dict[str, Any]) -> Batch:
        batch = Batch.from_mapping(raw)
        rollout = self.config.worker.rollout
        batch["uid"] = [uuid.uuid4().hex for _ in range(len(batch))]
        batch["seed"] = [request_seed(rollout.seed, self.global_step, i) for i in range(len(batch))]
        batch.meta.update(n=rollout.n, temperature=rollout.temperature)
        return batch

    @property
    def on_policy_shortcut(self) -> bool:
        """True when old log-probs come from the update's forward: exactly one optimizer step per rollout batch
        and nothing else reads them (the KL penalty in the reward does)."""
        cfg = self.config
        actor = cfg.worker.actor
        return (actor.old_log_probs == "auto" and actor.ppo_epochs == 1
                and actor.global_batch_size == cfg.data.rollout_batch_size
                and not (self.use_ref and not cfg.algorithm.use_kl_loss))

    def train_step(self, raw: dict[str, Any]) -> dict[str, float]:
        """One GRPO step on a collated prompt batch; returns its metrics."""
        timings: dict[str, float] = {}
        with _timer(timings, "step"):
            prompts = self._prompt_batch(raw)
            with _timer(timings, "gen"):
                batch = self.workers.generate_sequences(prompts)
            pending = self.reward.submit(batch)
            slim = batch.select([c for c in WORKER_COLUMNS if c in batch])
            shortcut = self.on_policy_shortcut
            if not shortcut:
                with _timer(timings, "old"):
                    batch = batch.union(self.workers.compute_log_probs(slim))
            if self.use_ref:
                with _timer(timings, "ref"):
                    batch = batch.union(self.workers.compute_ref_log_probs(slim))
            with _timer(timings, "reward_wait"):
                scores, reward_rows = pending.result()
            timings["reward"] = self.reward.last_seconds  # overlapped with old/ref log-probs
            with _timer(timings, "adv"):
                metrics = self._advantages(batch, scores)
            update = batch.select(self._update_columns(batch, shortcut))
            update.tensors["response_mask"] = batch["update_mask"]
            with _timer(timings, "update"):
                results = self.workers.update_actor(update)
        metrics.update(_mean_dicts(results))
        metrics.update(reward_metrics(reward_rows, batch["ground_truth"]))
        metrics.update(data_metrics(batch))
        metrics.update(rollout_probs_metrics(batch))
        metrics.update(throughput_metrics(batch, timings, self.workers.world_size))
        metrics["data/num_skipped"] = float(sum(raw.get("num_skipped", [0])))
        return metrics

    def _update_columns(self, batch: Batch, shortcut: bool) -> list[str]:
        """What ``update_actor`` reads: the old log-probs, or on an on-policy step the rollout's (for the gap metric)."""
        columns = [*WORKER_COLUMNS, "advantages"]
        if self.use_ref:
            columns.append("ref_log_probs")
        if not shortcut:
            columns.append("old_log_probs")
        elif "rollout_log_probs" in batch:
            columns.append("rollout_log_probs")
        return columns

    def _advantages(self, batch: Batch, scores: torch.Tensor) -> dict[str, float]:
        """Token rewards (KL-penalised unless the KL is a loss), advantages, and the online-filter mask."""
        algo = self.config.algorithm
        metrics: dict[str, float] = {}
        mask = batch["response_mask"]
        rewards = scores
        if self.use_ref and not algo.use_kl_loss:
            rewards, kl_metrics = core_algos.apply_kl_penalty(scores, batch["old_log_probs"], batch["ref_log_probs"],
                                                              mask, algo.kl_coef, algo.kl_penalty)
            metrics.update(kl_metrics)
        advantages, _ = core_algos.compute_advantage(algo.adv_estimator, rewards, mask, batch["uid"],
                                                     norm_by_std=algo.norm_adv_by_std_in_grpo)
        batch["token_level_scores"] = scores
        batch["advantages"] = advantages
        update_mask = mask
        if algo.online_filtering:
            # Groups with identical rewards carry no signal: mask them out of the loss and its denominators.
            keep = core_algos.group_filter_mask(scores.sum(-1), batch["uid"])
            update_mask = mask * keep.unsqueeze(-1).to(mask.dtype)
            metrics["filter/kept_ratio"] = float(keep.float().mean())
        batch["update_mask"] = update_mask
        return metrics

    # ------------------------------------------------------------------------------- validation
    def validate(self) -> dict[str, float]:
        """Generate once over the validation set with ``val_override_config``; rewards as ``val/reward/...``
        (overall, per reward key, per dataset). The first ``val_generations_to_log`` samples are logged and
        appended to ``<save dir>/val_generations.jsonl``."""
        assert self.val_loader is not None
        start = time.perf_counter()
        overrides = self.config.worker.rollout.val_override_config
        rows: dict[str, list[float]] = {}
        truths: list[Any] = []
        shown: list[dict[str, Any]] = []
        answers = ValidationAnswers()
        self.val_loader.load_state_dict({"epoch": 0, "position": 0})
        for _ in range(len(self.val_loader)):
            _, raw = self.val_loader.next_batch()
            prompts = self._prompt_batch(raw)
            prompts.meta.update(overrides)
            batch = self.workers.generate_sequences(prompts)
            _, scored = self.reward.compute(batch)
            for key, values in scored.items():
                rows.setdefault(key, []).extend(values)
            truths.extend(batch["ground_truth"])
            answers.add(batch, self.reward.decode(batch))
            shown.extend(self._generations(batch, scored["overall"], self.config.trainer.val_generations_to_log - len(shown)))
        self._log_generations(shown)
        metrics = {f"val/{k}": v for k, v in reward_metrics(rows, truths).items()}
        protocol, self.val_pictures = answers.score(self.config.trainer.val_generations_to_log)
        metrics.update(protocol)
        metrics["timing_s/validate"] = time.perf_counter() - start
        logger.info("validation at step %d: reward %.4f over %d samples (%s)", self.global_step,
                    metrics.get("val/reward/overall", float("nan")), len(truths),
                    ", ".join(f"{k.split('/')[3]}={v:.4f}" for k, v in metrics.items()
                              if k.startswith("val/reward/by_dataset/") and k.endswith("/mean")))
        return metrics

    def _generations(self, batch: Batch, scores: list[float], limit: int) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        texts = self.reward.decode(batch[:limit])
        return [{"step": self.global_step, "dataset": gt.get("dataset_name"), "prompt": prompt,
                 "response": text, "score": score}
                for prompt, text, score, gt in zip(batch["prompt"][:limit], texts, scores, batch["ground_truth"])]

    def _log_generations(self, samples: list[dict[str, Any]]) -> None:
        if not samples:
            return
        self.save_root.mkdir(parents=True, exist_ok=True)
        with open(self.save_root / "val_generations.jsonl", "a", encoding="utf-8") as fh:
            for sample in samples:
                fh.write(json.dumps(sample) + "\n")
                logger.info("val sample [%s] score=%.3f\n  prompt: %s\n  response: %s", sample["dataset"],
                            sample["score"], sample["prompt"], sample["response"])


def _mean_dicts(results: Any) -> dict[str, float]:
    items = results if isinstance(results, list) else [results]
    keys = {k for item in items for k in item}
    reduce = {k: (np.max if k.endswith("_max") else np.mean) for k in keys}
    return {k: float(reduce[k]([item[k] for item in items if k in item])) for k in keys}
