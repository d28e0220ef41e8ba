"""--memory_plan auto: the activation probe against the autograd graph itself, the plan choice against
hand-computed peaks, and the arguments a plan sets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench.bench_sft_speed import build_data, build_model
from dataset.collator import DataCollatorForSupervisedDataset, FlattenedDataCollatorForSupervisedDataset
from demo.tiny_model import coordinate_token_ids
from finetuning.arguments import ModelArguments, TrainingArguments
from finetuning.memory_plan import (
    ActivationProbe,
    MemoryPlan,
    apply_plan,
    choose_plan,
    estimated_peak,
    plan_memory,
    probe_activations,
    probe_batch,
    static_bytes,
)
from finetuning.trainer import sft_loss


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    processor, samples = build_data(str(tmp_path_factory.mktemp("plan")), dry_run=True, num_samples=4)
    return processor, samples, torch.tensor(coordinate_token_ids(processor.tokenizer))


def loss_fn(coords: torch.Tensor, linear_ce: str = "off"):
    return lambda model, batch: sft_loss(model, batch, coords, 2.0, linear_ce)[0]


def graph_saved_bytes(loss: torch.Tensor, params: set[int]) -> int:
    """Bytes of the distinct storages the autograd graph of ``loss`` saved, read from each node's
    ``_saved_*`` attributes (parameters excluded): an independent count of what backward needs."""
    storages: dict[int, int] = {}
    seen, stack = set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for name in dir(node):
            if not name.startswith("_saved_"):
                continue
            value = getattr(node, name)
            for tensor in value if isinstance(value, tuple) else (value,):
                if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
                    ptr = tensor.untyped_storage().data_ptr()
                    if ptr not in params:
                        storages[ptr] = tensor.untyped_storage().nbytes()
        stack.extend(next_node for next_node, _ in node.next_functions)
    return sum(storages.values())


@pytest.mark.parametrize("packed", [False, True])
def test_probe_counts_what_autograd_keeps(data: tuple, packed: bool) -> None:
    # The stock loss: the graph holds no checkpointed region, whose saved tensors the walk would recompute.
    processor, samples, coords = data
    model = build_model(processor, dry_run=True, device=torch.device("cpu"), liger=False)
    collator = FlattenedDataCollatorForSupervisedDataset if packed else DataCollatorForSupervisedDataset
    batch = collator(tokenizer=processor.tokenizer)(samples[:2])
    probe = probe_activations(model, loss_fn(coords), batch)
    model.train()
    loss = loss_fn(coords)(model, batch)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    truth = graph_saved_bytes(loss, params)
    counted = probe.activations(stride=0)
    assert truth <= counted <= 1.02 * truth, (counted, truth)
    depth = len(model.model.visual.blocks), len(model.model.language_model.layers)
    assert probe.block_index == (*range(depth[0]), *range(depth[1]))
    assert all(full > inp > 0 for full, inp in zip(probe.block_full, probe.block_input))
    tokens, hidden = batch["input_ids"].numel(), model.config.text_config.hidden_size
    assert probe.block_input[depth[0]] == tokens * hidden * 4  # a decoder layer's fp32 input
    # The probe leaves the model as it found it: no hooks, and the graph above backpropagates.
    loss.backward()
    assert all(not block._forward_hooks and not block._forward_pre_hooks for block in model.model.language_model.layers)


def test_probe_restores_checkpointing_flags(data: tuple) -> None:
    processor, samples, coords = data
    model = build_model(processor, dry_run=True, device=torch.device("cpu"), liger=False)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    batch = DataCollatorForSupervisedDataset(tokenizer=processor.tokenizer)(samples[:1])
    probe = probe_activations(model, loss_fn(coords), batch)
    assert all(layer.gradient_checkpointing for layer in model.model.language_model.layers)
    # Measured with checkpointing off: a block keeps far more than its input.
    assert min(f / i for f, i in zip(probe.block_full, probe.block_input)) > 3


def test_linear_ce_drops_the_logits_from_the_probe(data: tuple) -> None:
    processor, samples, coords = data
    model = build_model(processor, dry_run=True, device=torch.device("cpu"), liger=False)
    batch = DataCollatorForSupervisedDataset(tokenizer=processor.tokenizer)(samples[:2])
    stock = probe_activations(model, loss_fn(coords), batch)
    linear = probe_activations(model, loss_fn(coords, "chunked"), batch)
    logits_fp32 = batch["input_ids"].numel() * model.config.text_config.vocab_size * 4
    assert stock.outside_largest >= logits_fp32 > linear.outside_largest
    assert stock.outside - linear.outside >= 0.9 * logits_fp32  # the chunked path keeps its rows of hidden states
    assert stock.block_full == linear.block_full


# Two vision blocks (10 bytes kept each, input 1) and eight decoder layers (20, input 2); by hand, with
# k of the eight layers checkpointed the layers keep 160 - 18k: stride 4 -> k=2, 3 -> 3, 2 -> 4, 1 -> 8.
PROBE = ActivationProbe(block_full=(10, 10, *[20] * 8), block_input=(1, 1, *[2] * 8),
                        block_index=(0, 1, *range(8)), outside=6, outside_largest=4)


def test_activations_by_stride_by_hand() -> None:
    assert PROBE.activations(0) == 20 + 160 + 6
    assert PROBE.activations(4) == (1 + 10) + (160 - 36) + 6
    assert PROBE.activations(3) == (1 + 10) + (160 - 54) + 6
    assert PROBE.activations(2) == (1 + 10) + (160 - 72) + 6
    assert PROBE.activations(1) == 2 + 16 + 6
    assert PROBE.backward_working_set() == max(2 * 20, 3 * 4)
    assert estimated_peak(PROBE, 1000, 0, 2) == 1000 + 2 * (186 + 40)
    logits_heavy = ActivationProbe((10,), (1,), (0,), outside=30, outside_largest=25)
    assert logits_heavy.backward_working_set() == 75


# Peaks at x1 (static 1000, working set 40): off 1226, every 4th 1181, 3rd 1163, 2nd 1145, every block 1064.
@pytest.mark.parametrize(("budget", "accum", "want"), [
    (1226, 4, (0, 1)),  # x2 = 1452
    (1452, 4, (0, 2)),
    (3000, 4, (0, 4)),  # x8 = 2808 would fit, but 8 does not divide 4
    (3000, 3, (0, 1)),  # 2 does not divide 3
    (1225, 4, (4, 1)),  # x2 = 1362
    (1180, 4, (3, 1)),
    (1162, 4, (2, 1)),
    (1144, 4, (1, 2)),  # every block: 1064, x2 = 1128, x4 = 1256
])
def test_choose_plan_by_hand(budget: int, accum: int, want: tuple[int, int]) -> None:
    plan = choose_plan(PROBE, 1000, budget, grad_accum=accum, grow_batch=True)
    assert (plan.stride, plan.multiplier) == want and plan.fits


def test_choose_plan_when_nothing_fits_checkpoints_every_block() -> None:
    plan = choose_plan(PROBE, 1000, 1000, grad_accum=4, grow_batch=True)
    assert (plan.stride, plan.multiplier, plan.fits) == (1, 1, False)
    assert plan.peak_bytes == 1064
    assert choose_plan(PROBE, 1000, 10**6, grad_accum=4, grow_batch=False).multiplier == 1


def test_static_bytes_counts_tied_weights_once() -> None:
    emb = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    frozen = torch.nn.Linear(4, 4, bias=False).requires_grad_(False)
    model = torch.nn.ModuleList([emb, head, frozen])
    weights, trainable = (40 + 16) * 4, 40 * 4
    assert static_bytes(model) == weights + 4 * trainable
    assert static_bytes(model, zero_stage=2, world_size=4) == weights + 40 * 2 // 4 + 12 * 40 // 4
    assert static_bytes(model, zero_stage=1, world_size=4) == weights + 40 * 2 + 12 * 40 // 4


def test_apply_plan_sets_checkpointing_stride_and_micro_batch(tmp_path: Path) -> None:
    model = SimpleNamespace(enable_input_require_grads=lambda: calls.append("grads"))
    calls: list[str] = []
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, gradient_accumulation_steps=8,
                             use_cpu=True, report_to="none")
    margs = ModelArguments(model_name_or_path="x", tune_mm_llm=True)
    apply_plan(MemoryPlan(stride=0, multiplier=4, peak_bytes=1, budget_bytes=2), model, margs, args)
    assert (args.activation_checkpointing, args.per_device_train_batch_size, args.gradient_accumulation_steps) == \
        (False, 8, 2)
    apply_plan(MemoryPlan(stride=3, multiplier=1, peak_bytes=1, budget_bytes=2), model, margs, args)
    assert args.activation_checkpointing and args.gradient_checkpointing and margs.gradient_checkpointing_stride == 3
    assert calls == ["grads"]  # turning checkpointing on keeps a grad path into frozen embeddings


def test_plan_memory_end_to_end_on_cpu(data: tuple, tmp_path: Path) -> None:
    processor, samples, coords = data
    model = build_model(processor, dry_run=True, device=torch.device("cpu"), liger=False)
    collator = DataCollatorForSupervisedDataset(tokenizer=processor.tokenizer)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, gradient_accumulation_steps=4,
                             use_cpu=True, report_to="none")
    with pytest.raises(ValueError, match="needs a CUDA device"):
        plan_memory(model, [loss_fn(coords)], samples, collator, args, 0.85)
    [roomy] = plan_memory(model, [loss_fn(coords)], samples, collator, args, 0.85, total_bytes=64 * 1024**3)
    assert (roomy.stride, roomy.multiplier, roomy.fits) == (0, 4, True)
    probe = probe_activations(model, loss_fn(coords), probe_batch(samples, collator, 2))
    static = static_bytes(model)
    tight = estimated_peak(probe, static, 1) + 1  # only full checkpointing fits
    plan, linear = plan_memory(model, [loss_fn(coords), loss_fn(coords, "chunked")], samples, collator, args, 1.0,
                               total_bytes=tight)
    assert (plan.stride, plan.multiplier, plan.fits) == (1, 1, True)
    # One plan per loss on the same batch: without the logits, checkpointing can go.
    assert linear.fits and linear.stride == 0


def test_probe_batch_takes_the_longest_samples(data: tuple) -> None:
    processor, samples, _ = data
    collator = DataCollatorForSupervisedDataset(tokenizer=processor.tokenizer)
    lengths = sorted((int(s["input_ids"].shape[-1]) for s in samples), reverse=True)
    batch = probe_batch(samples, collator, 2)
    assert batch["input_ids"].shape == (2, lengths[0])
    assert sorted(batch["attention_mask"].sum(1).tolist(), reverse=True) == lengths[:2]
    with pytest.raises(ValueError, match="empty"):
        probe_batch([], collator, 2)


@pytest.mark.parametrize(("stride", "words"), [(0, "off"), (1, "every block"), (2, "every 2nd block"),
                                               (3, "every 3rd block"), (4, "every 4th block")])
def test_plan_reads_in_one_line(stride: int, words: str) -> None:
    line = MemoryPlan(stride, 2, 3 * 1024**3, 4 * 1024**3).describe()
    assert line == f"gradient checkpointing {words}, micro-batch x2: estimated peak 3.0 GiB of a 4.0 GiB budget"


def test_probe_and_static_bytes_of_a_lora_model(data: tuple) -> None:
    # A peft wrapper: the blocks are found through it, only the adapters count as trainable, and the
    # probe's total still equals what the autograd graph saved.
    from modeling.lora import wrap_for_training

    processor, samples, coords = data
    model = build_model(processor, dry_run=True, device=torch.device("cpu"), liger=False)
    full_static = static_bytes(model)
    args = ModelArguments(model_name_or_path="x", tune_mm_llm=True, lora_enable=True, lora_r=4, lora_alpha=8)
    lora = wrap_for_training(model, args, processor.tokenizer, gradient_checkpointing=False, seed=0)
    weights = sum(p.numel() * p.element_size() for p in {p.untyped_storage().data_ptr(): p
                                                        for p in lora.parameters()}.values())
    adapters = sum(p.numel() * p.element_size() for p in lora.parameters() if p.requires_grad)
    assert 0 < adapters < weights / 10
    assert static_bytes(lora) == weights + 4 * adapters < full_static
    batch = DataCollatorForSupervisedDataset(tokenizer=processor.tokenizer)(samples[:2])
    probe = probe_activations(lora, loss_fn(coords), batch)
    assert len(probe.block_full) == len(model.model.visual.blocks) + len(model.model.language_model.layers)
    lora.train()
    loss = loss_fn(coords)(lora, batch)
    truth = graph_saved_bytes(loss, {p.untyped_storage().data_ptr() for p in lora.parameters()})
    assert truth <= probe.activations(0) <= 1.02 * truth
