"""Validation rules of a finalized GRPO config: ranges, batch-size divisibility, unsupported knobs.

Every failure is a ``ConfigError`` whose message starts with the dotted key.
"""

from __future__ import annotations

from verl.config_schema import ConfigError
from verl.trainer.ppo_config import LOGGERS, PPOConfig
from verl.workers.rollout_config import VAL_OVERRIDABLE

__all__ = ["validate_config"]


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


# The scripts/grpo.sh variable that sets each batch-size key, for the fix an error suggests.
LAUNCHER_VARIABLES = {
    "data.rollout_batch_size": "ROLLOUT_BATCH_SIZE",
    "worker.actor.global_batch_size": "GLOBAL_BATCH_SIZE",
    "worker.actor.micro_batch_size_per_device_for_update": "MICRO_UPDATE",
    "worker.actor.micro_batch_size_per_device_for_experience": "MICRO_EXPERIENCE",
}


def fix_hint(key: str, value: int) -> str:
    """``; fix: MICRO_UPDATE=4 bash scripts/grpo.sh, or the override key=4`` for a batch-size ``key``."""
    variable = LAUNCHER_VARIABLES.get(key)
    launcher = f"{variable}={value} bash scripts/grpo.sh, or the override " if variable else "the override "
    return f"; fix: {launcher}{key}={value}"


def _largest_divisor(total: int, at_most: int) -> int:
    """The largest divisor of ``total`` that is <= ``at_most`` (1 at least)."""
    return max(d for d in range(1, max(min(total, at_most), 1) + 1) if total % d == 0)


def validate_config(cfg: PPOConfig) -> None:
    """Raise ``ConfigError`` (naming the key) for the first broken value or consistency rule."""
    data, actor, rollout, trainer = cfg.data, cfg.worker.actor, cfg.worker.rollout, cfg.trainer
    positive = {
        "data.max_prompt_length": data.max_prompt_length, "data.max_response_length": data.max_response_length,
        "data.rollout_batch_size": data.rollout_batch_size, "worker.actor.global_batch_size": actor.global_batch_size,
        "worker.actor.micro_batch_size_per_device_for_update": actor.micro_batch_size_per_device_for_update,
        "worker.actor.micro_batch_size_per_device_for_experience": actor.micro_batch_size_per_device_for_experience,
        "worker.actor.ppo_epochs": actor.ppo_epochs, "worker.actor.max_grad_norm": actor.max_grad_norm,
        "worker.actor.ulysses_sequence_parallel_size": actor.ulysses_sequence_parallel_size,
        "worker.rollout.n": rollout.n, "worker.rollout.temperature": rollout.temperature,
        "worker.rollout.tensor_parallel_size": rollout.tensor_parallel_size,
        "worker.rollout.max_num_batched_tokens": rollout.max_num_batched_tokens,
        "worker.rollout.hf_max_num_seqs": rollout.hf_max_num_seqs,
        "worker.actor.optim.lr": actor.optim.lr, "worker.reward.num_cpus": cfg.worker.reward.num_cpus,
        "trainer.total_epochs": trainer.total_epochs, "trainer.nnodes": trainer.nnodes,
        "trainer.n_gpus_per_node": trainer.n_gpus_per_node,
    }
    for key, value in positive.items():
        _require(value > 0, key, f"must be > 0, got {value}")
    non_negative = {
        "data.num_workers": data.num_workers, "algorithm.kl_coef": cfg.algorithm.kl_coef,
        "worker.actor.clip_ratio_high": actor.clip_ratio_high, "worker.actor.optim.weight_decay": actor.optim.weight_decay,
        "worker.actor.optim.lr_warmup_steps": actor.optim.lr_warmup_steps or 0,
        "worker.rollout.limit_images": rollout.limit_images,
        "trainer.val_generations_to_log": trainer.val_generations_to_log,
    }
    for key, value in non_negative.items():
        _require(value >= 0, key, f"must be >= 0, got {value}")
    _validate_ranges(cfg)
    _validate_batch_sizes(cfg)
    _reject_unsupported(cfg)
    if actor.lora.enable:
        from verl.workers.lora import lora_settings

        try:
            lora_settings(actor.lora).validate(prefix="worker.actor.lora.")
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc


def _validate_ranges(cfg: PPOConfig) -> None:
    actor, rollout, trainer, optim = cfg.worker.actor, cfg.worker.rollout, cfg.trainer, cfg.worker.actor.optim
    _require(0 <= actor.clip_ratio_low < 1, "worker.actor.clip_ratio_low", f"must be in [0, 1), got {actor.clip_ratio_low}")
    if actor.clip_ratio_dual is not None:
        _require(actor.clip_ratio_dual > 1, "worker.actor.clip_ratio_dual", f"must be > 1 or null, got {actor.clip_ratio_dual}")
    _require(0 <= optim.lr_warmup_ratio <= 1, "worker.actor.optim.lr_warmup_ratio", "must be in [0, 1]")
    _require(0 <= optim.min_lr_ratio <= 1, "worker.actor.optim.min_lr_ratio", "must be in [0, 1]")
    _require(0 < rollout.top_p <= 1, "worker.rollout.top_p", f"must be in (0, 1], got {rollout.top_p}")
    _require(0 < rollout.gpu_memory_utilization <= 1, "worker.rollout.gpu_memory_utilization", "must be in (0, 1]")
    _require(not rollout.hf_compile or rollout.hf_cache == "static", "worker.rollout.hf_compile",
             "true needs worker.rollout.hf_cache=static (compiled steps need a fixed-size cache)")
    _require(not rollout.hf_shared_prefill or rollout.hf_cache == "dynamic", "worker.rollout.hf_shared_prefill",
             "true needs worker.rollout.hf_cache=dynamic (the prompt's cache is copied to its samples); set it false")
    _require(rollout.top_k == -1 or rollout.top_k > 0, "worker.rollout.top_k", "must be -1 (off) or > 0")
    bad = sorted(set(rollout.val_override_config) - set(VAL_OVERRIDABLE))
    _require(not bad, "worker.rollout.val_override_config", f"unknown keys {bad}; allowed: {list(VAL_OVERRIDABLE)}")
    bad = [name for name in trainer.logger if name not in LOGGERS]
    _require(not bad, "trainer.logger", f"invalid {bad}; allowed: {list(LOGGERS)}")
    _require(trainer.max_steps is None or trainer.max_steps > 0, "trainer.max_steps", "must be > 0 or null")
    for key, value in (("trainer.save_freq", trainer.save_freq), ("trainer.val_freq", trainer.val_freq),
                       ("trainer.save_limit", trainer.save_limit)):
        _require(value == -1 or value > 0, key, f"must be -1 (off) or > 0, got {value}")
    if trainer.device == "cpu":
        _require(rollout.name != "vllm", "worker.rollout.name", "vllm needs trainer.device cuda or auto")
    if rollout.name != "hf":
        total = rollout.prompt_length + rollout.response_length
        _require(rollout.max_num_batched_tokens >= total, "worker.rollout.max_num_batched_tokens",
                 f"must be >= data.max_prompt_length + data.max_response_length = {total}")


def _validate_batch_sizes(cfg: PPOConfig) -> None:
    """Divisibility rules of the trainer and the FSDP workers."""
    data, actor, rollout = cfg.data, cfg.worker.actor, cfg.worker.rollout
    world = cfg.trainer.nnodes * cfg.trainer.n_gpus_per_node
    n = rollout.n
    if not cfg.algorithm.norm_adv_by_std_in_grpo:
        _require(cfg.algorithm.adv_estimator == "grpo", "algorithm.norm_adv_by_std_in_grpo",
                 f"false applies to adv_estimator grpo only, got {cfg.algorithm.adv_estimator!r}")
    if cfg.algorithm.adv_estimator in ("grpo", "rloo"):
        _require(n > 1, "worker.rollout.n", f"{cfg.algorithm.adv_estimator} needs groups: must be > 1, got {n}")
    _require(world % rollout.tensor_parallel_size == 0, "worker.rollout.tensor_parallel_size",
             f"must divide the world size {world}")
    sp = actor.ulysses_sequence_parallel_size
    _require(world % sp == 0, "worker.actor.ulysses_sequence_parallel_size", f"must divide the world size {world}")
    dp = world // sp
    _require(data.rollout_batch_size % world == 0, "data.rollout_batch_size",
             f"{data.rollout_batch_size} must be divisible by the world size {world}")
    _require(data.rollout_batch_size % actor.global_batch_size == 0, "data.rollout_batch_size",
             f"{data.rollout_batch_size} must be divisible by worker.actor.global_batch_size {actor.global_batch_size}")
    _require(actor.global_batch_size * n % dp == 0, "worker.actor.global_batch_size",
             f"global_batch_size * rollout.n = {actor.global_batch_size * n} must be divisible by dp size {dp}")
    per_device_update = actor.global_batch_size * n // dp
    micro_update = actor.micro_batch_size_per_device_for_update
    key = "worker.actor.micro_batch_size_per_device_for_update"
    _require(per_device_update % micro_update == 0, key,
             f"{micro_update} must divide the per-device update batch {per_device_update} (global_batch_size * "
             f"rollout.n / dp size){fix_hint(key, _largest_divisor(per_device_update, micro_update))}")
    per_device_exp = data.rollout_batch_size * n // dp
    micro_exp = actor.micro_batch_size_per_device_for_experience
    key = "worker.actor.micro_batch_size_per_device_for_experience"
    _require(per_device_exp % micro_exp == 0, key,
             f"{micro_exp} must divide the per-device experience batch {per_device_exp} (rollout_batch_size * "
             f"rollout.n / dp size){fix_hint(key, _largest_divisor(per_device_exp, micro_exp))}")
    if actor.fsdp.enable_cpu_offload:
        _require(per_device_update == micro_update, "worker.actor.fsdp.enable_cpu_offload",
                 "FSDP CPU offload forbids gradient accumulation (micro batch must equal per-device batch)")



def _reject_unsupported(cfg: PPOConfig) -> None:
    """Knobs kept for EasyR1 config compatibility that this engine does not implement: only the default passes."""
    actor, ref = cfg.worker.actor, cfg.worker.ref
    world = cfg.trainer.nnodes * cfg.trainer.n_gpus_per_node
    unsupported: dict[str, tuple[bool, str]] = {
        "worker.actor.padding_free": (actor.padding_free, "batches run padded with sdpa attention"),
        "worker.actor.use_torch_compile": (actor.use_torch_compile, "the log-prob kernel runs eagerly"),
        "worker.actor.ulysses_sequence_parallel_size": (actor.ulysses_sequence_parallel_size != 1,
                                                        "no sequence parallelism; use 1"),
        "worker.actor.optim.strategy": (actor.optim.strategy != "adamw", "optimizer states are fp32; use adamw"),
        "worker.reward.num_cpus": (cfg.worker.reward.num_cpus != 1, "the reward runs in a driver thread; use 1"),
    }
    for prefix, fsdp_cfg in (("worker.actor.fsdp", actor.fsdp), ("worker.ref.fsdp", ref.fsdp)):
        unsupported[f"{prefix}.fsdp_size"] = (fsdp_cfg.fsdp_size not in (-1, world),
                                              f"no hybrid sharding; use -1 (= world size {world})")
        unsupported[f"{prefix}.enable_rank0_init"] = (fsdp_cfg.enable_rank0_init,
                                                      "every rank loads model_path, then shards")
        unsupported[f"{prefix}.use_orig_params"] = (not fsdp_cfg.use_orig_params,
                                                    "FSDP2 always keeps the original parameters")
        unsupported[f"{prefix}.mp_buffer_dtype"] = (fsdp_cfg.mp_buffer_dtype != "fp32",
                                                    "FSDP2 does not cast buffers; use fp32")
    for name in ("offload_params", "offload_optimizer"):
        unsupported[f"worker.ref.offload.{name}"] = (getattr(ref.offload, name),
                                                     "use worker.ref.fsdp.enable_cpu_offload for the reference")
    for key, (bad, why) in unsupported.items():
        _require(not bad, key, f"this value is not supported ({why})")
