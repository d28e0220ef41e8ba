"""Configuration of the actor and the reference (``worker.actor``, ``worker.ref``): model, optimizer,
FSDP, offload, LoRA and the PPO loss knobs. Each field's comment is its documentation; the defaults here
are the run's defaults (``verl/configs/config.yaml`` mirrors them, a test keeps the two equal).

Derived fields (``derived(...)``) are copied from another key by ``verl.trainer.config.finalize_config``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from verl.config_schema import derived

__all__ = ["ActorConfig", "FSDPConfig", "KlPenalty", "LoraConfig", "LossAggMode", "ModelConfig", "OffloadConfig",
           "OptimConfig", "RefConfig"]

KlPenalty = Literal["kl", "abs", "mse", "low_var_kl"]
LossAggMode = Literal["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]


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
    offload_params: bool = True  # move parameters to CPU between phases (GPU only; frees memory for the rollout)
    offload_optimizer: bool = True  # move optimizer states to CPU between updates (GPU only)


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
    global_batch_size: int = 64  # prompts per optimizer step (x rollout.n sequences)
    micro_batch_size_per_device_for_update: int = 4  # sequences per forward/backward
    micro_batch_size_per_device_for_experience: int = 8  # sequences per no-grad log-prob forward
    max_grad_norm: float = 1.0  # gradient clipping; non-finite norms skip the step
    clip_ratio_low: float = 0.2  # PPO lower clip: ratio >= 1 - clip_ratio_low
    clip_ratio_high: float = 0.3  # PPO upper clip: ratio <= 1 + clip_ratio_high (DAPO clip-higher)
    clip_ratio_dual: float | None = 3.0  # dual-clip bound for negative advantages; None disables
    loss_agg_mode: LossAggMode = "token-mean"  # core_algos.agg_loss mode (seq-mean-token-sum-norm: Dr.GRPO)
    ppo_epochs: int = 1  # passes over each rollout batch
    old_log_probs: Literal["auto", "recompute"] = "auto"  # auto: on-policy steps reuse the update's forward (skips a pass)
    shared_prompt: bool = True  # one packed forward per prompt group (verl.workers.shared_prompt); same log-probs
    padding_free: bool = False  # not supported: batches run padded with sdpa attention; true is rejected
    ulysses_sequence_parallel_size: int = 1  # sequence parallelism is not supported: only 1
    use_torch_compile: bool = False  # not supported (eager log-prob kernel); true is rejected
    model: ModelConfig = field(default_factory=ModelConfig)  # which model and how it is built
    optim: OptimConfig = field(default_factory=OptimConfig)  # AdamW and the LR schedule
    fsdp: FSDPConfig = field(default_factory=FSDPConfig)  # FSDP2 sharding and precision
    offload: OffloadConfig = field(default_factory=OffloadConfig)  # CPU offload between phases
    lora: LoraConfig = field(default_factory=LoraConfig)  # LoRA adapters instead of full weights
    disable_kl: bool = derived("algorithm.disable_kl", False)
    use_kl_loss: bool = derived("algorithm.use_kl_loss", True)
    kl_penalty: KlPenalty = derived("algorithm.kl_penalty", "low_var_kl")
    kl_coef: float = derived("algorithm.kl_coef", 1e-2)


@dataclass
class RefConfig:
    fsdp: FSDPConfig = field(default_factory=lambda: FSDPConfig(enable_cpu_offload=True))  # FSDP2 sharding and precision
    # Not supported for the reference (use fsdp.enable_cpu_offload): both false.
    offload: OffloadConfig = field(default_factory=lambda: OffloadConfig(offload_params=False, offload_optimizer=False))  # CPU offload between phases
    micro_batch_size_per_device_for_experience: int = derived(
        "worker.actor.micro_batch_size_per_device_for_experience", 8)
    padding_free: bool = derived("worker.actor.padding_free", False)
    ulysses_sequence_parallel_size: int = derived("worker.actor.ulysses_sequence_parallel_size", 1)
    use_torch_compile: bool = derived("worker.actor.use_torch_compile", False)
