"""End-to-end SFT on the test-size model: loss goes down, the output folder reloads and generates."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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


def assert_reloads_and_generates(folder: Path, toy_dir: Path) -> None:
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from dataset.tsv import TsvReader
    from finetuning.evaluation import tsv_paths
    from finetuning.generation import chat_prompt

    assert (folder / "model.safetensors").is_file() and (folder / "chat_template.jinja").is_file()
    processor = AutoProcessor.from_pretrained(folder)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder).eval()
    assert model.config.get_text_config().use_cache
    image, _ = TsvReader(*tsv_paths(str(toy_dir / "toy_grounding_val"))).read(0)
    inputs = processor(text=[chat_prompt(processor, "Detect red circle.")], images=[image], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_plain_training_learns_and_saves(tiny_config: Path, tmp_path: Path, toy_dir: Path) -> None:
    out = tmp_path / "plain"
    assert_learns(train(tiny_config, out))
    assert_reloads_and_generates(out, toy_dir)
    assert (out / "info.txt").read_text().count("trainable") >= 3


@pytest.mark.parametrize(
    "extra",
    [("--data_flatten", "True"), ("--gradient_checkpointing", "True"), ("--use_soft_ce_for_coords", "True")],
    ids=["data_flatten", "gradient_checkpointing", "soft_ce"],
)
def test_training_variants_learn(tiny_config: Path, tmp_path: Path, toy_dir: Path, extra: tuple[str, ...]) -> None:
    out = tmp_path / "variant"
    assert_learns(train(tiny_config, out, *extra))
    assert_reloads_and_generates(out, toy_dir)
