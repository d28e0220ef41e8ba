"""``--memory_plan auto``: the least gradient checkpointing, then the largest micro-batch, that fits the card.

Before training, one forward pass of a micro-batch made of the longest of a few training samples runs under
``torch.autograd.graph.saved_tensors_hooks``. The hooks record the size of every tensor autograd keeps for
backward, per decoder layer and vision block (what a block keeps without checkpointing) and outside them
(embeddings, merger, LM head, loss), and then let it go, so the probe itself never holds more than one
block's activations. Weights, gradients and optimizer states are counted from the parameters.

The estimated peak of a plan is::

    static + m * (sum over blocks of (full if not checkpointed else input) + outside)
           + m * max(2 * largest block, 3 * largest tensor outside the blocks)

``m`` is the micro-batch multiplier (activations grow linearly with tokens: SDPA's flash and
memory-efficient kernels keep no ``L x L`` matrix). The last term is the backward's working set:
one block recomputed with its gradients, or the loss's backward over the logits, whichever is larger. Plans are tried in order of less
recompute (checkpointing off, then every 4th, 3rd, 2nd block, then every block); the first whose peak
fits ``memory_budget`` of the card's memory wins. The micro-batch then doubles while the peak still fits
and ``gradient_accumulation_steps`` halves, so the samples per optimizer step stay the same (the loss is
normalised by the token count of the whole accumulated batch, so the gradient is unchanged).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

GIB = 1024**3
# 0 = checkpointing off; N = every N-th block of each tower checkpointed. Ordered by less recompute first.
STRIDES = (0, 4, 3, 2, 1)
MEMORY_PLAN_CHOICES = ("off", "auto")


@dataclass(frozen=True)
class ActivationProbe:
    """What autograd keeps for backward, in bytes, for one micro-batch."""

    block_full: tuple[int, ...]  # each block without checkpointing
    block_input: tuple[int, ...]  # each block's input: all a checkpointed block keeps
    block_index: tuple[int, ...]  # each block's index within its tower (vision blocks, decoder layers)
    outside: int  # kept outside the blocks: embeddings, merger, LM head, loss
    outside_largest: int  # the largest single tensor among those (the logits, unless linear_ce)

    def activations(self, stride: int) -> int:
        """Bytes kept with every ``stride``-th block of each tower checkpointed (0: none)."""
        kept = sum(inp if stride and index % stride == 0 else full
                   for full, inp, index in zip(self.block_full, self.block_input, self.block_index))
        return kept + self.outside

    def backward_working_set(self) -> int:
        """What backward allocates on top of the kept activations, at its peak: in the loss's backward the
        gradients of the log-softmax output and of the logits and one temporary of their size (3 x the
        largest tensor kept outside the blocks, the fp32 logits); in a block's backward its recomputed
        activations and their gradients (2 x the largest block); whichever is larger. Measured on the CPU
        by ``bench/bench_memory_plan.py``."""
        return max(2 * max(self.block_full, default=0), 3 * self.outside_largest)


@dataclass(frozen=True)
class MemoryPlan:
    stride: int  # 0: checkpointing off
    multiplier: int  # micro-batch size multiplier (gradient accumulation divided by it)
    peak_bytes: int
    budget_bytes: int

    @property
    def fits(self) -> bool:
        return self.peak_bytes <= self.budget_bytes

    def describe(self) -> str:
        ckpt = {0: "off", 1: "every block", 2: "every 2nd block", 3: "every 3rd block"}.get(
            self.stride, f"every {self.stride}th block")
        return (f"gradient checkpointing {ckpt}, micro-batch x{self.multiplier}: estimated peak "
                f"{self.peak_bytes / GIB:.1f} GiB of a {self.budget_bytes / GIB:.1f} GiB budget")


def estimated_peak(probe: ActivationProbe, static: int, stride: int, multiplier: int = 1) -> int:
    return static + multiplier * (probe.activations(stride) + probe.backward_working_set())


def choose_plan(probe: ActivationProbe, static: int, budget: int, grad_accum: int, grow_batch: bool) -> MemoryPlan:
    """The first stride of ``STRIDES`` that fits ``budget``, then the largest power-of-two multiplier that
    divides ``grad_accum`` and still fits. When nothing fits, every block is checkpointed (``fits`` False)."""
    for stride in STRIDES:
        if estimated_peak(probe, static, stride) <= budget:
            break
    else:
        return MemoryPlan(1, 1, estimated_peak(probe, static, 1), budget)
    multiplier = 1
    while (grow_batch and grad_accum % (2 * multiplier) == 0
           and estimated_peak(probe, static, stride, 2 * multiplier) <= budget):
        multiplier *= 2
    return MemoryPlan(stride, multiplier, estimated_peak(probe, static, stride, multiplier), budget)


def static_bytes(model: nn.Module, zero_stage: int = 0, world_size: int = 1) -> int:
    """Weights, gradients and AdamW states.

    Without DeepSpeed: a gradient and two moments in each trainable parameter's dtype, plus one more
    such copy for the multi-tensor (foreach) update's temporaries. With ZeRO: DeepSpeed's fp32 master
    weights and moments (12 bytes per trainable parameter) split over the ranks, and 16-bit gradients,
    split from stage 2 on.
    """
    seen: set[int] = set()
    weights = trainable_numel = trainable_bytes = 0
    for param in model.parameters():
        ptr = param.untyped_storage().data_ptr()
        if ptr not in seen:  # tied weights are stored once
            seen.add(ptr)
            weights += param.numel() * param.element_size()
            if param.requires_grad:
                trainable_numel += param.numel()
                trainable_bytes += param.numel() * param.element_size()
    if zero_stage:
        grads = trainable_numel * 2 // (world_size if zero_stage >= 2 else 1)
        return weights + grads + 12 * trainable_numel // world_size
    return weights + 4 * trainable_bytes


def model_blocks(model: nn.Module) -> list[tuple[int, nn.Module]]:
    """(index within its tower, block) for the vision blocks and decoder layers, a peft wrapper included."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = inner.model
    return [*enumerate(inner.visual.blocks), *enumerate(inner.language_model.layers)]


def _first_tensor(args: tuple, kwargs: dict) -> torch.Tensor | None:
    hidden = kwargs.get("hidden_states")
    if isinstance(hidden, torch.Tensor):
        return hidden
    return next((a for a in args if isinstance(a, torch.Tensor)), None)


def _storage_bytes(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().nbytes()


class _SavedTensorCounter:
    """``saved_tensors_hooks`` that add up, per block and outside the blocks, the bytes autograd keeps.

    A storage is counted once while it is alive (views share one; a mask every layer saves is counted
    once). Tensors are held only until their block returns, and only placeholders are saved, so the
    forward keeps at most one block's activations alive. Parameters are not activations: skipped.
    """

    def __init__(self, model: nn.Module, num_blocks: int) -> None:
        self.param_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.full = [0] * num_blocks
        self.inputs = [0] * num_blocks
        self.current: int | None = None
        self.counted: dict[int, weakref.ref] = {}  # storage -> a tensor on it, while the storage is alive
        self.block_keep: list[torch.Tensor] = []
        self.outside_keep: list[torch.Tensor] = []
        self.outside_sizes: list[int] = []

    def pack(self, tensor: torch.Tensor) -> Any:
        if tensor.device.type == "meta":
            return tensor
        ptr = tensor.untyped_storage().data_ptr()
        if ptr in self.param_storages:
            return tensor
        known = self.counted.get(ptr)
        if known is not None and known() is not None:
            return None
        self.counted[ptr] = weakref.ref(tensor)
        size = _storage_bytes(tensor)
        if self.current is None:
            self.outside_keep.append(tensor)
            self.outside_sizes.append(size)
        else:
            self.block_keep.append(tensor)
            self.full[self.current] += size
        return None  # never unpacked: the probe does not run backward

    @staticmethod
    def unpack(_: Any) -> torch.Tensor:
        raise RuntimeError("memory probe: backward through a probed graph is not possible")

    def enter_hook(self, position: int) -> Callable:
        def hook(_module: nn.Module, args: tuple, kwargs: dict) -> None:
            self.current = position
            hidden = _first_tensor(args, kwargs)
            self.inputs[position] = _storage_bytes(hidden) if hidden is not None else 0
        return hook

    def leave_hook(self, _module: nn.Module, _args: tuple, _kwargs: dict, _output: Any) -> None:
        self.current = None
        self.block_keep.clear()

    def release(self) -> None:
        self.block_keep.clear()
        self.outside_keep.clear()


def probe_activations(model: nn.Module, loss_fn: Callable[[nn.Module, dict], torch.Tensor],
                      inputs: dict[str, Any]) -> ActivationProbe:
    """Run ``loss_fn(model, inputs)`` once with checkpointing off and measure what autograd keeps
    (:class:`_SavedTensorCounter`). Nothing is left on the model: hooks are removed and checkpointing
    flags restored."""
    blocks = model_blocks(model)
    counter = _SavedTensorCounter(model, len(blocks))
    handles = []
    flags = [getattr(block, "gradient_checkpointing", False) for _, block in blocks]
    was_training = model.training
    try:
        for position, (_, block) in enumerate(blocks):
            if hasattr(block, "gradient_checkpointing"):
                block.gradient_checkpointing = False
            handles.append(block.register_forward_pre_hook(counter.enter_hook(position), with_kwargs=True))
            handles.append(block.register_forward_hook(counter.leave_hook, with_kwargs=True))
        model.train()
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
            loss = loss_fn(model, inputs)
        del loss
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
        for (_, block), flag in zip(blocks, flags):
            if hasattr(block, "gradient_checkpointing"):
                block.gradient_checkpointing = flag
        counter.release()
    return ActivationProbe(tuple(counter.full), tuple(counter.inputs), tuple(index for index, _ in blocks),
                           sum(counter.outside_sizes), max(counter.outside_sizes, default=0))


def probe_batch(dataset: Any, collator: Callable, batch_size: int, candidates: int = 16) -> dict[str, Any]:
    """A micro-batch of the ``batch_size`` longest among ``candidates`` samples spread over ``dataset``
    (the same indices on every rank, so every rank makes the same plan)."""
    n = len(dataset)
    if n == 0:
        raise ValueError("memory_plan: the training dataset is empty")
    count = min(n, max(candidates, batch_size))
    indices = sorted({round(i * (n - 1) / max(count - 1, 1)) for i in range(count)})
    samples = [dataset[i] for i in indices]
    samples.sort(key=lambda s: int(s["input_ids"].shape[-1]), reverse=True)
    return collator(samples[:batch_size])


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def zero_stage_of(training_args: Any) -> int:
    config = getattr(getattr(training_args, "hf_deepspeed_config", None), "config", None) or {}
    return int((config.get("zero_optimization") or {}).get("stage", 0)) if training_args.deepspeed else 0


def plan_memory(model: nn.Module, loss_fns: Sequence[Callable[[nn.Module, dict], torch.Tensor]], dataset: Any,
                collator: Callable, training_args: Any, budget_fraction: float,
                total_bytes: int | None = None) -> list[MemoryPlan]:
    """Probe one micro-batch on ``training_args.device`` with each of ``loss_fns`` and choose a plan for each,
    for a card of ``total_bytes`` (default: the CUDA device's total memory). The micro-batch and the static
    bytes are built once and shared by all plans."""
    device = training_args.device
    if total_bytes is None:
        if device.type != "cuda":
            raise ValueError("memory_plan auto needs a CUDA device (it sizes the plan to the card's memory)")
        total_bytes = torch.cuda.get_device_properties(device).total_memory
    zero_stage = zero_stage_of(training_args)
    if zero_stage >= 3:
        raise ValueError("memory_plan auto does not work with DeepSpeed ZeRO-3 (the weights are partitioned "
                         "before the probe can run); use ZeRO-2 or memory_plan off")
    if any(param.device.type != device.type for param in model.parameters()):
        model.to(device)  # Trainer would move it there too (a quantised model is already on its GPU)
    batch = to_device(probe_batch(dataset, collator, training_args.per_device_train_batch_size), device)
    static = static_bytes(model, zero_stage, training_args.world_size)
    budget = int(budget_fraction * total_bytes)
    return [choose_plan(probe_activations(model, loss_fn, batch), static, budget,
                        training_args.gradient_accumulation_steps, grow_batch=not training_args.deepspeed)
            for loss_fn in loss_fns]


def apply_plan(plan: MemoryPlan, model: nn.Module, model_args: Any, training_args: Any) -> None:
    """Set checkpointing, its stride and the micro-batch as ``plan`` says; logs the plan in one line."""
    checkpointing = plan.stride > 0
    if checkpointing and not training_args.activation_checkpointing:
        model.enable_input_require_grads()  # a grad path into checkpointed blocks when embeddings are frozen
    training_args.activation_checkpointing = training_args.gradient_checkpointing = checkpointing
    if checkpointing:
        model_args.gradient_checkpointing_stride = plan.stride
    if plan.multiplier > 1:
        training_args.per_device_train_batch_size *= plan.multiplier
        training_args.gradient_accumulation_steps //= plan.multiplier
    message = (f"memory plan: {plan.describe()}; per_device_train_batch_size "
               f"{training_args.per_device_train_batch_size}, gradient_accumulation_steps "
               f"{training_args.gradient_accumulation_steps}")
    if plan.fits:
        logger.info(message)
    else:
        logger.warning("%s: over budget even with every block checkpointed; lower per_device_train_batch_size or "
                       "model_max_length if it runs out of memory", message)
