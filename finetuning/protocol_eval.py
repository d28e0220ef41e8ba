"""Detection metrics on the validation split during SFT, and pictures of what the model answers.

At each evaluation (``--eval_strategy steps --eval_steps N``, and after the last step) the model being
trained answers the first ``--eval_max_samples`` questions of every ``val_dataset`` of the config,
greedily, ``--per_device_eval_batch_size`` images per ``generate`` call, and is scored by
:mod:`evaluation.during_training` (the code of ``tools/evaluate.py``). The numbers join the eval
metrics (``eval_protocol_box_mean_f1``, shown by TensorBoard and wandb as
``eval/protocol_box_mean_f1``), so ``--metric_for_best_model eval/protocol_box_mean_f1
--load_best_model_at_end True`` picks the best checkpoint by them.

Several ranks (DDP, DeepSpeed, LoRA): each answers every world-th question, all rows are gathered to
every rank (each computes the same metrics, so every rank takes the same best-checkpoint decision),
and rank 0 logs. Under ZeRO-3 every ``generate`` is collective: the ranks call it equally often.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback

from evaluation.during_training import (
    ValSplit,
    answer_split,
    load_samples,
    metrics_by_split,
    prediction_picture,
    val_splits,
)
from evaluation.generation import ModelGenerator

logger = logging.getLogger(__name__)

PICTURE_TAG = "eval/pictures"


def all_gather_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every rank's rows on every rank (the rows themselves when no process group is up)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return rows
    gathered: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, rows)
    return [row for part in gathered for row in part]


class ProtocolEvaluator:
    """Generates on the validation splits and returns their metrics; logs pictures on rank 0.

    ``max_samples`` bounds the questions per split (``None``: all), ``num_pictures`` the pictures per
    split logged at each evaluation (the first questions of the split, the same every time).
    """

    def __init__(self, splits: list[ValSplit], max_samples: int | None, batch_size: int, max_new_tokens: int,
                 num_pictures: int, seed: int = 0) -> None:
        self.splits, self.max_samples, self.batch_size = splits, max_samples, batch_size
        self.max_new_tokens, self.num_pictures, self.seed = max_new_tokens, num_pictures, seed
        self._samples: dict[str, list[Any]] = {}

    @classmethod
    def from_config(cls, cfg: Any, args: Any) -> ProtocolEvaluator:
        """The evaluator of the config's ``val_dataset`` with the ``eval_*`` training arguments."""
        splits = val_splits(cfg.val_dataset, where=f"--config {args.config}: val_dataset")
        return cls(splits, args.eval_max_samples, args.per_device_eval_batch_size, args.eval_max_new_tokens,
                   args.eval_num_pictures)

    def samples(self, split: ValSplit) -> list[Any]:
        """The split's questions, loaded once (the same questions at every evaluation)."""
        if split.name not in self._samples:
            self._samples[split.name] = load_samples(split, self.max_samples, self.seed)
        return self._samples[split.name]

    def evaluate(self, trainer: Any) -> dict[str, float]:
        """Answer and score every split with ``trainer``'s model; metrics without the ``eval_`` prefix."""
        from tqdm import tqdm

        args = trainer.args
        model = trainer.accelerator.unwrap_model(trainer.model)
        zero3 = bool(getattr(trainer, "is_deepspeed_enabled", False)) and _zero3()
        generator = ModelGenerator(model, trainer.processing_class, self.max_new_tokens, synced_gpus=zero3)
        start, was_training = time.perf_counter(), model.training
        model.eval()
        rows_by_split: dict[str, list[dict[str, Any]]] = {}
        try:
            for split in self.splits:
                samples = self.samples(split)
                with tqdm(total=len(samples), desc=f"eval {split.name}", unit="img",
                          disable=not trainer.is_world_process_zero()) as bar:
                    rows = answer_split(generator, samples, split.task, self.batch_size, args.process_index,
                                        args.world_size, pad_batches=zero3, progress=bar)
                rows_by_split[split.name] = all_gather_rows(rows)
        finally:
            model.train(was_training)
        metrics = metrics_by_split(rows_by_split, {s.name: s.task for s in self.splits})
        logger.info("protocol evaluation at step %d took %.1f s: %s", trainer.state.global_step,
                    time.perf_counter() - start, metrics)
        if trainer.is_world_process_zero():
            self.log_pictures(trainer, rows_by_split)
        return metrics

    def log_pictures(self, trainer: Any, rows_by_split: dict[str, list[dict[str, Any]]]) -> None:
        """The first ``num_pictures`` questions of each split, GT left and prediction right, to
        TensorBoard (``eval/pictures/<split>/<i>``) and wandb when they are among ``report_to``."""
        pictures = {}
        for split in self.splits:
            by_index = {row["index"]: row for row in rows_by_split[split.name]}
            for sample in self.samples(split)[: self.num_pictures]:
                pictures[f"{PICTURE_TAG}/{split.name}/{sample.index}"] = prediction_picture(
                    sample.image, by_index[sample.index])
        if not pictures:
            return
        step = trainer.state.global_step
        writer = _tensorboard_writer(trainer)
        if writer is not None:
            for tag, image in pictures.items():
                writer.add_image(tag, np.asarray(image), step, dataformats="HWC")
            writer.flush()
        if "wandb" in (trainer.args.report_to or []):
            import wandb

            if wandb.run is not None:
                wandb.log({**{tag: wandb.Image(image) for tag, image in pictures.items()}, "train/global_step": step})


def _zero3() -> bool:
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    return bool(is_deepspeed_zero3_enabled())


def _tensorboard_writer(trainer: Any) -> Any:
    """The SummaryWriter of HF's TensorBoard callback (the run's event file; opened at train begin on
    rank 0), or ``None`` without ``report_to tensorboard``."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            return callback.tb_writer
    return None


class EvaluateAtEndCallback(TrainerCallback):
    """With ``eval_strategy steps``, evaluate after the last step too (HF evaluates only at multiples
    of ``eval_steps``); a last step that is such a multiple is evaluated once."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if args.eval_strategy == "steps" and state.global_step >= state.max_steps:
            control.should_evaluate = True
        return control
