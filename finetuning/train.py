"""Rex-Omni SFT entry point.

    python -m finetuning.train --config configs/sft.py --output_dir work_dirs/sft --tune_mm_llm True ...
    torchrun --nproc_per_node 8 finetuning/train.py --deepspeed scripts/zero2.json ...

One pass, top to bottom: parse (CLI > config > defaults), load processor and model, freeze,
build datasets and collator from the config, train (resuming from the newest ``checkpoint-*`` in
``output_dir``), save a complete HF folder. ``--help`` lists every flag.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
import transformers
from mmengine.config import Config
from torch.utils.data import Subset
from transformers import TrainerCallback

from dataset.registry import build
from finetuning.arguments import DataArguments, ModelArguments, TrainingArguments, parse_args
from finetuning.checkpoint import KeepTokenizerLayoutCallback, resume_checkpoint, save_final_model
from finetuning.freezing import apply_freezing, log_trainable_summary
from finetuning.lost_rank import lost_rank_line
from finetuning.model_loading import load_model, load_processor, maybe_apply_liger
from finetuning.protocol_eval import EvaluateAtEndCallback, ProtocolEvaluator
from finetuning.speed import ThinCheckpointingCallback, apply_speed_options, check_speed_options
from finetuning.trainer import RexOmniTrainer, sft_loss

logger = logging.getLogger("finetuning.train")

FLAT_COLLATOR = "FlattenedDataCollatorForSupervisedDataset"


class DatasetEpochCallback(TrainerCallback):
    """Tell the dataset which epoch starts, so per-sample task RNG streams differ per epoch and a
    resumed run sees the same samples as an uninterrupted one; at the end, have it log its skips."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(int(state.epoch + 1e-6) if state.epoch else 0)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if hasattr(self.dataset, "log_skip_totals"):
            self.dataset.log_skip_totals()


def setup_logging(training_args: TrainingArguments) -> None:
    """INFO logs on the main process (warnings elsewhere), also written to ``output_dir/info.txt``.

    transformers' own loggers stay at WARNING (its INFO level dumps every model and generation
    configuration, about 1,500 lines per run) unless ``--log_level info`` / ``debug`` asks for them;
    only ``transformers.trainer`` (the run banner: examples, epochs, batch sizes) logs at ``level``."""
    level = logging.INFO if training_args.should_log else logging.WARNING
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if training_args.process_index == 0:
        Path(training_args.output_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(Path(training_args.output_dir) / "info.txt"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers,
                        force=True)
    transformers.utils.logging.set_verbosity(transformers_log_level(training_args))
    logging.getLogger("transformers.trainer").setLevel(level)  # its run banner and progress stay


def transformers_log_level(training_args: TrainingArguments) -> int:
    """transformers' verbosity: WARNING by default (``--log_level passive``), else the one asked for."""
    if training_args.log_level == "passive":
        return logging.WARNING
    return training_args.get_process_log_level()


def log_run_info(argv: list[str], model_args: ModelArguments, data_args: DataArguments) -> None:
    """Command line, git commit and the merged model/data arguments, for reproducing the run."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    logger.info("command: %s", " ".join([sys.executable, *sys.argv[:1], *argv]))
    logger.info("git commit: %s", sha or "unknown")
    logger.info("model args: %s", json.dumps(vars(model_args)))
    logger.info("data args: %s", json.dumps(vars(data_args)))


def with_default(cfg: Any, key: str, value: Any) -> Any:
    """Deep copy of a dataset config whose leaf dataset dicts get ``key=value`` unless they set it."""
    cfg = copy.deepcopy(cfg)
    children = cfg.get("datasets") if isinstance(cfg, dict) else None
    stack = list(children) if children is not None else []
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            item.setdefault(key, value)
    return cfg


def build_datasets(cfg: Config, processor: Any, model_config: Any, args: TrainingArguments) -> tuple[Any, Any]:
    """Train (required) and val (optional) datasets from the config; ``max_length`` = ``model_max_length``."""
    if "train_dataset" not in cfg:
        raise KeyError(f"config {args.config} has no `train_dataset`")
    kwargs = dict(processor=processor, tokenizer=processor.tokenizer, seed=args.seed, model_config=model_config)
    train = build(with_default(cfg.train_dataset, "max_length", args.model_max_length), **kwargs)
    val = None
    if cfg.get("val_dataset") is not None:
        val = build(with_default(cfg.val_dataset, "max_length", args.model_max_length), **kwargs)
    logger.info("train samples: %d, val samples: %s", len(train), len(val) if val is not None else "none")
    return train, val


def build_collator(cfg: Config, data_args: DataArguments, processor: Any) -> Any:
    """The configured collator; ``data_flatten`` selects the packing collator whatever the config says."""
    from dataset.collator import DataCollatorForSupervisedDataset, FlattenedDataCollatorForSupervisedDataset

    collator_cfg = dict(cfg.get("data_collator") or {"type": DataCollatorForSupervisedDataset})
    type_name = getattr(collator_cfg["type"], "__name__", str(collator_cfg["type"]))
    if data_args.data_flatten and type_name != FLAT_COLLATOR:
        logger.info("data_flatten: using %s instead of %s", FLAT_COLLATOR, type_name)
        collator_cfg["type"] = FlattenedDataCollatorForSupervisedDataset
    elif type_name == FLAT_COLLATOR and not data_args.data_flatten:
        logger.info("config selects %s: packing batches (data_flatten)", FLAT_COLLATOR)
        data_args.data_flatten = True
    return build(collator_cfg, tokenizer=processor.tokenizer)


def collator_packs(cfg: Config) -> bool:
    """Whether the config's collator is the packing one (then data_flatten is implied)."""
    collator_type = (cfg.get("data_collator") or {}).get("type")
    return getattr(collator_type, "__name__", str(collator_type)) == FLAT_COLLATOR


def warn_if_packing_without_flash(attn_implementation: str, data_flatten: bool) -> bool:
    """Log (and return whether) ``data_flatten`` runs without flash-attention's varlen kernels.

    Packing then masks each sample with a dense block mask over the whole packed row (unless
    ``packed_attention`` is set; docs/sft-speed.md), which saves memory but not time.
    """
    if not data_flatten or "flash" in (attn_implementation or ""):
        return False
    logger.warning("data_flatten with attn_implementation=%s: packed rows use a dense block mask, which saves "
                   "memory but is not faster; packing pays off with flash_attention_2 or --packed_attention",
                   attn_implementation)
    return True


def plan_and_apply_memory(model: Any, model_args: ModelArguments, training_args: TrainingArguments,
                          train_dataset: Any, collator: Any, coord_ids: list[int] | None) -> None:
    """``--memory_plan auto``: probe one micro-batch with the trainer's loss and set checkpointing and
    the micro-batch to fit the card (finetuning/memory_plan.py)."""
    from finetuning.linear_ce import liger_ce_sum
    from finetuning.memory_plan import apply_plan, plan_memory

    coords = torch.tensor(coord_ids, dtype=torch.long) if coord_ids else None
    hard_ce = liger_ce_sum() if model_args.linear_ce == "liger" else None

    def loss_with(linear_ce: str) -> Any:
        return lambda m, batch: sft_loss(m, batch, coords, model_args.coord_sigma, linear_ce, hard_ce,
                                         model_args.ce_chunk_size)[0]

    # Without linear_ce, also plan with it: the largest memory lever with a 151,936-token vocabulary.
    kernels = [model_args.linear_ce] + (["chunked"] if model_args.linear_ce == "off" else [])
    plan, *alternative = plan_memory(model, [loss_with(kernel) for kernel in kernels], train_dataset, collator,
                                     training_args, model_args.memory_budget)
    if alternative:
        logger.info("memory plan with --linear_ce chunked (the same loss without the full logits): %s",
                    alternative[0].describe())
    apply_plan(plan, model, model_args, training_args)


def run_training(
    model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments, cfg: Config
) -> RexOmniTrainer:
    """Load, freeze, build data, train (auto-resume) and save; returns the trainer."""
    path = model_args.model_name_or_path
    processor = load_processor(path, data_args.min_pixels, data_args.max_pixels, training_args.model_max_length,
                               training_args.cache_dir)
    quantization = None
    if model_args.lora_enable and model_args.bits < 16:
        from modeling.lora import quantization_config

        quantization = quantization_config(model_args.bits, torch.bfloat16 if training_args.bf16 else torch.float32)
    model = load_model(path, bf16=training_args.bf16, attn_implementation=model_args.attn_implementation,
                       gradient_checkpointing=training_args.activation_checkpointing, cache_dir=training_args.cache_dir,
                       quantization_config=quantization)
    maybe_apply_liger(model_args.liger, model)
    apply_speed_options(model, model_args, data_args.data_flatten or collator_packs(cfg))
    if model_args.lora_enable:
        from modeling.lora import wrap_for_training

        model = wrap_for_training(model, model_args, processor.tokenizer, training_args.activation_checkpointing,
                                  training_args.seed)
    else:
        apply_freezing(model, model_args.tune_mm_vision, model_args.tune_mm_mlp, model_args.tune_mm_llm)
    log_trainable_summary(model)
    train_dataset, val_dataset = build_datasets(cfg, processor, model.config, training_args)
    coord_ids = None
    if model_args.use_soft_ce_for_coords:
        from dataset.vocab_layout import coordinate_token_ids

        coord_ids = coordinate_token_ids(processor.tokenizer)
    collator = build_collator(cfg, data_args, processor)
    if model_args.packed_attention == "off":
        warn_if_packing_without_flash(model.config._attn_implementation, data_args.data_flatten)
    if model_args.memory_plan == "auto":
        plan_and_apply_memory(model, model_args, training_args, train_dataset, collator, coord_ids)
    callbacks = [DatasetEpochCallback(train_dataset), KeepTokenizerLayoutCallback(path),
                 ThinCheckpointingCallback(model_args.gradient_checkpointing_stride)]
    evaluator = None
    if training_args.eval_strategy != "no":
        callbacks.append(EvaluateAtEndCallback())
        if training_args.eval_max_samples is not None:
            val_dataset = Subset(val_dataset, range(min(training_args.eval_max_samples, len(val_dataset))))
        if training_args.eval_protocol:
            evaluator = ProtocolEvaluator.from_config(cfg, training_args)
    trainer = RexOmniTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=val_dataset,
        data_collator=collator,
        processing_class=processor,
        callbacks=callbacks,
        coord_token_ids=coord_ids,
        coord_sigma=model_args.coord_sigma,
        linear_ce=model_args.linear_ce,
        ce_chunk_size=model_args.ce_chunk_size,
        protocol_evaluator=evaluator,
    )
    checkpoint = resume_checkpoint(training_args.output_dir, training_args.resume_from_checkpoint)
    if checkpoint:
        logger.info("resuming from %s", checkpoint)
    trainer.train(resume_from_checkpoint=checkpoint)
    save_final_model(trainer, processor, path, training_args.output_dir)
    return trainer


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        model_args, data_args, training_args, cfg = parse_args(argv)
        check_speed_options(model_args, data_args.data_flatten or collator_packs(cfg),
                            torch.cuda.is_available() and not training_args.use_cpu)
    except (ValueError, FileNotFoundError) as exc:  # a wrong flag, value or path: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setup_logging(training_args)
    log_run_info(argv, model_args, data_args)
    try:
        run_training(model_args, data_args, training_args, cfg)
    except RuntimeError as exc:  # torch.distributed's errors included
        line = lost_rank_line(exc, os.environ.get("RANK", "0"), os.environ.get("GROUP_RANK", "0"),
                              training_args.output_dir)
        if line is None:
            raise
        print(line, file=sys.stderr, flush=True)  # a lost node: one line, no traceback
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
