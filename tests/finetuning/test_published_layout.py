"""SFT and evaluation from a folder in the published Rex-Omni layout; what they save keeps that layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from dataset.vocab_layout import coordinate_token_ids, load_processor
from tests.finetuning.conftest import write_config
from tests.finetuning.test_train import assert_learns, train

pytestmark = pytest.mark.slow

COORD_IDS = list(range(150643, 151643))  # <0>..<999> in the published tokenizer_config.json
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json")


def assert_keeps_published_layout(folder: Path, source: Path) -> None:
    """``folder`` has the source's tokenizer files byte for byte, no tokenizer.json, an unresized embedding,
    and reloads with the same coordinate and special-token ids."""
    assert not (folder / "tokenizer.json").exists()
    for name in TOKENIZER_FILES:
        assert (folder / name).read_bytes() == (source / name).read_bytes(), name
    config = json.loads((folder / "config.json").read_text())
    assert (config.get("text_config") or config)["vocab_size"] == 151936
    with safe_open(str(folder / "model.safetensors"), "pt") as handle:
        assert handle.get_slice("model.embed_tokens.weight").get_shape()[0] == 151936
    tokenizer = load_processor(folder).tokenizer
    assert coordinate_token_ids(tokenizer) == COORD_IDS
    assert len(tokenizer) == 151665 and tokenizer.convert_tokens_to_ids("<|image_pad|>") == 151655


def generates_from(folder: Path, toy: Path) -> list[int]:
    """New token ids the saved model generates for a toy val image (prompt built by the layout-aware loader)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from dataset.chat import render_prompt
    from dataset.tsv import TsvPaths, TsvReader

    processor = load_processor(folder)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder).eval()
    image, _ = TsvReader(*TsvPaths.from_prefix(toy / "toy_grounding_val")).read(0)
    inputs = processor(text=[render_prompt(processor, "Detect red circle.")], images=[image], return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    return out[0, inputs["input_ids"].shape[1]:].tolist()


def test_sft_and_evaluation_from_published_layout(published_model_dir: Path, toy_dir: Path, tmp_path: Path) -> None:
    from tools import evaluate

    config = write_config(tmp_path, published_model_dir, toy_dir)
    out = tmp_path / "sft"
    losses = train(config, out, "--use_soft_ce_for_coords", "True", "--save_strategy", "steps",
                   "--save_steps", "20", steps=20)
    assert_learns(losses)
    assert_keeps_published_layout(out, published_model_dir)
    assert_keeps_published_layout(out / "checkpoint-20", published_model_dir)
    assert len(generates_from(out, toy_dir)) >= 1

    assert evaluate.main(["--model", str(out), "--split", str(toy_dir / "toy_grounding_val"), "--task", "grounding",
                          "--max_samples", "4", "--batch_size", "4", "--max_new_tokens", "24",
                          "--num_visualisations", "0", "--output_dir", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["num_samples"] == 4 and 0.0 <= metrics["parse_rate"] <= 1.0


def test_soft_ce_uses_the_tokenizer_ids(published_model_dir: Path) -> None:
    """The trainer's coordinate ids for the published tokenizer are the repurposed ids, not a block at the end."""
    processor = load_processor(published_model_dir)
    ids = coordinate_token_ids(processor.tokenizer)
    assert ids == COORD_IDS and max(ids) < len(processor.tokenizer) - 22
