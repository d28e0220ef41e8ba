"""bench/demo_sweep/tie_word_variants.py: no-space rows move towards their twins, nothing else changes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

from demo.tiny_model import build_tiny_rex_omni

REPO = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("tie_word_variants",
                                                  REPO / "bench" / "demo_sweep" / "tie_word_variants.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_are_mixed_with_their_twins(tmp_path: Path) -> None:
    src = build_tiny_rex_omni(tmp_path / "src", size="test")
    dst = tmp_path / "dst"
    changed = _module().tie_word_variants(str(src), str(dst))
    vocab = AutoTokenizer.from_pretrained(dst).get_vocab()  # the tokenizer files were copied
    before = Qwen2_5_VLForConditionalGeneration.from_pretrained(src).get_input_embeddings().weight
    after = Qwen2_5_VLForConditionalGeneration.from_pretrained(dst).get_input_embeddings().weight
    plain = [w for w in vocab if not w.startswith("\u0120") and "\u0120" + w in vocab]
    assert changed == len(plain) > 0
    for word in plain[:20]:
        want = 0.8 * before[vocab["\u0120" + word]] + 0.6 * before[vocab[word]]
        torch.testing.assert_close(after[vocab[word]], want)
    untouched = sorted(set(range(before.shape[0])) - {vocab[w] for w in plain})
    assert torch.equal(after[untouched], before[untouched])
