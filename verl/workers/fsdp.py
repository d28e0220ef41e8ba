"""FSDP2 building blocks: process group, model loading, ``fully_shard``, full-weight streaming, offload.

Sharding: ``fully_shard`` on every module whose class is in ``model._no_split_modules`` (Qwen2.5-VL:
decoder layers and vision blocks), then on the root. On GPU parameters compute in bf16 with fp32
gradient reduction; on CPU everything stays fp32 (gloo has no bf16 all-reduce worth using).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor

from verl.workers.actor_config import FSDPConfig, ModelConfig

__all__ = [
    "DTYPES", "build_model", "init_process_group", "iter_full_state_dict", "load_optimizer_to",
    "offload_model", "shard_model",
]

logger = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def init_process_group(rank: int, world_size: int, master_addr: str, master_port: int, device: str) -> DeviceMesh:
    """Join the default group (nccl on cuda, gloo on cpu) and return the 1-D ``("fsdp",)`` mesh."""
    if not dist.is_initialized():
        backend = "nccl" if device == "cuda" else "gloo"
        if device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend, init_method=f"tcp://{master_addr}:{master_port}", rank=rank,
                                world_size=world_size, timeout=timedelta(minutes=30))
    return init_device_mesh(device, (world_size,), mesh_dim_names=("fsdp",))


def build_model(model_cfg: ModelConfig, dtype: torch.dtype, trainable: bool, lora: Any = None) -> torch.nn.Module:
    """Load the HF vision-language model on CPU in ``dtype`` (eager/sdpa attention), ready to shard.

    With ``lora.enable`` (``worker.actor.lora``) the trainable model comes back wrapped in peft adapters.
    """
    from transformers import AutoConfig, AutoModelForImageTextToText

    config = AutoConfig.from_pretrained(model_cfg.model_path, trust_remote_code=model_cfg.trust_remote_code,
                                        **model_cfg.override_config)
    model = AutoModelForImageTextToText.from_pretrained(
        model_cfg.model_path, config=config, dtype=dtype, attn_implementation="sdpa",
        trust_remote_code=model_cfg.trust_remote_code)
    model.config.use_cache = False
    if not trainable:
        model.requires_grad_(False)
        model.eval()
        return model
    if model_cfg.freeze_vision_tower:
        visual = getattr(model, "visual", None) or model.model.visual
        visual.requires_grad_(False)
    if model_cfg.enable_gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora is not None and lora.enable:
        from verl.workers.lora import attach_lora

        model = attach_lora(model, lora)
    return model


def shard_model(model: torch.nn.Module, mesh: DeviceMesh, fsdp_cfg: FSDPConfig, device: str) -> torch.nn.Module:
    """Apply FSDP2 per decoder layer / vision block, then to the root; returns the same module."""
    kwargs: dict[str, Any] = {"mesh": mesh, "reshard_after_forward": fsdp_cfg.enable_full_shard}
    if device == "cuda":
        kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=DTYPES[fsdp_cfg.mp_param_dtype],
                                                   reduce_dtype=DTYPES[fsdp_cfg.mp_reduce_dtype])
    if fsdp_cfg.enable_cpu_offload and device == "cuda":  # on CPU the parameters are already there
        kwargs["offload_policy"] = CPUOffloadPolicy()
    elif device == "cuda":
        model.to("cuda")
    block_names = set(getattr(model, "_no_split_modules", None) or [])
    blocks = [m for m in model.modules() if type(m).__name__ in block_names]
    if not blocks:
        raise ValueError(f"{type(model).__name__} names no _no_split_modules to shard")
    for block in blocks:
        fully_shard(block, **kwargs)
    fully_shard(model, **kwargs)
    return model


def iter_full_state_dict(model: torch.nn.Module, dtype: torch.dtype | None = None,
                         keep: Callable[[str], bool] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """``(name, full tensor)`` for every entry of the state dict (those ``keep`` accepts, when given),
    all-gathered one tensor at a time.

    Every rank must consume the whole iterator (each DTensor gather is a collective). Names are the
    HF names (FSDP2 keeps FQNs), so vLLM's ``load_weights`` and an HF copy both accept them.
    """
    for name, tensor in model.state_dict().items():
        if keep is not None and not keep(name):
            continue
        full = tensor.full_tensor() if isinstance(tensor, DTensor) else tensor
        yield name, full.to(dtype) if dtype is not None and full.is_floating_point() else full


def offload_model(model: torch.nn.Module, device: str) -> None:
    """Move the (sharded) parameters and buffers to ``device`` ("cpu" to free accelerator memory)."""
    model.to(device)


def load_optimizer_to(optimizer: torch.optim.Optimizer, device: str) -> None:
    """Move optimizer state tensors (e.g. Adam moments) to ``device``."""
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and key != "step":
                state[key] = value.to(device, non_blocking=True)
