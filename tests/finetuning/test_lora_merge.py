"""tools/merge_lora.py: the merged folder loads with peft blocked and computes the peft model's logits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

from modeling.lora import LoraSettings, apply_lora, coordinate_and_marker_ids

REPO_ROOT = Path(__file__).resolve().parents[2]
INPUT_IDS = [[1, 5, 17, 42, 99, 7, 3, 250]]

# Runs in a fresh interpreter where `import peft` fails, so the merged folder is proven peft-free.
NO_PEFT_LOGITS = """
import sys, json, torch
sys.modules["peft"] = None
from transformers import Qwen2_5_VLForConditionalGeneration
model = Qwen2_5_VLForConditionalGeneration.from_pretrained(sys.argv[1]).eval()
with torch.no_grad():
    logits = model(input_ids=torch.tensor(json.loads(sys.argv[2]))).logits
torch.save(logits, sys.argv[3])
print("peft loaded:", "peft" in sys.modules and sys.modules["peft"] is not None)
"""


def random_adapter(base: Path, out: Path) -> torch.Tensor:
    """Save an adapter with non-zero LoRA B and token deltas on ``base``; returns the peft model's logits."""
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(base)
    ids = coordinate_and_marker_ids(AutoProcessor.from_pretrained(base).tokenizer)
    peft_model = apply_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0, vision=True, merger=True,
                                                coord_tokens=True), {"llm": False, "vision": False, "merger": False},
                            ids)
    with torch.no_grad():  # peft starts B (and the token deltas) at zero: make the adapter change outputs
        for name, param in peft_model.named_parameters():
            if "lora_B" in name or "trainable_tokens_delta" in name:
                param.normal_(0, 0.5)
    peft_model.save_pretrained(out)
    AutoProcessor.from_pretrained(base).save_pretrained(out)
    peft_model.eval()
    with torch.no_grad():
        logits = peft_model(input_ids=torch.tensor(INPUT_IDS)).logits
        with peft_model.disable_adapter():
            base_logits = peft_model(input_ids=torch.tensor(INPUT_IDS)).logits
    assert not torch.allclose(logits, base_logits, atol=1e-3), "the adapter should change the outputs"
    return logits


@pytest.mark.slow
def test_merged_folder_matches_the_peft_model_without_peft(tiny_model_dir: Path, tmp_path: Path) -> None:
    adapter, merged = tmp_path / "adapter", tmp_path / "merged"
    expected = random_adapter(tiny_model_dir, adapter)
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_model_dir)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "tools/merge_lora.py", "--adapter", str(adapter), "--output", str(merged)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (merged / "model.safetensors").is_file() and not (merged / "adapter_config.json").exists()
    proc = subprocess.run([sys.executable, "-c", NO_PEFT_LOGITS, str(merged), json.dumps(INPUT_IDS),
                           str(tmp_path / "logits.pt")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "peft loaded: False" in proc.stdout
    torch.testing.assert_close(torch.load(tmp_path / "logits.pt"), expected, rtol=1e-4, atol=1e-4)


def test_bad_adapter_folder_is_a_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "tools/merge_lora.py", "--adapter", str(tmp_path), "--output",
                           str(tmp_path / "out")], cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: --adapter {tmp_path}: no adapter_config.json")


@pytest.mark.slow
def test_merge_on_a_published_layout_base_keeps_the_trained_ids(published_model_dir: Path, tmp_path: Path) -> None:
    # As SFT leaves it: the adapter folder holds the processor with the published tokenizer files put back.
    from dataset.vocab_layout import keep_tokenizer_layout, load_processor, load_tokenizer
    from modeling.adapter_folder import merge_lora

    adapter, merged = tmp_path / "adapter", tmp_path / "merged"
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(published_model_dir)
    apply_lora(model, LoraSettings(r=2, alpha=4, dropout=0.0, vision=False, merger=False, coord_tokens=False),
               {"llm": False, "vision": False, "merger": False}, []).save_pretrained(adapter)
    load_processor(str(published_model_dir)).save_pretrained(adapter)
    assert keep_tokenizer_layout(published_model_dir, adapter)
    merge_lora(str(adapter), merged, base=str(published_model_dir))
    assert (merged / "vocab.json").is_file() and not (merged / "tokenizer.json").exists()
    # 150766 is <123>'s trained id; a plain transformers 5 load of these files would give 151766.
    assert load_tokenizer(str(merged))("<123>", add_special_tokens=False)["input_ids"] == [150766]
