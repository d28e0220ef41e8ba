"""SFT command-line arguments and their merge with the mmengine config file.

Precedence, highest first: flags given on the command line, top-level keys of the ``--config``
file that name an argument, the dataclass defaults below. (The original let the config silently
override the command line.)
"""

from __future__ import annotations

import argparse
import dataclasses
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

from dataset.config_checks import DataConfigError, load_data_config, missing_data_paths
from dataset.did_you_mean import did_you_mean
from dataset.output_paths import output_dir_problem
from finetuning.linear_ce import LINEAR_CE_CHOICES
from finetuning.memory_plan import MEMORY_PLAN_CHOICES
from finetuning.packed_attention import PACKED_KERNELS
from modeling.model_folder import model_path_problem

ATTN_CHOICES = ("auto", "sdpa", "eager", "flash_attention_2")


class UsageError(ValueError):
    """A user mistake (flag, config key or value, missing path): reported in one line, exit code 2."""


class TrainArgumentParser(HfArgumentParser):
    """``HfArgumentParser`` whose errors raise ``UsageError`` instead of printing the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see --help)")
LIGER_CHOICES = ("auto", "on", "off")
PACKED_ATTENTION_CHOICES = ("off", *PACKED_KERNELS)


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
    use_liger: bool = field(
        default=False,
        metadata={"help": "All of Liger (CUDA + liger-kernel): its RMSNorm, SwiGLU and M-RoPE kernels (liger on) and "
                          "its fused linear cross-entropy (linear_ce liger), soft-CE on coordinates included. HF's "
                          "--use_liger_kernel True means the same here."},
    )
    # Speed options (docs/sft-speed.md); all off by default, so results equal the stock path.
    packed_attention: str = field(
        default="off",
        metadata={"help": "With data_flatten and sdpa: attend each packed sample alone instead of through a dense "
                          "block mask. sdpa_split = one causal SDPA call per sample; flex = FlexAttention document "
                          "mask (trains on CUDA only); varlen = torch.nn.attention.varlen (CUDA, torch >= 2.10); "
                          "off = transformers' path (flash-attn varlen, or the dense mask with sdpa).",
                  "choices": list(PACKED_ATTENTION_CHOICES)},
    )
    batched_vision_windows: bool = field(
        default=False,
        metadata={"help": "Vision tower with sdpa: attend all windows of one length in one batched SDPA call "
                          "instead of one call per window (same result)."},
    )
    linear_ce: str = field(
        default="off",
        metadata={"help": "Loss from the final hidden states without the full (tokens x vocab) logits: chunked = "
                          "torch, chunks of ce_chunk_size rows recomputed in backward; liger = Liger's fused linear "
                          "CE (CUDA). Works with use_soft_ce_for_coords. off = the model's logits.",
                  "choices": list(LINEAR_CE_CHOICES)},
    )
    ce_chunk_size: int = field(default=1024, metadata={"help": "Rows (supervised tokens) per chunk of linear_ce=chunked."})
    compile_blocks: bool = field(
        default=False,
        metadata={"help": "torch.compile each decoder layer and vision block (regional compilation: one graph per "
                          "block type, compiled once; HF's --torch_compile compiles the whole model instead)."},
    )
    gradient_checkpointing_stride: int = field(
        default=1,
        metadata={"help": "With gradient_checkpointing: recompute only every N-th decoder layer and vision block "
                          "(1 = all, the HF behaviour); larger N trades memory for less recompute."},
    )
    memory_plan: str = field(
        default="off",
        metadata={"help": "auto (CUDA) = before training, measure what one micro-batch of the longest samples keeps for "
                          "backward and choose the least gradient checkpointing (off, every 4th/3rd/2nd block, every "
                          "block), then the largest micro-batch (gradient accumulation divided to match; not with "
                          "DeepSpeed) whose estimated peak fits memory_budget of the card; overrides "
                          "gradient_checkpointing and gradient_checkpointing_stride. off = as given.",
                  "choices": list(MEMORY_PLAN_CHOICES)},
    )
    memory_budget: float = field(
        default=0.85, metadata={"help": "With memory_plan auto: the fraction of the card's memory a plan may use."}
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


# transformers renamed gradient_checkpointing to activation_checkpointing (the old name warns); older
# 5.x releases only know the old one. Either way the flag is --activation_checkpointing here.
NATIVE_ACTIVATION_CHECKPOINTING = "activation_checkpointing" in {
    f.name for f in dataclasses.fields(transformers.TrainingArguments)}


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
    eval_max_samples: int | None = field(
        default=None,
        metadata={"help": "With eval_strategy steps: questions per val_dataset split that the model answers at each "
                          "evaluation (the first N; default all); the eval loss uses the same N samples."},
    )
    eval_max_new_tokens: int = field(
        default=256, metadata={"help": "Generation length limit of the in-training evaluation (tools/evaluate.py's "
                                       "--max_new_tokens)."})
    eval_num_pictures: int = field(
        default=4, metadata={"help": "Validation pictures (GT and prediction) logged per split at each evaluation."})
    eval_protocol: bool = field(
        default=True, metadata={"help": "With eval_strategy steps: generate on the val_dataset and log the detection "
                                        "metrics of tools/evaluate.py (eval/protocol_box_mean_f1, ...); False = eval "
                                        "loss only."})
    if not NATIVE_ACTIVATION_CHECKPOINTING:  # transformers < 5.2x names it gradient_checkpointing only
        activation_checkpointing: bool = field(
            default=False, metadata={"help": "Recompute activations in backward (gradient checkpointing)."})

    def __post_init__(self) -> None:
        if not NATIVE_ACTIVATION_CHECKPOINTING:
            self.gradient_checkpointing = self.activation_checkpointing = (
                bool(self.activation_checkpointing) or bool(self.gradient_checkpointing))
        if self.metric_for_best_model and self.metric_for_best_model.startswith("eval/"):
            # TensorBoard and wandb show eval_X as eval/X: accept the name users read there.
            self.metric_for_best_model = "eval_" + self.metric_for_best_model[len("eval/"):]
        if self.eval_max_samples is not None and self.eval_max_samples < 1:
            raise ValueError(f"eval_max_samples must be >= 1, got {self.eval_max_samples}")
        if self.warmup_ratio is not None:
            if not 0.0 <= self.warmup_ratio < 1.0:
                raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
            self.warmup_steps = float(self.warmup_ratio)
        on_cpu = self.use_cpu or not torch.accelerator.is_available()
        cpu_deepspeed = bool(self.deepspeed) and on_cpu
        if self.deepspeed:
            set_single_process_env()
        if cpu_deepspeed or (on_cpu and int(os.environ.get("WORLD_SIZE", "1")) > 1):
            # Without a GPU, accelerate finds no device backend and counts one process: each torchrun rank
            # then trained alone on all the data (and DeepSpeed's "auto" train_batch_size missed the other
            # ranks). use_cpu makes accelerate open a gloo group over all ranks instead.
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
    return TrainArgumentParser(
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
        known = [option for action in parser._actions for option in action.option_strings]
        first_flag = next((arg.split("=", 1)[0] for arg in unknown if arg.startswith("--")), None)
        hint = did_you_mean(first_flag, known) if first_flag else ""
        parser.error(f"unrecognised arguments: {' '.join(unknown)}{hint}")
    return vars(namespace)


def load_mmengine_config(path: str) -> Config:
    """Load an mmengine Python config (``_base_`` files merged); ``type=`` holds real classes."""
    if not Path(path).is_file():
        raise UsageError(f"--config {path}: no such file (e.g. configs/sft.py)")
    try:
        return load_data_config(path)
    except DataConfigError as exc:  # the config file's own mistakes
        raise UsageError(f"--config {exc}") from exc


def merge_values(
    config_values: dict[str, Any], cli_values: dict[str, Any], field_names: set[str]
) -> dict[str, Any]:
    """Argument values: config keys that name a field, overridden by explicit CLI values."""
    merged = {k: v for k, v in config_values.items() if k in field_names}
    merged.update(cli_values)
    return merged


def merged_values(argv: list[str]) -> tuple[dict[str, Any], Config]:
    """Explicit flags over config keys (with ``config`` and ``output_dir`` filled), and the config."""
    cli = explicit_flags(argv)
    config_path = cli.get("config", TrainingArguments.config)
    cfg = load_mmengine_config(config_path)
    names = {f for cls in ARG_CLASSES for f in cls.__dataclass_fields__ if cls.__dataclass_fields__[f].init}
    merged = merge_values(dict(cfg.items()), cli, names)
    merged["config"] = config_path
    merged.setdefault("output_dir", str(Path("work_dirs") / Path(config_path).stem))
    return merged, cfg


def check_args(argv: list[str]) -> tuple[dict[str, Any], Config]:
    """Every check that needs no process group: flags, config, model and data paths, model/data values.

    Raises ``UsageError`` naming the first problem. ``sft.sh`` runs it once before ``torchrun``.
    """
    merged, cfg = merged_values(argv)
    parser = TrainArgumentParser((ModelArguments, DataArguments))
    try:
        model_args, _ = parser.parse_dict(merged, allow_extra_keys=True)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc
    validate(model_args)
    output_problem = output_dir_problem(str(merged["output_dir"]))
    if output_problem:
        raise UsageError(f"--output_dir {merged['output_dir']}: cannot write ({output_problem})")
    check_model_path(model_args.model_name_or_path, merged.get("cache_dir"))  # type: ignore[arg-type]
    missing = missing_data_paths(cfg)
    if missing:
        raise UsageError(f"--config {merged['config']}: data file not found: {missing[0]}"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return merged, cfg


def check_model_path(path: str, cache_dir: str | None = None) -> None:
    """A local folder with ``config.json``, or a hub id already in the cache (scripts run offline)."""
    problem = model_path_problem(path, cache_dir)
    if problem:
        raise UsageError(f"model_name_or_path {path}: {problem}")


def parse_args(
    argv: list[str] | None = None,
) -> tuple[ModelArguments, DataArguments, TrainingArguments, Config]:
    """Parse ``argv`` (default ``sys.argv[1:]``), load ``--config`` and merge; returns the three arg objects + cfg.

    Raises ``UsageError`` for a user mistake (see :func:`check_args`), before any process group starts.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    merged, cfg = check_args(argv)
    try:
        model_args, data_args, training_args = build_parser().parse_dict(merged)
    except (ValueError, TypeError) as exc:  # HF TrainingArguments' own value checks
        raise UsageError(str(exc).splitlines()[0]) from exc
    flag = "use_liger"
    if training_args.use_liger_kernel:
        # HF would patch Qwen2.5-VL's classes by names transformers 5 renamed, and its fused loss would
        # replace this trainer's soft-CE; use_liger applies both to the loaded model instead.
        training_args.use_liger_kernel, model_args.use_liger, flag = False, True, "use_liger_kernel"
    resolve_use_liger(model_args, flag)
    check_eval_args(training_args, cfg)
    return model_args, data_args, training_args, cfg


def check_eval_args(training_args: TrainingArguments, cfg: Config) -> None:
    """An evaluation needs the config's ``val_dataset``; the in-training protocol evaluation needs its
    TSV files and a task function of a tools/evaluate.py task. Raises ``UsageError`` naming what is wrong."""
    if training_args.eval_strategy == "no":
        return
    if cfg.get("val_dataset") is None:
        raise UsageError(f"eval_strategy {training_args.eval_strategy} evaluates on the config's val_dataset, "
                         f"but --config {training_args.config} has none (add one, or --eval_strategy no)")
    if training_args.eval_protocol:
        from evaluation.during_training import val_splits

        try:
            val_splits(cfg.val_dataset, where=f"--config {training_args.config}: val_dataset")
        except ValueError as exc:
            raise UsageError(f"{exc} (or --eval_protocol False)") from exc


def resolve_use_liger(model_args: ModelArguments, flag: str = "use_liger") -> None:
    """``use_liger``: Liger's kernels (``liger on``) and its fused linear CE (``linear_ce liger``).

    Raises ``UsageError`` when ``liger off`` or ``linear_ce chunked`` was asked for as well.
    """
    if not model_args.use_liger:
        return
    if model_args.liger == "off":
        raise UsageError(f"{flag} True turns Liger's kernels on, but liger is off: drop one of the two")
    if model_args.linear_ce == "chunked":
        raise UsageError(f"{flag} True uses Liger's fused linear CE, but linear_ce is chunked: drop one of the two")
    model_args.liger, model_args.linear_ce = "on", "liger"


def validate(model_args: ModelArguments) -> None:
    """Fail early, naming the key, on values that cannot work."""
    if not model_args.model_name_or_path:
        raise UsageError("model_name_or_path is not set: give --model_name_or_path or a model_name_or_path config key")
    if model_args.attn_implementation not in ATTN_CHOICES:
        raise UsageError(f"attn_implementation must be one of {ATTN_CHOICES}, got {model_args.attn_implementation!r}")
    if model_args.liger not in LIGER_CHOICES:
        raise UsageError(f"liger must be one of {LIGER_CHOICES}, got {model_args.liger!r}")
    if model_args.packed_attention not in PACKED_ATTENTION_CHOICES:
        raise UsageError(f"packed_attention must be one of {PACKED_ATTENTION_CHOICES}, "
                         f"got {model_args.packed_attention!r}")
    if model_args.linear_ce not in LINEAR_CE_CHOICES:
        raise UsageError(f"linear_ce must be one of {LINEAR_CE_CHOICES}, got {model_args.linear_ce!r}")
    resolve_use_liger(model_args)
    if model_args.ce_chunk_size < 1:
        raise UsageError(f"ce_chunk_size must be >= 1 rows, got {model_args.ce_chunk_size}")
    if model_args.memory_plan not in MEMORY_PLAN_CHOICES:
        raise UsageError(f"memory_plan must be one of {MEMORY_PLAN_CHOICES}, got {model_args.memory_plan!r}")
    if not 0 < model_args.memory_budget <= 1:
        raise UsageError(f"memory_budget must be a fraction in (0, 1], got {model_args.memory_budget}")
    if model_args.gradient_checkpointing_stride < 1:
        raise UsageError(f"gradient_checkpointing_stride must be >= 1, got {model_args.gradient_checkpointing_stride}")
    if model_args.coord_sigma <= 0:
        raise UsageError(f"coord_sigma must be > 0 bins, got {model_args.coord_sigma}")
    if model_args.bits != 16 and not model_args.lora_enable:
        raise UsageError(f"bits={model_args.bits} quantises the frozen base weights: it needs lora_enable True")
    if model_args.lora_enable:
        from modeling.lora import check_bits, settings_from_args

        settings_from_args(model_args).validate()
        check_bits(model_args.bits)
        return
    if not (model_args.tune_mm_vision or model_args.tune_mm_mlp or model_args.tune_mm_llm):
        raise UsageError("nothing to train: set at least one of tune_mm_vision, tune_mm_mlp, tune_mm_llm to True")
