"""End-to-end SFT on the test-size model: loss goes down, the output folder reloads and generates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from finetuning.arguments import parse_args
from finetuning.train import run_training, setup_logging

pytestmark = pytest.mark.slow


def train(config: Path, output_dir: Path, *extra: str, steps: int = 20) -> list[float]:
    """Run train.py in-process; returns the logged training losses."""
    argv = ["--config", str(config), "--output_dir", str(output_dir), "--tune_mm_vision", "True",
            "--tune_mm_mlp", "True", "--tune_mm_llm", "True", "--max_steps", str(steps),
            "--per_device_train_batch_size", "4", "--logging_steps", "1", "--save_strategy", "no",
            "--report_to", "none", "--disable_tqdm", "True", "--seed", "0", *extra]
    args = parse_args(argv)
    setup_logging(args[2])
    trainer = run_training(*args)
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def assert_learns(losses: list[float]) -> None:
    assert len(losses) >= 10
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first - 0.5, losses


def test_plain_training_learns_and_saves(
    tiny_config: Path, tmp_path: Path, reloads_and_generates: Callable[[Path], None]
) -> None:
    out = tmp_path / "plain"
    assert_learns(train(tiny_config, out))
    reloads_and_generates(out)
    assert (out / "info.txt").read_text().count("trainable") >= 3


@pytest.mark.parametrize(
    "extra",
    [("--data_flatten", "True"), ("--activation_checkpointing", "True"), ("--use_soft_ce_for_coords", "True"),
     ("--data_flatten", "True", "--packed_attention", "sdpa_split", "--batched_vision_windows", "True",
      "--linear_ce", "chunked", "--use_soft_ce_for_coords", "True", "--activation_checkpointing", "True",
      "--gradient_checkpointing_stride", "2")],
    ids=["data_flatten", "gradient_checkpointing", "soft_ce", "speed_options"],
)
def test_training_variants_learn(
    tiny_config: Path, tmp_path: Path, reloads_and_generates: Callable[[Path], None], extra: tuple[str, ...]
) -> None:
    out = tmp_path / "variant"
    assert_learns(train(tiny_config, out, *extra))
    reloads_and_generates(out)


@pytest.mark.parametrize(("attn", "flatten", "warned"), [
    ("sdpa", True, True), ("eager", True, True), ("flash_attention_2", True, False), ("sdpa", False, False),
])
def test_packing_without_flash_attention_is_flagged(attn: str, flatten: bool, warned: bool,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    from finetuning.train import warn_if_packing_without_flash

    with caplog.at_level("WARNING", logger="finetuning.train"):
        assert warn_if_packing_without_flash(attn, flatten) is warned
    assert ("dense block mask" in caplog.text) is warned


def test_memory_plan_regroups_micro_batches_without_changing_the_step(
    tiny_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1 sample x 4 accumulation steps, then --memory_plan auto on a roomy card (64 GiB given, as the CPU
    # has no card to read): the plan turns checkpointing off and trains 4 x 1. Same samples per step, and
    # the loss is normalised by the supervised tokens of the whole step, so answers of different lengths
    # weigh the same either way: the same first-step loss and gradient norm (later steps drift apart at
    # ~1e-3, as Adam amplifies the fp32 differences of padding 1 vs 4 rows). A mean of per-micro-batch
    # means would differ here.
    from finetuning import memory_plan

    def history(out: Path, *extra: str) -> list[tuple[float, float]]:
        argv = ["--config", str(tiny_config), "--output_dir", str(out), "--tune_mm_llm", "True", "--max_steps", "1",
                "--gradient_accumulation_steps", "4", "--per_device_train_batch_size", "1", "--logging_steps", "1",
                "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "True", "--seed", "0",
                "--use_soft_ce_for_coords", "True", "--activation_checkpointing", "True", *extra]
        args = parse_args(argv)
        setup_logging(args[2])
        trainer = run_training(*args)
        assert (trainer.args.per_device_train_batch_size, trainer.args.gradient_accumulation_steps) == (
            (4, 1) if extra else (1, 4))
        return [value for h in trainer.state.log_history if "loss" in h for value in (h["loss"], h["grad_norm"])]

    real = memory_plan.plan_memory
    monkeypatch.setattr(memory_plan, "plan_memory", lambda *a, **k: real(*a, **k, total_bytes=64 * 1024**3))
    planned = history(tmp_path / "planned", "--memory_plan", "auto")
    log = (tmp_path / "planned" / "info.txt").read_text()
    assert "memory plan: gradient checkpointing off, micro-batch x4" in log
    assert "memory plan with --linear_ce chunked (the same loss without the full logits): gradient checkpointing" in log
    stock = history(tmp_path / "stock")
    assert len(planned) == len(stock) == 2
    assert planned == pytest.approx(stock, rel=1e-4)
