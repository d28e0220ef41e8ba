"""``FSDPWorker``: one rank of the colocated actor + rollout + reference, a plain Python class.

Ray wraps it as an actor (``verl.single_controller``); tests may drive it in-process. Data methods take
this rank's chunk of a :class:`~verl.protocol.Batch` and return a Batch (or metrics); the driver chunks
and concatenates. Collective methods (``init_model``, checkpoints) must be called on every rank.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from dataset.fault_injection import fault_point
from verl import core_algos
from verl.protocol import Batch
from verl.single_controller.dispatch import Dispatch, register
from verl.workers import checkpoint, fsdp
from verl.workers.actor import Actor
from verl.workers.device import resolve_device
from verl.workers.rollout import Responses, SamplingSettings, assemble_rollout, build_rollout
from verl.workers.rollout_config import resolve_rollout_name

__all__ = ["FSDPWorker"]

logger = logging.getLogger(__name__)


class FSDPWorker:
    """Actor (trainable, FSDP2), its rollout engine, and the frozen reference (FSDP2) on one rank."""

    def __init__(self, config: Any, rank: int, world_size: int) -> None:
        """``config``: the run's finalized ``PPOConfig`` (the trainer's type, not imported here: workers sit
        below the trainer); it reads ``worker``, ``trainer.seed/device``, ``algorithm.disable_kl`` and
        ``data.rollout_batch_size``."""
        self.config, self.rank, self.world_size = config, rank, world_size
        self.device = resolve_device(config.trainer.device)
        logging.basicConfig(level=logging.INFO, format=f"[rank {rank}] %(levelname)s %(name)s: %(message)s")

    # ----------------------------------------------------------------------------------- setup
    def node_address(self) -> tuple[str, int]:
        """This node's IP as Ray knows it and a free TCP port (the driver asks rank 0 for the rendezvous)."""
        from verl.single_controller.worker_group import node_address

        return node_address()

    @register(Dispatch.ALL)
    def init_model(self, master_addr: str, master_port: int, training_steps: int) -> None:
        """Join the process group; build actor, optimizer, LR schedule, reference and rollout engine."""
        from dataset.vocab_layout import load_processor

        cfg = self.config
        seed = cfg.trainer.seed
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        self.mesh = fsdp.init_process_group(self.rank, self.world_size, master_addr, master_port, self.device)
        actor_cfg, model_cfg = cfg.worker.actor, cfg.worker.actor.model
        self.processor = load_processor(model_cfg.tokenizer_path, trust_remote_code=model_cfg.trust_remote_code)
        self.tokenizer = self.processor.tokenizer
        dtype = fsdp.DTYPES[actor_cfg.fsdp.torch_dtype or "fp32"]
        model = fsdp.shard_model(fsdp.build_model(model_cfg, dtype, trainable=True, lora=actor_cfg.lora), self.mesh,
                                 actor_cfg.fsdp, self.device)
        self.lora = actor_cfg.lora.enable
        optim_cfg = actor_cfg.optim
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=optim_cfg.lr, betas=optim_cfg.betas,
                                      weight_decay=optim_cfg.weight_decay)
        updates = training_steps * (cfg.data.rollout_batch_size // actor_cfg.global_batch_size) * actor_cfg.ppo_epochs
        warmup = core_algos.resolve_warmup_steps(optim_cfg.lr_warmup_steps, optim_cfg.lr_warmup_ratio, updates)
        scheduler = core_algos.build_lr_scheduler(optimizer, updates, warmup, optim_cfg.lr_scheduler_type,
                                                  optim_cfg.min_lr_ratio)
        self.actor = Actor(model, actor_cfg, self.device, optimizer, scheduler, dp_group=self.mesh.get_group())
        self.ref: Actor | None = None
        if not cfg.algorithm.disable_kl and not self.lora:  # a LoRA actor is its own reference (adapters off)
            ref_cfg = cfg.worker.ref
            ref_dtype = fsdp.DTYPES[ref_cfg.fsdp.torch_dtype or ("bf16" if self.device == "cuda" else "fp32")]
            ref_model = fsdp.shard_model(fsdp.build_model(model_cfg, ref_dtype, trainable=False), self.mesh,
                                         ref_cfg.fsdp, self.device)
            self.ref = Actor(ref_model, actor_cfg, self.device)
        rollout_cfg = cfg.worker.rollout
        self.rollout_name = resolve_rollout_name(rollout_cfg.name, cfg.trainer.device)
        self.rollout = build_rollout(self.rollout_name, model_cfg.model_path, rollout_cfg, self.tokenizer, self.device)
        self.eos_ids = {self.tokenizer.convert_tokens_to_ids("<|im_end|>"),
                        self.tokenizer.convert_tokens_to_ids("<|endoftext|>")}
        self._offload_actor()
        logger.info("worker ready: device=%s rollout=%s ref=%s", self.device, self.rollout_name,
                    "actor without adapters" if self.lora else self.ref is not None)

    # ---------------------------------------------------------------------------------- offload
    def _offload_actor(self) -> None:
        offload = self.config.worker.actor.offload
        if self.device != "cuda":
            return
        if offload.offload_params and not self.config.worker.actor.fsdp.enable_cpu_offload:
            fsdp.offload_model(self.actor.model, "cpu")
        if offload.offload_optimizer and self.actor.optimizer is not None:
            fsdp.load_optimizer_to(self.actor.optimizer, "cpu")
        torch.cuda.empty_cache()

    def _load_actor(self, with_optimizer: bool = False) -> None:
        offload = self.config.worker.actor.offload
        if self.device != "cuda":
            return
        if offload.offload_params and not self.config.worker.actor.fsdp.enable_cpu_offload:
            fsdp.offload_model(self.actor.model, "cuda")
        if with_optimizer and offload.offload_optimizer and self.actor.optimizer is not None:
            fsdp.load_optimizer_to(self.actor.optimizer, "cuda")

    # ------------------------------------------------------------------------------ data methods
    def sync_rollout_weights(self) -> None:
        """Gather the actor's full weights and load them into the rollout engine (collective)."""
        self._load_actor()
        self.rollout.wake_up()
        dtype = None if self.device == "cpu" else fsdp.DTYPES[self.config.worker.rollout.dtype]
        self.rollout.load_weights(self._rollout_weights(dtype))
        self._offload_actor()

    def _rollout_weights(self, dtype: torch.dtype | None) -> Any:
        """The actor's full weights under HF names; a LoRA actor's come merged (``W + scale * B @ A``)."""
        if not self.lora:
            return fsdp.iter_full_state_dict(self.actor.model, dtype)
        from verl.workers.lora import merged_weights

        lora_cfg = self.config.worker.actor.lora
        merged = merged_weights(fsdp.iter_full_state_dict(self.actor.model), lora_cfg.alpha / lora_cfg.r)
        return ((n, t.to(dtype) if dtype is not None and t.is_floating_point() else t) for n, t in merged)

    @register(Dispatch.DP_COMPUTE)
    def generate_sequences(self, prompts: Batch) -> Batch:
        """Sync weights, sample ``n`` responses per prompt, return the training columns (B*n rows)."""
        rollout_cfg = self.config.worker.rollout
        meta = prompts.meta
        sampling = SamplingSettings(
            n=int(meta.get("n", rollout_cfg.n)), temperature=float(meta.get("temperature", rollout_cfg.temperature)),
            top_p=float(meta.get("top_p", rollout_cfg.top_p)), top_k=int(meta.get("top_k", rollout_cfg.top_k)),
            max_tokens=rollout_cfg.response_length)
        self.sync_rollout_weights()
        local, share = self._tp_gather(prompts)
        responses = self.rollout.generate(local, sampling)
        self.rollout.sleep()
        if share is not None:
            rows = slice(share * sampling.n, (share + len(prompts)) * sampling.n)
            log_probs = None if responses.log_probs is None else responses.log_probs[rows]
            responses = Responses(responses.token_ids[rows], log_probs)
        out = assemble_rollout(prompts, responses, sampling.n, rollout_cfg.response_length,
                               self.tokenizer.pad_token_id, self.eos_ids)
        out.meta["temperature"] = sampling.temperature
        return out

    def _tp_gather(self, prompts: Batch) -> tuple[Batch, int | None]:
        """With vLLM tensor parallelism every rank of a TP group generates the union of their prompts."""
        tp = self.config.worker.rollout.tensor_parallel_size
        if self.rollout_name != "vllm" or tp == 1:
            return prompts, None
        if not hasattr(self, "_tp_group"):
            groups = [dist.new_group(list(range(s, s + tp))) for s in range(0, self.world_size, tp)]
            self._tp_group = groups[self.rank // tp]
        gathered: list[Any] = [None] * tp
        dist.all_gather_object(gathered, prompts, group=self._tp_group)
        share = sum(len(b) for b in gathered[: self.rank % tp])
        return Batch.concat(gathered), share

    @register(Dispatch.DP_COMPUTE)
    def compute_log_probs(self, batch: Batch) -> Batch:
        """``old_log_probs`` and ``entropies`` (B, R) under the current actor."""
        self._load_actor()
        temperature = float(batch.meta.get("temperature", self.config.worker.rollout.temperature))
        micro = self.config.worker.actor.micro_batch_size_per_device_for_experience
        log_probs, entropy = self.actor.compute_log_probs(batch, temperature, micro, with_entropy=True)
        self._offload_actor()
        return Batch({"old_log_probs": log_probs, "entropies": entropy})

    @register(Dispatch.DP_COMPUTE)
    def compute_ref_log_probs(self, batch: Batch) -> Batch:
        """``ref_log_probs`` (B, R) under the frozen reference."""
        if self.ref is None and not (self.lora and not self.config.algorithm.disable_kl):
            raise RuntimeError("no reference model (algorithm.disable_kl is true)")
        temperature = float(batch.meta.get("temperature", self.config.worker.rollout.temperature))
        micro = self.config.worker.ref.micro_batch_size_per_device_for_experience
        if self.lora:
            from verl.workers.lora import reference_mode

            self._load_actor()
            with reference_mode(self.actor.model):
                log_probs, _ = self.actor.compute_log_probs(batch, temperature, micro)
            self._offload_actor()
        else:
            log_probs, _ = self.ref.compute_log_probs(batch, temperature, micro)
        return Batch({"ref_log_probs": log_probs})

    @register(Dispatch.DP_COMPUTE)
    def update_actor(self, batch: Batch) -> dict[str, float]:
        """One PPO pass over this rank's rows; mini-batch = global_batch_size * n / world rows."""
        cfg = self.config
        self._load_actor(with_optimizer=True)
        mini = cfg.worker.actor.global_batch_size * cfg.worker.rollout.n // self.world_size
        temperature = float(batch.meta.get("temperature", cfg.worker.rollout.temperature))
        fault_point("update_actor", self.rank)  # crash tests: a rank dies mid-step
        metrics = self.actor.update(batch, temperature, mini)
        self._offload_actor()
        return metrics

    # ------------------------------------------------------------------------------- checkpoints
    @register(Dispatch.ALL)
    def save_checkpoint(self, path: str) -> None:
        """Collective: sharded model/optimizer + scheduler/RNG under ``path/actor``; HF metadata on rank 0."""
        actor_dir = Path(path) / "actor"
        self._load_actor(with_optimizer=True)
        checkpoint.save_actor(actor_dir, self.actor.model, self.actor.optimizer, self.actor.scheduler, self.rank,
                              trainable_only=self.lora)
        adapter = None
        if self.lora:  # collective gather of the adapter tensors, written by rank 0
            from verl.workers.lora import adapter_state

            adapter = adapter_state(fsdp.iter_full_state_dict(self.actor.model, keep=lambda n: ".lora_" in n))
        if self.rank == 0:
            model = self.actor.model
            checkpoint.save_hf_metadata(actor_dir / "huggingface", model.config,
                                        getattr(model, "generation_config", None), self.processor,
                                        tokenizer_source=self.config.worker.actor.model.tokenizer_path)
            if adapter is not None:
                from verl.workers.lora import save_adapter

                save_adapter(actor_dir / "huggingface", model, adapter, self.config.worker.actor.model.model_path)
        dist.barrier()
        self._offload_actor()

    @register(Dispatch.ALL)
    def load_checkpoint(self, path: str) -> None:
        """Collective inverse of :meth:`save_checkpoint`."""
        self._load_actor(with_optimizer=True)
        checkpoint.load_actor(Path(path) / "actor", self.actor.model, self.actor.optimizer,
                              self.actor.scheduler, self.rank, trainable_only=self.lora)
        dist.barrier()
        self._offload_actor()

    # ------------------------------------------------------------------------------ introspection
    @register(Dispatch.ALL)
    def weights_digest(self, which: str = "actor") -> dict[str, str]:
        """Collective: sha1 of every full tensor of ``actor``, ``ref`` or (local) ``rollout`` weights."""
        if which == "rollout":
            tensors = self.rollout.named_weights().items()  # type: ignore[attr-defined]
        else:
            module = (self.actor if which == "actor" else self.ref).model  # type: ignore[union-attr]
            tensors = fsdp.iter_full_state_dict(module)
        return {name: hashlib.sha1(t.detach().float().cpu().numpy().tobytes()).hexdigest() for name, t in tensors}

    def shutdown(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()
        os.environ.pop("MASTER_PORT", None)
