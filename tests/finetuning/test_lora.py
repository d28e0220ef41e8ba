"""LoRA for SFT: which layers get adapters, what else trains, validation, and the QLoRA CPU error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

from finetuning.arguments import parse_args
from modeling.lora import LoraSettings, apply_lora, coordinate_and_marker_ids, select_target_modules
from modeling.parts import part_of

REPO_ROOT = Path(__file__).resolve().parents[2]
# Test model: 2 decoder layers x 7 projections, 2 vision blocks x (qkv, proj, gate, up, down), merger mlp.0/mlp.2.
LLM_LINEARS, VISION_LINEARS, MERGER_LINEARS = 2 * 7, 2 * 5, 2


@pytest.fixture(scope="module")
def tiny_model_path(tiny_model_dir: Path) -> Path:
    return tiny_model_dir


def load(path: Path) -> Qwen2_5_VLForConditionalGeneration:
    return Qwen2_5_VLForConditionalGeneration.from_pretrained(path)


@pytest.mark.parametrize(
    ("vision", "merger", "expected"),
    [(False, False, LLM_LINEARS), (True, False, LLM_LINEARS + VISION_LINEARS),
     (True, True, LLM_LINEARS + VISION_LINEARS + MERGER_LINEARS)],
)
def test_targets_follow_the_part_switches(tiny_model_path: Path, vision: bool, merger: bool, expected: int) -> None:
    targets = select_target_modules(load(tiny_model_path), LoraSettings(vision=vision, merger=merger))
    assert len(targets) == expected
    assert not any(t.endswith("lm_head") for t in targets)


def test_named_targets_and_unknown_names(tiny_model_path: Path) -> None:
    model = load(tiny_model_path)
    targets = select_target_modules(model, LoraSettings(target_modules="q_proj,v_proj"))
    assert len(targets) == 2 * 2 and all(t.endswith(("q_proj", "v_proj")) for t in targets)
    with pytest.raises(ValueError, match="qkv"):  # qkv lives in the vision tower, not selected here
        select_target_modules(model, LoraSettings(target_modules="qkv"))


def test_tune_flags_decide_the_parts_without_adapters(tiny_model_path: Path) -> None:
    """LoRA on llm + vision; merger has no adapter and tune_mm_mlp True: it trains fully."""
    model = apply_lora(load(tiny_model_path), LoraSettings(r=4, alpha=8, vision=True),
                       {"llm": True, "vision": True, "merger": True})
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    merger_base = {n for n in trainable if part_of(n) == "merger"}
    assert merger_base and all(".lora_" not in n for n in merger_base)
    others = trainable - merger_base
    assert others and all(".lora_" in n for n in others)  # llm and vision: adapters only
    model = apply_lora(load(tiny_model_path), LoraSettings(r=4, alpha=8), {"llm": True, "vision": False,
                                                                          "merger": False})
    assert all(".lora_" in n and part_of(n) == "llm" for n, p in model.named_parameters() if p.requires_grad)


def test_coordinate_rows_train_through_trainable_tokens(tiny_model_path: Path) -> None:
    tokenizer = AutoProcessor.from_pretrained(tiny_model_path).tokenizer
    ids = coordinate_and_marker_ids(tokenizer)
    assert len(ids) == 1000 + 4
    model = apply_lora(load(tiny_model_path), LoraSettings(r=4, alpha=8, coord_tokens=True),
                       {"llm": True, "vision": False, "merger": False}, ids)
    deltas = [p for n, p in model.named_parameters() if "trainable_tokens_delta" in n]
    hidden = model.config.get_text_config().hidden_size
    assert len(deltas) == 1 and deltas[0].shape == (len(ids), hidden) and deltas[0].requires_grad
    embed = model.get_input_embeddings()
    assert not any(p.requires_grad for n, p in embed.named_parameters() if "delta" not in n)


def test_lora_needs_no_tune_flag_and_bits_needs_lora(tiny_config: Path, tmp_path: Path) -> None:
    base = ["--config", str(tiny_config), "--output_dir", str(tmp_path / "o")]
    model_args, _, _, _ = parse_args([*base, "--lora_enable", "True", "--lora_r", "8"])
    assert model_args.lora_enable and model_args.lora_r == 8
    with pytest.raises(ValueError, match="lora_enable"):
        parse_args([*base, "--tune_mm_llm", "True", "--bits", "4"])
    with pytest.raises(ValueError, match="lora_dropout"):
        parse_args([*base, "--lora_enable", "True", "--lora_dropout", "1.5"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is for machines without CUDA")
@pytest.mark.parametrize("bits", ["4", "8"])
def test_qlora_on_cpu_is_a_one_line_error(tiny_config: Path, tmp_path: Path, bits: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "finetuning.train", "--config", str(tiny_config), "--output_dir",
                           str(tmp_path / "o"), "--lora_enable", "True", "--bits", bits],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert lines == [f"error: bits={bits} (QLoRA) needs a CUDA GPU and bitsandbytes; use bits=16 on CPU"]
    assert "Traceback" not in proc.stderr
