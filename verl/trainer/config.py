"""Typed GRPO run configuration: dataclasses, YAML + CLI loading, derivation and validation.

A run is configured as in the original ``scripts/grpo.sh``::

    python3 -m verl.trainer.main config=verl/configs/config.yaml worker.rollout.n=8 trainer.logger=['console']

``load_config(argv)`` starts from the dataclass defaults, merges the YAML named by ``config=``, then the
dotted ``key=value`` overrides (values parsed by OmegaConf like YAML scalars, ``${..}`` interpolation
allowed), builds the dataclasses with type checks, and calls ``finalize_config`` which fills the derived
fields, makes paths absolute and validates. Every error is a ``ConfigError`` naming the dotted key.
Derived fields (``metadata={"derived": ...}``) cannot be set by the user; they are copied at finalize time.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from verl.trainer.config_schema import ConfigError, build_dataclass, dataclass_to_dict, derived

__all__ = [
    "ActorConfig", "AlgorithmConfig", "ConfigError", "DataConfig", "FSDPConfig", "LoraConfig", "ModelConfig",
    "OffloadConfig", "OptimConfig", "PPOConfig", "RefConfig", "RewardConfig", "RolloutConfig",
    "TrainerConfig", "WorkerConfig", "config_to_dict", "finalize_config", "load_config",
    "resolve_device", "resolve_rollout_name",
]

AdvEstimator = Literal["grpo", "rloo"]
KlPenalty = Literal["kl", "abs", "mse", "low_var_kl"]
LossAggMode = Literal["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
LOGGERS = ("console", "wandb", "tensorboard")
# Sampling knobs that validation may override per call (worker.rollout.val_override_config).
VAL_OVERRIDABLE = ("n", "temperature", "top_p", "top_k")


@dataclass
class DataConfig:
    config_path: str = "configs/grpo.py"  # mmengine file whose `train_dataset` (and optional `val_dataset`) list is built
    max_prompt_length: int = 4096  # prompt tokens (left-padded); injected into every dataset, copied to rollout
    max_response_length: int = 4096  # generated tokens per sample (vLLM max_tokens), copied to rollout
    rollout_batch_size: int = 32  # prompts per training step (each sampled worker.rollout.n times)
    val_batch_size: int = -1  # prompts per validation batch; -1 = whole validation set at once
    format_prompt: str | None = None  # jinja2 template applied to each prompt; None = as is
    override_chat_template: str | None = None  # replaces the processor's chat template (driver and datasets)
    filter_overlong_prompts: bool = True  # datasets skip (and count) prompts over max_prompt_length instead of raising
    shuffle: bool = True  # shuffle the train set each epoch (RandomSampler seeded with data.seed)
    seed: int = 1  # sampler seed
    num_workers: int = 8  # DataLoader worker processes


@dataclass
class AlgorithmConfig:
    adv_estimator: AdvEstimator = "grpo"  # outcome advantage (core_algos.ADV_ESTIMATORS)
    norm_adv_by_std_in_grpo: bool = True  # grpo divides by the group std; false = Dr.GRPO (s - group mean)
    disable_kl: bool = False  # no reference model and no KL term at all
    use_kl_loss: bool = True  # KL(actor||ref) as a loss term (True) or subtracted from the reward (False)
    kl_penalty: KlPenalty = "low_var_kl"  # KL estimator (core_algos.KL_PENALTIES)
    kl_coef: float = 1e-2  # weight of the KL term (loss or reward)
    online_filtering: bool = False  # drop prompt groups whose n rewards are all equal (DAPO dynamic sampling)


@dataclass
class ModelConfig:
    model_path: str | None = None  # HF repo id or local dir (required; grpo.sh passes it)
    tokenizer_path: str | None = None  # defaults to model_path
    trust_remote_code: bool = False  # passed to from_pretrained (and copied to rollout)
    enable_gradient_checkpointing: bool = True  # activation checkpointing (use_reentrant=False)
    freeze_vision_tower: bool = False  # requires_grad_(False) on model.visual
    override_config: dict[str, Any] = field(default_factory=dict)  # extra kwargs for AutoConfig


@dataclass
class OptimConfig:
    lr: float = 1e-6  # peak learning rate
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW betas
    weight_decay: float = 1e-2  # AdamW weight decay (all trainable parameters)
    strategy: Literal["adamw", "adamw_bf16"] = "adamw"  # only adamw (fp32 states); adamw_bf16 is rejected
    lr_warmup_steps: int | None = None  # linear warmup length in optimizer steps; None = use lr_warmup_ratio
    lr_warmup_ratio: float = 0.0  # warmup length as a fraction of the training steps
    lr_scheduler_type: Literal["constant", "cosine"] = "constant"  # LR shape after warmup
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of lr


@dataclass
class FSDPConfig:
    enable_full_shard: bool = True  # FULL_SHARD (True) or SHARD_GRAD_OP
    enable_cpu_offload: bool = False  # FSDP CPUOffload of parameters (forbids gradient accumulation)
    enable_rank0_init: bool = False  # not supported (every rank loads model_path, then shards); true is rejected
    use_orig_params: bool = True  # FSDP2 always keeps the original parameters; false is rejected
    torch_dtype: Literal["fp32", "bf16", "fp16"] | None = None  # None = fp32 for actor, bf16 for ref
    fsdp_size: int = -1  # shard group size; only -1 / the world size (hybrid sharding is not supported)
    mp_param_dtype: Literal["fp32", "bf16", "fp16"] = "bf16"  # mixed-precision compute dtype
    mp_reduce_dtype: Literal["fp32", "bf16", "fp16"] = "fp32"  # gradient reduce dtype
    mp_buffer_dtype: Literal["fp32", "bf16", "fp16"] = "fp32"  # buffers stay fp32 (FSDP2 has no buffer cast)


@dataclass
class OffloadConfig:
    offload_params: bool = False  # move parameters to CPU between phases
    offload_optimizer: bool = False  # move optimizer states to CPU between updates


@dataclass
class LoraConfig:
    enable: bool = False  # train LoRA adapters (peft) instead of full weights; the reference = adapters off
    r: int = 64  # LoRA rank
    alpha: int = 128  # LoRA scaling numerator (scale = alpha / r)
    dropout: float = 0.0  # dropout on the LoRA input (0 keeps old/new log-probs of one rollout identical)
    target_modules: str = "all-linear"  # "all-linear" or comma-separated leaf names (q_proj,v_proj,qkv)
    vision: bool = False  # also adapt the vision blocks
    merger: bool = False  # also adapt the vision-language merger


@dataclass
class ActorConfig:
    global_batch_size: int = 32  # prompts per optimizer step (x rollout.n sequences)
    micro_batch_size_per_device_for_update: int = 4  # sequences per forward/backward
    micro_batch_size_per_device_for_experience: int = 16  # sequences per no-grad log-prob forward
    max_grad_norm: float = 1.0  # gradient clipping; non-finite norms skip the step
    clip_ratio_low: float = 0.2  # PPO lower clip: ratio >= 1 - clip_ratio_low
    clip_ratio_high: float = 0.3  # PPO upper clip: ratio <= 1 + clip_ratio_high (DAPO clip-higher)
    clip_ratio_dual: float | None = 3.0  # dual-clip bound for negative advantages; None disables
    loss_agg_mode: LossAggMode = "token-mean"  # core_algos.agg_loss mode (seq-mean-token-sum-norm: Dr.GRPO)
    ppo_epochs: int = 1  # passes over each rollout batch
    # auto: an on-policy step (one optimizer step per rollout batch, ppo_epochs 1, no KL penalty in the reward)
    # takes old log-probs from the update's own forward (ratio 1, same gradient), skipping a full actor pass.
    old_log_probs: Literal["auto", "recompute"] = "auto"
    # One packed forward per prompt group (its n answers share one copy of the prompt and image) instead of
    # one per row; same log-probs and gradients (verl.workers.shared_prompt).
    shared_prompt: bool = True
    padding_free: bool = False  # not supported: batches run padded with sdpa attention; true is rejected
    ulysses_sequence_parallel_size: int = 1  # sequence parallelism is not supported: only 1
    use_torch_compile: bool = False  # not supported (eager log-prob kernel); true is rejected
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    fsdp: FSDPConfig = field(default_factory=FSDPConfig)
    offload: OffloadConfig = field(default_factory=OffloadConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    disable_kl: bool = derived("algorithm.disable_kl", False)
    use_kl_loss: bool = derived("algorithm.use_kl_loss", True)
    kl_penalty: KlPenalty = derived("algorithm.kl_penalty", "low_var_kl")
    kl_coef: float = derived("algorithm.kl_coef", 1e-2)


@dataclass
class RolloutConfig:
    name: Literal["auto", "hf", "vllm"] = "auto"  # engine; auto = vllm if importable and on GPU, else hf
    n: int = 8  # samples per prompt (the GRPO/RLOO group size)
    temperature: float = 1.0  # sampling temperature (also used to scale logits for log-probs)
    top_p: float = 0.99  # nucleus sampling
    top_k: int = -1  # top-k sampling; -1 = off
    seed: int = 1  # engine seed (not a per-request seed, so repeated prompts still differ)
    dtype: Literal["bf16", "fp16", "fp32"] = "bf16"  # inference dtype
    gpu_memory_utilization: float = 0.6  # vLLM KV-cache share of GPU memory
    enforce_eager: bool = False  # vLLM: disable CUDA graphs
    enable_chunked_prefill: bool = False  # vLLM chunked prefill
    tensor_parallel_size: int = 2  # vLLM tensor parallel degree (divides the world size)
    max_num_batched_tokens: int = 16384  # vLLM scheduler budget (>= prompt + response length)
    max_model_len: int | None = None  # vLLM context; None = prompt_length + response_length
    limit_images: int = 1  # max images per prompt for vLLM; 0 = no limit
    hf_max_num_seqs: int = 256  # hf engine: sequences per generate call (bounds the KV cache)
    hf_cache: Literal["dynamic", "static"] = "dynamic"  # hf engine KV cache; static allows hf_compile
    hf_compile: bool = False  # hf engine: torch.compile the decoding step (needs hf_cache=static and a GPU)
    hf_shared_prefill: bool = True  # hf engine: prefill each prompt (and its image) once, copy its KV cache to its n samples
    ignore_eos: bool = False  # keep generating past EOS (benchmarking only)
    disable_log_stats: bool = True  # vLLM stats logging off
    val_override_config: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.5, "n": 1})
    prompt_length: int = derived("data.max_prompt_length", 4096)
    response_length: int = derived("data.max_response_length", 4096)
    trust_remote_code: bool = derived("worker.actor.model.trust_remote_code", False)


@dataclass
class RefConfig:
    fsdp: FSDPConfig = field(default_factory=lambda: FSDPConfig(enable_cpu_offload=True))
    offload: OffloadConfig = field(default_factory=OffloadConfig)  # not supported for the reference: all false
    micro_batch_size_per_device_for_experience: int = derived(
        "worker.actor.micro_batch_size_per_device_for_experience", 16)
    padding_free: bool = derived("worker.actor.padding_free", False)
    ulysses_sequence_parallel_size: int = derived("worker.actor.ulysses_sequence_parallel_size", 1)
    use_torch_compile: bool = derived("worker.actor.use_torch_compile", False)


@dataclass
class RewardConfig:
    reward_type: Literal["batch", "sequential"] = "batch"  # fn scores a whole batch, or one sample per call
    reward_function: str | None = "verl/configs/reward_func.py:compute_score"  # "file.py:fn" (fn defaults to compute_score)
    reward_function_kwargs: dict[str, Any] = field(default_factory=dict)  # extra kwargs for the function
    skip_special_tokens: bool = False  # detokenize responses without special tokens (keep False: boxes use them)
    num_cpus: int = 1  # the reward runs in a driver thread (no Ray actor): only 1


@dataclass
class WorkerConfig:
    actor: ActorConfig = field(default_factory=ActorConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    ref: RefConfig = field(default_factory=RefConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)


@dataclass
class TrainerConfig:
    total_epochs: int = 1  # passes over the train set
    max_steps: int | None = None  # stop after this many steps (overrides total_epochs)
    project_name: str = "rex_omni"  # tracker project
    experiment_name: str = "rex_omni_grpo"  # tracker run name and checkpoint sub-directory
    logger: list[str] = field(default_factory=lambda: ["console"])  # subset of LOGGERS
    nnodes: int = 1  # Ray nodes
    n_gpus_per_node: int = 8  # worker processes per node (GPUs; CPU processes when device=cpu)
    device: Literal["auto", "cuda", "cpu"] = "auto"  # auto = cuda if available
    seed: int = 1  # global torch/numpy/random seed of every worker
    val_freq: int = -1  # validate every N steps; -1 = never (needs `val_dataset` in data.config_path)
    val_before_train: bool = False  # validate once before the first step
    val_only: bool = False  # validate and exit
    val_generations_to_log: int = 3  # (prompt, response, score) samples logged per validation
    save_freq: int = 50  # checkpoint every N steps; -1 = only at the end
    save_limit: int = -1  # keep the newest N checkpoints; -1 = keep all
    save_checkpoint_path: str | None = None  # None = checkpoints/<project_name>/<experiment_name>
    load_checkpoint_path: str | None = None  # resume from this global_step_* directory


@dataclass
class PPOConfig:
    data: DataConfig = field(default_factory=DataConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


# ----------------------------------------------------------------------------------------------- loading


def normalize_cli(argv: list[str]) -> list[str]:
    """Accept the flag spellings of the original README too: ``--data.config_path=x`` and
    ``--data.config_path x`` both become ``data.config_path=x``."""
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg.startswith("--") and len(arg) > 2:
            key = arg[2:]
            if "=" not in key:
                value = next(args, None)
                if value is None:
                    raise ConfigError(f"bad argument {arg!r}: no value follows it (e.g. {arg}=...)")
                key = f"{key}={value}"
            arg = key
        out.append(arg)
    return out


def load_config(argv: list[str]) -> PPOConfig:
    """Build a finalized ``PPOConfig`` from ``["config=x.yaml", "a.b=1", ...]`` (YAML first, CLI on top)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    argv = normalize_cli(argv)
    for arg in argv:
        if "=" not in arg or arg.startswith("-"):
            raise ConfigError(f"bad argument {arg!r}: expected key=value (e.g. worker.rollout.n=8)")
    try:
        cli = OmegaConf.from_cli(list(argv))
        yaml_path = cli.pop("config", None)
        merged = OmegaConf.merge(OmegaConf.load(yaml_path), cli) if yaml_path else cli
        raw = OmegaConf.to_container(merged, resolve=True)
    except (OmegaConfBaseException, OSError) as exc:
        raise ConfigError(f"cannot read config: {exc}") from exc
    assert isinstance(raw, dict)
    return finalize_config(build_dataclass(PPOConfig, raw))


def config_to_dict(cfg: PPOConfig, include_derived: bool = True) -> dict[str, Any]:
    """Plain nested dict (lists, no tuples) for logging or YAML; without derived fields it loads back."""
    return dataclass_to_dict(cfg, include_derived)


def resolve_device(device: str) -> Literal["cuda", "cpu"]:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``."""
    if device != "auto":
        return device  # type: ignore[return-value]
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_rollout_name(name: str, device: str = "auto") -> Literal["hf", "vllm"]:
    """``auto`` -> ``vllm`` when vllm is importable and the resolved device is cuda, else ``hf``."""
    if name != "auto":
        return name  # type: ignore[return-value]
    import importlib.util

    has_vllm = importlib.util.find_spec("vllm") is not None
    return "vllm" if has_vllm and resolve_device(device) == "cuda" else "hf"


# --------------------------------------------------------------------------------- derivation + checks


def finalize_config(cfg: PPOConfig) -> PPOConfig:
    """Return a copy with derived fields filled, paths absolute, and every rule checked.

    Copies (as the original post_init): data.max_prompt_length/max_response_length -> rollout.prompt_length/
    response_length; actor.model.trust_remote_code -> rollout; algorithm.{disable_kl,use_kl_loss,kl_penalty,
    kl_coef} -> actor; actor.{micro_batch_size_per_device_for_experience,padding_free,
    ulysses_sequence_parallel_size,use_torch_compile} -> ref. Relative paths resolve against the cwd.
    """
    cfg = copy.deepcopy(cfg)
    actor, rollout, ref, algo = cfg.worker.actor, cfg.worker.rollout, cfg.worker.ref, cfg.algorithm
    rollout.prompt_length = cfg.data.max_prompt_length
    rollout.response_length = cfg.data.max_response_length
    rollout.trust_remote_code = actor.model.trust_remote_code
    for name in ("disable_kl", "use_kl_loss", "kl_penalty", "kl_coef"):
        setattr(actor, name, getattr(algo, name))
    for name in ("micro_batch_size_per_device_for_experience", "padding_free",
                 "ulysses_sequence_parallel_size", "use_torch_compile"):
        setattr(ref, name, getattr(actor, name))
    _resolve_paths(cfg)
    from verl.trainer.config_checks import validate_config  # the checks import this module's types

    validate_config(cfg)
    return cfg


def _abspath(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _existing_file(path: str, key: str) -> str:
    full = _abspath(path)
    if not os.path.isfile(full):
        raise ConfigError(f"{key}: file not found: {full}")
    return full


def _resolve_paths(cfg: PPOConfig) -> None:
    data, model, reward, trainer = cfg.data, cfg.worker.actor.model, cfg.worker.reward, cfg.trainer
    data.config_path = _existing_file(data.config_path, "data.config_path")
    if data.format_prompt is not None:
        data.format_prompt = _existing_file(data.format_prompt, "data.format_prompt")
    if model.model_path is None:
        raise ConfigError("worker.actor.model.model_path is required (HF repo id or local directory)")
    # Hub ids stay as they are; existing local paths become absolute.
    if os.path.exists(model.model_path):
        model.model_path = _abspath(model.model_path)
    if model.tokenizer_path is None:
        model.tokenizer_path = model.model_path
    elif os.path.exists(model.tokenizer_path):
        model.tokenizer_path = _abspath(model.tokenizer_path)
    if reward.reward_function is None:
        raise ConfigError("worker.reward.reward_function is required ('path/to/file.py:function')")
    file, _, fn = reward.reward_function.partition(":")
    reward.reward_function = f"{_existing_file(file, 'worker.reward.reward_function')}:{fn or 'compute_score'}"
    if trainer.save_checkpoint_path is None:
        trainer.save_checkpoint_path = os.path.join("checkpoints", trainer.project_name, trainer.experiment_name)
    trainer.save_checkpoint_path = _abspath(trainer.save_checkpoint_path)
    if trainer.load_checkpoint_path is not None:
        trainer.load_checkpoint_path = _abspath(trainer.load_checkpoint_path)
        if not os.path.isdir(trainer.load_checkpoint_path):
            raise ConfigError(f"trainer.load_checkpoint_path: directory not found: {trainer.load_checkpoint_path}")
