"""Per-step GRPO metrics and the tracker that writes them (console, tensorboard, wandb, JSONL).

Metric names: ``reward/<key>`` (batch means of every key the reward function returns),
``reward/by_reward/<reward_name>/{mean,std}``, ``reward/by_dataset/<dataset_name>/{mean,std}``,
``response_length/*``, ``prompt_length/*``, ``actor/*`` (from the update), ``actor/entropy``,
``actor/ref_kl``, ``training/rollout_probs_diff_*``, ``timing_s/<phase>``, ``perf/*``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from verl import core_algos
from verl.protocol import Batch

__all__ = ["CONSOLE_FIELDS", "Tracker", "console_line", "data_metrics", "reward_metrics", "rollout_probs_metrics",
           "throughput_metrics"]

logger = logging.getLogger(__name__)


def _stats(prefix: str, values: np.ndarray) -> dict[str, float]:
    return {f"{prefix}/mean": float(values.mean()), f"{prefix}/std": float(values.std()),
            f"{prefix}/max": float(values.max()), f"{prefix}/min": float(values.min())}


def reward_metrics(scores: dict[str, list[float]], ground_truths: Any) -> dict[str, float]:
    """Means of each reward key, and overall mean/std per reward_name and per dataset_name."""
    out = {f"reward/{key}": float(np.mean(values)) for key, values in scores.items()}
    overall = np.asarray(scores.get("overall", []), dtype=np.float64)
    for field, label in (("reward_name", "by_reward"), ("dataset_name", "by_dataset")):
        groups: dict[str, list[float]] = defaultdict(list)
        for gt, value in zip(ground_truths, overall):
            groups[str(gt.get(field, "unknown"))].append(float(value))
        for name, values in groups.items():
            out[f"reward/{label}/{name}/mean"] = float(np.mean(values))
            out[f"reward/{label}/{name}/std"] = float(np.std(values))
    return out


def data_metrics(batch: Batch) -> dict[str, float]:
    """Lengths, clip ratio of responses that hit max length, advantages, entropy and KL to the reference."""
    response_mask = batch["response_mask"].float()
    response_length = response_mask.sum(-1).numpy()
    max_len = batch["responses"].shape[1]
    prompt_length = (batch["attention_mask"].sum(-1) - response_mask.sum(-1)).float().numpy()
    out = {**_stats("response_length", response_length), **_stats("prompt_length", prompt_length)}
    out["response_length/clip_ratio"] = float((response_length >= max_len).mean())
    valid = response_mask.bool()
    if "advantages" in batch:
        out.update(_stats("critic/advantages", batch["advantages"][valid].numpy()))
    if "entropies" in batch:
        out["actor/entropy"] = float(core_algos.masked_mean(batch["entropies"], response_mask))
    if "ref_log_probs" in batch and "old_log_probs" in batch:
        kl = core_algos.compute_kl(batch["old_log_probs"], batch["ref_log_probs"], "low_var_kl")
        out["actor/ref_kl"] = float(core_algos.masked_mean(kl, response_mask))
    return out


def rollout_probs_metrics(batch: Batch) -> dict[str, float]:
    """verl's ``training/rollout_probs_diff_{max,mean,std}``: ``|exp(rollout_log_probs) - exp(old_log_probs)|``
    over response tokens, i.e. how far the rollout engine's token probabilities are from the actor's for the
    same weights (engine numerics, dtype, a stale weight sync). Empty when the engine reports no log-probs."""
    if "rollout_log_probs" not in batch or "old_log_probs" not in batch:
        return {}
    mask = batch["response_mask"].bool()
    diff = (batch["rollout_log_probs"].exp() - batch["old_log_probs"].exp()).abs()[mask].double()
    if diff.numel() == 0:
        return {}
    std = float(diff.std()) if diff.numel() > 1 else 0.0
    return {"training/rollout_probs_diff_max": float(diff.max()), "training/rollout_probs_diff_mean": float(diff.mean()),
            "training/rollout_probs_diff_std": std}


def throughput_metrics(batch: Batch, timings: Mapping[str, float], world_size: int) -> dict[str, float]:
    """Token counts, step time, tokens/s overall and per phase."""
    total_tokens = int(batch["attention_mask"].sum())
    response_tokens = int(batch["response_mask"].sum())
    step_time = timings["step"] if "step" in timings else sum(timings.values())
    out = {f"timing_s/{k}": float(v) for k, v in timings.items()}
    out.update({
        "perf/total_num_tokens": float(total_tokens),
        "perf/time_per_step": float(step_time),
        "perf/throughput_tokens_per_s": total_tokens / max(step_time, 1e-9),
        "perf/throughput_tokens_per_s_per_worker": total_tokens / max(step_time, 1e-9) / world_size,
    })
    if timings.get("gen"):
        out["perf/gen_response_tokens_per_s"] = response_tokens / timings["gen"]
    return out


# The console line's fields: metric key -> the name it is shown under (each name says what it is).
CONSOLE_FIELDS: dict[str, str] = {
    "reward/overall": "reward_mean", "response_length/mean": "response_len_mean", "actor/pg_loss": "pg_loss",
    "actor/kl_loss": "kl_loss", "actor/entropy": "entropy", "actor/grad_norm": "grad_norm", "actor/lr": "lr",
    "timing_s/step": "step_s", "perf/throughput_tokens_per_s": "tokens_per_s",
}


def console_line(step: int, metrics: Mapping[str, float]) -> str:
    """The one console line of a step, e.g. ``step 3: reward_mean=0.5 response_len_mean=48 ...``: the
    batch's mean reward, mean response length (tokens), the update's losses, step time (seconds)."""
    shown = " ".join(f"{name}={float(metrics[key]):.4g}" for key, name in CONSOLE_FIELDS.items() if key in metrics)
    return f"step {step}: {shown}"


class Tracker:
    """Writes each step's metrics to ``<checkpoint dir>/metrics.jsonl`` and the configured backends.

    Backends (``trainer.logger``): ``console`` (one line per step), ``tensorboard`` (dir
    ``$TENSORBOARD_DIR`` or ``<checkpoint dir>/tensorboard``), ``wandb``. Imports are lazy.
    """

    def __init__(self, loggers: list[str], log_dir: str, project: str, experiment: str, config: dict[str, Any]) -> None:
        self.loggers = list(loggers)
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        self.jsonl_path = Path(log_dir) / "metrics.jsonl"
        self._tb: Any = None
        self._wandb: Any = None
        if "tensorboard" in self.loggers:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(os.environ.get("TENSORBOARD_DIR", str(Path(log_dir) / "tensorboard")))
        if "wandb" in self.loggers:
            import wandb

            self._wandb = wandb.init(project=project, name=experiment, config=config)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        clean = {k: float(v) for k, v in metrics.items()}
        with open(self.jsonl_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": step, **{k: (v if math.isfinite(v) else None) for k, v in clean.items()}}) + "\n")
        if "console" in self.loggers:
            logger.info("%s", console_line(step, clean))
        if self._tb is not None:
            for key, value in clean.items():
                self._tb.add_scalar(key, value, step)
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(clean, step=step)

    def log_images(self, step: int, images: Mapping[str, Any]) -> None:
        """PIL images (tag -> image) to TensorBoard (``add_image``) and wandb (``wandb.Image``)."""
        if self._tb is not None and images:
            for tag, image in images.items():
                self._tb.add_image(tag, np.asarray(image.convert("RGB")), step, dataformats="HWC")
            self._tb.flush()
        if self._wandb is not None and images:
            import wandb

            self._wandb.log({tag: wandb.Image(image) for tag, image in images.items()}, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def to_float(value: Any) -> float:
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)
