"""SFT command-line arguments and their merge with the mmengine config file.

Precedence, highest first: flags given on the command line, top-level keys of the ``--config``
file that name an argument, the dataclass defaults below. (The original let the config silently
override the command line; REFERENCE 7.17.)
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from mmengine.config import Config
from transformers import HfArgumentParser

ATTN_CHOICES = ("auto", "sdpa", "eager", "flash_attention_2")
LIGER_CHOICES = ("auto", "on", "off")


@dataclass
class ModelArguments:
    """What to load and which parts of it to train."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Local folder or hub id of the Rex-Omni / Qwen2.5-VL model (config key too)."}
    )
    tune_mm_vision: bool = field(default=False, metadata={"help": "Train the vision tower (model.visual minus merger)."})
    tune_mm_mlp: bool = field(default=False, metadata={"help": "Train the vision-language merger (the projector)."})
    tune_mm_llm: bool = field(
        default=False,
        metadata={"help": "Train the language model and lm_head (tied to embed_tokens when tie_word_embeddings)."},
    )
    use_soft_ce_for_coords: bool = field(
        default=False,
        metadata={"help": "Coordinate tokens <0>..<999> get a Gaussian soft target over neighbouring bins."},
    )
    coord_sigma: float = field(default=2.0, metadata={"help": "Std-dev, in bins, of the soft-CE coordinate target."})
    attn_implementation: str = field(
        default="auto",
        metadata={"help": "Attention kernel; auto = flash_attention_2 if installed and on GPU, else sdpa.",
                  "choices": list(ATTN_CHOICES)},
    )
    liger: str = field(
        default="auto",
        metadata={"help": "Liger kernels (rope/rms_norm/swiglu); auto = when installed and on GPU.",
                  "choices": list(LIGER_CHOICES)},
    )
    lora_enable: bool = field(
        default=False,
        metadata={"help": "Train LoRA adapters (peft) on the LLM's linear layers instead of full weights; "
                          "checkpoints hold the adapter only (tools/merge_lora.py makes a full model)."},
    )
    lora_r: int = field(default=64, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=128, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input, in [0, 1)."})
    lora_target_modules: str = field(
        default="all-linear",
        metadata={"help": "'all-linear' or comma-separated leaf names (q_proj,v_proj,qkv,...) to adapt."},
    )
    lora_vision: bool = field(
        default=False, metadata={"help": "Also put adapters on the vision blocks (their base weights freeze)."}
    )
    lora_merger: bool = field(
        default=False, metadata={"help": "Also put adapters on the merger (its base weights freeze)."}
    )
    lora_coord_tokens: bool = field(
        default=False,
        metadata={"help": "Also train the embedding / tied lm_head rows of <0>..<999> and the box markers "
                          "(needed for a randomly initialised model; Rex-Omni's rows are trained already)."},
    )
    bits: int = field(
        default=16,
        metadata={"help": "Base weight precision with lora_enable: 16 (bf16/fp32), 8 or 4 (QLoRA through "
                          "bitsandbytes, CUDA only).", "choices": [4, 8, 16]},
    )


@dataclass
class DataArguments:
    """How samples are batched and how large images may be."""

    data_flatten: bool = field(
        default=False,
        metadata={"help": "Pack each batch into one row (FlattenedDataCollatorForSupervisedDataset); attention is "
                          "kept per sample through restarting position ids."},
    )
    min_pixels: int | None = field(default=None, metadata={"help": "Processor min image area in pixels (config key)."})
    max_pixels: int | None = field(default=None, metadata={"help": "Processor max image area in pixels (config key)."})


@dataclass
class TrainingArguments(transformers.TrainingArguments):
    """HF TrainingArguments plus the Rex-Omni extras."""

    config: str = field(default="configs/sft.py", metadata={"help": "mmengine Python config with the datasets."})
    cache_dir: str | None = field(default=None, metadata={"help": "Hub cache folder for from_pretrained."})
    model_max_length: int = field(
        default=4096, metadata={"help": "Tokenizer max length; longer samples are dropped by the dataset."}
    )
    mm_projector_lr: float | None = field(default=None, metadata={"help": "Learning rate of the merger (projector)."})
    vision_tower_lr: float | None = field(default=None, metadata={"help": "Learning rate of the vision tower."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep False: samples are dicts the collator already shapes."}
    )
    warmup_ratio: float | None = field(
        default=None,
        metadata={"help": "Fraction of the training steps spent warming up, in [0, 1); sets warmup_steps "
                          "(transformers 5 folded the ratio into warmup_steps)."},
    )

    def __post_init__(self) -> None:
        if self.warmup_ratio is not None:
            if not 0.0 <= self.warmup_ratio < 1.0:
                raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
            self.warmup_steps = float(self.warmup_ratio)
        cpu_deepspeed = bool(self.deepspeed) and (self.use_cpu or not torch.accelerator.is_available())
        if self.deepspeed:
            set_single_process_env()
        if cpu_deepspeed:
            # Without a GPU, accelerate's DeepSpeed path finds no device backend and counts one process,
            # so DeepSpeed's "auto" train_batch_size misses the other ranks. use_cpu makes accelerate open
            # a gloo group over all ranks instead.
            self.use_cpu = True
        super().__post_init__()
        if cpu_deepspeed:
            # On GPU accelerate initialises deepspeed.comm; here we do, on the gloo group, so that
            # ZeRO-3's zero.Init in from_pretrained sees the world size and shards at load.
            import deepspeed

            deepspeed.init_distributed(dist_backend=self.ddp_backend or "gloo")


def set_single_process_env() -> None:
    """Describe a one-process group (rank 0 of 1, localhost, a free port) unless a launcher set ``RANK``.

    DeepSpeed always initialises torch.distributed and, without these variables, tries MPI discovery.
    """
    if "RANK" in os.environ:
        return
    with socket.socket() as sock:  # a free port: 29500 may belong to another run on this host
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_WORLD_SIZE", "1"),
                       ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", port)):
        os.environ.setdefault(key, value)


ARG_CLASSES = (ModelArguments, DataArguments, TrainingArguments)


def build_parser() -> HfArgumentParser:
    """The parser for every flag (HF TrainingArguments included)."""
    return HfArgumentParser(
        ARG_CLASSES,
        description="Rex-Omni SFT. Flags given here override the same keys in --config, which override defaults.",
    )


def explicit_flags(argv: list[str]) -> dict[str, Any]:
    """Only the arguments actually present in ``argv``, converted to their types."""
    parser = build_parser()
    parser._defaults.clear()  # parser-level defaults would be filled in for absent flags
    for action in parser._actions:
        action.default = argparse.SUPPRESS
        action.required = False
    namespace, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognised arguments: {' '.join(unknown)}")
    return vars(namespace)


def load_config(path: str) -> Config:
    """Load an mmengine Python config; its imports are executed, so ``type=`` holds real classes."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"--config {path!r} does not exist")
    return Config.fromfile(path, lazy_import=False)


def merge_values(
    config_values: dict[str, Any], cli_values: dict[str, Any], field_names: set[str]
) -> dict[str, Any]:
    """Argument values: config keys that name a field, overridden by explicit CLI values."""
    merged = {k: v for k, v in config_values.items() if k in field_names}
    merged.update(cli_values)
    return merged


def parse_args(
    argv: list[str] | None = None,
) -> tuple[ModelArguments, DataArguments, TrainingArguments, Config]:
    """Parse ``argv`` (default ``sys.argv[1:]``), load ``--config`` and merge; returns the three arg objects + cfg."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    cli = explicit_flags(argv)
    config_path = cli.get("config", TrainingArguments.config)
    cfg = load_config(config_path)
    names = {f for cls in ARG_CLASSES for f in cls.__dataclass_fields__ if cls.__dataclass_fields__[f].init}
    merged = merge_values(dict(cfg.items()), cli, names)
    merged["config"] = config_path
    merged.setdefault("output_dir", str(Path("work_dirs") / Path(config_path).stem))
    model_args, data_args, training_args = parser.parse_dict(merged)
    validate(model_args)
    return model_args, data_args, training_args, cfg


def validate(model_args: ModelArguments) -> None:
    """Fail early, naming the key, on values that cannot work."""
    if not model_args.model_name_or_path:
        raise ValueError("model_name_or_path is not set: give --model_name_or_path or a model_name_or_path config key")
    if model_args.attn_implementation not in ATTN_CHOICES:
        raise ValueError(f"attn_implementation must be one of {ATTN_CHOICES}, got {model_args.attn_implementation!r}")
    if model_args.liger not in LIGER_CHOICES:
        raise ValueError(f"liger must be one of {LIGER_CHOICES}, got {model_args.liger!r}")
    if model_args.coord_sigma <= 0:
        raise ValueError(f"coord_sigma must be > 0 bins, got {model_args.coord_sigma}")
    if model_args.bits != 16 and not model_args.lora_enable:
        raise ValueError(f"bits={model_args.bits} quantises the frozen base weights: it needs lora_enable True")
    if model_args.lora_enable:
        from finetuning.lora import check_bits, settings_from_args

        settings_from_args(model_args).validate()
        check_bits(model_args.bits)
        return
    if not (model_args.tune_mm_vision or model_args.tune_mm_mlp or model_args.tune_mm_llm):
        raise ValueError("nothing to train: set at least one of tune_mm_vision, tune_mm_mlp, tune_mm_llm to True")
