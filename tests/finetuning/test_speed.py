"""Speed options through RexOmniTrainer.compute_loss: loss and gradients equal the stock path's.

Real toy samples (dataset -> collator), the test-size model in fp32, soft-CE on coordinate tokens.
Tolerance: tests/tolerances.py GRAD_TOL (rtol 1e-4 / atol 1e-5), fp32 summation-order differences between kernels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from bench.bench_sft_speed import Mode, build_data, build_model
from dataset.collator import DataCollatorForSupervisedDataset, FlattenedDataCollatorForSupervisedDataset
from demo.tiny_model import coordinate_token_ids
from finetuning.arguments import ModelArguments, TrainingArguments
from finetuning.speed import apply_speed_options, compile_blocks, thin_gradient_checkpointing
from finetuning.trainer import RexOmniTrainer
from tests.tolerances import GRAD_TOL

TOLERANCE = GRAD_TOL


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    processor, samples = build_data(str(tmp_path_factory.mktemp("speed")), dry_run=True, num_samples=3)
    return processor, samples, coordinate_token_ids(processor.tokenizer)


def loss_and_grads(data: tuple, mode: Mode, tmp_path: Path, stride: int = 1,
                   compile_backend: str | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    processor, samples, coord_ids = data
    model = build_model(processor, dry_run=True, device=torch.device("cpu"), liger=False)
    flags = {f.name: getattr(mode, f.name) for f in dataclasses.fields(ModelArguments)
             if hasattr(mode, f.name) and f.name != "liger"}
    apply_speed_options(model, ModelArguments(model_name_or_path="x", tune_mm_llm=True, **flags), mode.packed)
    if compile_backend:
        compile_blocks(model, backend=compile_backend)
    if mode.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        thin_gradient_checkpointing(model, stride)
    collator = (FlattenedDataCollatorForSupervisedDataset if mode.packed else DataCollatorForSupervisedDataset)(
        tokenizer=processor.tokenizer)
    trainer = RexOmniTrainer(model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to="none",
                                                                 use_cpu=True),
                             coord_token_ids=coord_ids, coord_sigma=2.0, linear_ce=mode.linear_ce)
    model.train()
    loss = trainer.compute_loss(model, trainer._prepare_inputs(collator(samples)))
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


def assert_same(got: tuple, want: tuple) -> None:
    torch.testing.assert_close(got[0], want[0], **TOLERANCE)
    assert got[1].keys() == want[1].keys()
    for name, grad in want[1].items():
        torch.testing.assert_close(got[1][name], grad, **TOLERANCE, msg=lambda m, n=name: f"{n}: {m}")


@pytest.fixture(scope="module")
def stock(data: tuple, tmp_path_factory: pytest.TempPathFactory) -> dict[bool, tuple]:
    out = tmp_path_factory.mktemp("stock")
    return {packed: loss_and_grads(data, Mode(packed=packed, gradient_checkpointing=False), out)
            for packed in (False, True)}


@pytest.mark.parametrize("mode", [
    Mode(packed=True, packed_attention="sdpa_split", gradient_checkpointing=False),
    Mode(batched_vision_windows=True, gradient_checkpointing=False),
    Mode(linear_ce="chunked", gradient_checkpointing=False),
    Mode(packed=True, packed_attention="sdpa_split", batched_vision_windows=True, linear_ce="chunked",
         gradient_checkpointing=False),
], ids=["packed_sdpa_split", "batched_windows", "linear_ce_chunked", "all_cpu"])
def test_speed_option_matches_stock(data: tuple, stock: dict, mode: Mode, tmp_path: Path) -> None:
    assert_same(loss_and_grads(data, mode, tmp_path), stock[mode.packed])


def test_thinned_checkpointing_matches_stock(data: tuple, stock: dict, tmp_path: Path) -> None:
    assert_same(loss_and_grads(data, Mode(gradient_checkpointing=True), tmp_path, stride=2), stock[False])


def test_compiled_blocks_match_stock(data: tuple, stock: dict, tmp_path: Path) -> None:
    """Dynamo capture with the eager backend: the wiring, not inductor's kernels (CUDA bench)."""
    torch._dynamo.reset()
    assert_same(loss_and_grads(data, Mode(gradient_checkpointing=False), tmp_path, compile_backend="eager"),
                stock[False])


def test_thin_gradient_checkpointing_keeps_every_nth_block(data: tuple) -> None:
    model = build_model(data[0], dry_run=True, device=torch.device("cpu"), liger=False)
    model.gradient_checkpointing_enable()
    vision, text = len(model.model.visual.blocks), len(model.model.language_model.layers)
    on = thin_gradient_checkpointing(model, 2)
    assert on == (vision + 1) // 2 + (text + 1) // 2
    assert [b.gradient_checkpointing for b in model.model.language_model.layers][:2] == [True, False]


def test_options_that_cannot_apply_are_refused(data: tuple) -> None:
    model = build_model(data[0], dry_run=True, device=torch.device("cpu"), liger=False)
    with pytest.raises(ValueError, match="data_flatten"):
        apply_speed_options(model, ModelArguments(model_name_or_path="x", tune_mm_llm=True,
                                                  packed_attention="sdpa_split"), data_flatten=False)


@pytest.mark.parametrize(("flags", "message"), [
    (("--packed_attention", "sdpa_split"), "packed_attention=sdpa_split needs data_flatten True"),
    (("--data_flatten", "True", "--packed_attention", "varlen"), "packed_attention=varlen"),
    (("--linear_ce", "liger"), "linear_ce=liger needs CUDA and liger-kernel"),
    (("--use_liger", "True"), "needs CUDA and liger-kernel"),
    (("--memory_plan", "auto"), "memory_plan auto needs CUDA"),
    (("--memory_budget", "1.5"), "memory_budget must be a fraction in (0, 1]"),
    (("--ce_chunk_size", "0"), "ce_chunk_size must be >= 1"),
    (("--data_flatten", "True", "--packed_attention", "sdpa_split", "--attn_implementation", "eager"),
     "needs attn_implementation sdpa"),
])
@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU refusals")
def test_train_refuses_impossible_options_in_one_line(tiny_config: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str], flags: tuple,
                                                      message: str) -> None:
    from finetuning.train import main

    argv = ["--config", str(tiny_config), "--output_dir", str(tmp_path), "--tune_mm_llm", "True", *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_linear_ce_refuses_zero3(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers.integrations

    from finetuning.speed import check_speed_options

    monkeypatch.setattr(transformers.integrations, "is_deepspeed_zero3_enabled", lambda: True)
    args = ModelArguments(model_name_or_path="x", tune_mm_llm=True, linear_ce="chunked")
    with pytest.raises(ValueError, match="ZeRO-3"):
        check_speed_options(args, data_flatten=False, on_cuda=False)
    check_speed_options(ModelArguments(model_name_or_path="x", tune_mm_llm=True), data_flatten=False, on_cuda=False)


def test_zero3_refusals_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers.integrations

    from finetuning.speed import check_speed_options

    monkeypatch.setattr(transformers.integrations, "is_deepspeed_zero3_enabled", lambda: True)
    coord_rows = ModelArguments(model_name_or_path="x", tune_mm_llm=True, lora_enable=True, lora_coord_tokens=True)
    with pytest.raises(ValueError, match="lora_coord_tokens with DeepSpeed ZeRO-3 needs CUDA"):
        check_speed_options(coord_rows, data_flatten=False, on_cuda=False)
    check_speed_options(coord_rows, data_flatten=False, on_cuda=True)  # peft's gather works there
    plan = ModelArguments(model_name_or_path="x", tune_mm_llm=True, memory_plan="auto")
    with pytest.raises(ValueError, match="memory_plan auto does not work with DeepSpeed ZeRO-3"):
        check_speed_options(plan, data_flatten=False, on_cuda=True)
    check_speed_options(ModelArguments(model_name_or_path="x", tune_mm_llm=True, lora_enable=True),
                        data_flatten=False, on_cuda=False)


def test_evaluation_keeps_the_logits_path(data: tuple, tmp_path: Path) -> None:
    """In eval mode linear_ce computes the loss from logits, with or without coordinate ids."""
    processor, samples, coord_ids = data
    model = build_model(processor, dry_run=True, device=torch.device("cpu"), liger=False).eval()
    batch = DataCollatorForSupervisedDataset(tokenizer=processor.tokenizer)(samples)
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    with torch.no_grad():
        want = model(**batch).loss
        for ids in (None, coord_ids):
            trainer = RexOmniTrainer(model=model, args=args, coord_token_ids=ids, linear_ce="chunked")
            loss, outputs = trainer.compute_loss(model, trainer._prepare_inputs(batch), return_outputs=True)
            assert outputs.logits.shape[1] == batch["input_ids"].shape[1]
            if ids is None:
                torch.testing.assert_close(loss, want, **TOLERANCE)
