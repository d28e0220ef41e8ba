"""Write a tiny random Rex-Omni in the exact file layout of the published ``IDEA-Research/Rex-Omni`` folder.

Scaled down in hidden size and depth only; the vocabulary is real-sized:

* ``vocab.json`` + ``merges.txt``: a synthetic byte-level BPE with 151,643 regular entries (a small BPE
  trained on the embedded corpus, then filler merges), no ``tokenizer.json``;
* ``tokenizer_config.json``: Qwen's special tokens from 151643, and ``added_tokens_decoder`` repurposing
  ids 150643..151642 as ``<0>``..``<999>`` (also in ``additional_special_tokens``);
* ``config.json`` as transformers 4.x wrote it (flat text fields, ``rope_scaling`` with ``type: mrope``,
  ``vision_config`` with ``fullatt_block_indexes``, tied embeddings, ``vocab_size`` 151936);
* ``preprocessor_config.json`` naming ``Qwen2VLImageProcessor`` with ``min_pixels``/``max_pixels``;
  ``chat_template.json``; ``generation_config.json``; ``model.safetensors``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from tokenizers import pre_tokenizers
from transformers import Qwen2_5_VLForConditionalGeneration

from demo.tiny_shapes import SIZE_PRESETS, ModelSize, init_gaussian_coordinate_embeddings, qwen25vl_config
from demo.tiny_vocab import CHAT_TEMPLATE, SPECIAL_TOKENS, train_bpe

NUM_REGULAR_TOKENS = 151_643  # Qwen2's byte-level BPE entries; <|endoftext|> is the next id
EMBEDDING_ROWS = 151_936  # Qwen2.5-VL-3B's vocab_size (padded past the last special token)
FIRST_COORD_ID = 150_643  # <0>; <999> is 151642, the last regular id
# Qwen2.5's tool/FIM tokens follow the vision ones (not special, so they survive skip_special_tokens).
QWEN_EXTRA_TOKENS = ("<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                     "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>")
QWEN_SPECIAL_IDS = {token: NUM_REGULAR_TOKENS + i for i, token in enumerate(SPECIAL_TOKENS)}
PUBLISHED_TRANSFORMERS_VERSION = "4.51.3"
_IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073]
_IMAGE_STD = [0.26862954, 0.26130258, 0.27577711]


def synthetic_bpe(num_entries: int = NUM_REGULAR_TOKENS) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE with exactly ``num_entries`` entries: a small trained one, then filler merges.

    Filler entry ``t + c`` (earlier entry ``t``, byte character ``c``) comes with the merge ``(t, c)``, so
    every entry past the byte alphabet is reachable by a merge, as in Qwen's vocabulary. About a second.
    """
    vocab, merges = train_bpe(3000)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    order = sorted(vocab, key=vocab.__getitem__)
    merges = list(merges)
    for base in order:  # `order` grows while we walk it: a breadth-first extension
        for char in alphabet:
            if len(vocab) >= num_entries:
                return vocab, merges
            if base + char not in vocab:
                vocab[base + char] = len(vocab)
                order.append(base + char)
                merges.append((base, char))
    return vocab, merges


def _added_token(content: str, special: bool) -> dict[str, Any]:
    return dict(content=content, lstrip=False, normalized=False, rstrip=False, single_word=False, special=special)


def published_tokenizer_config() -> dict[str, Any]:
    """``tokenizer_config.json`` of the published layout (ids as in Rex-Omni's file)."""
    decoder = {str(FIRST_COORD_ID + k): _added_token(f"<{k}>", True) for k in range(1000)}
    qwen_tokens = list(SPECIAL_TOKENS) + list(QWEN_EXTRA_TOKENS)
    decoder.update({str(NUM_REGULAR_TOKENS + i): _added_token(t, t in SPECIAL_TOKENS)
                    for i, t in enumerate(qwen_tokens)})
    return dict(
        add_prefix_space=False,
        added_tokens_decoder=decoder,
        additional_special_tokens=list(SPECIAL_TOKENS[1:]) + [f"<{k}>" for k in range(1000)],
        bos_token=None,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
        eos_token="<|im_end|>",
        errors="replace",
        model_max_length=131072,
        pad_token="<|endoftext|>",
        split_special_tokens=False,
        tokenizer_class="Qwen2Tokenizer",
        unk_token=None,
    )


def published_config(size: ModelSize) -> dict[str, Any]:
    """``config.json`` as transformers 4.x writes it for Qwen2.5-VL, with the ``size`` preset's shapes."""
    preset = SIZE_PRESETS[size]
    text = dict(preset["text"])
    mrope_section = text.pop("mrope_section")
    vision = dict(preset["vision"])
    ids = QWEN_SPECIAL_IDS
    return dict(
        architectures=["Qwen2_5_VLForConditionalGeneration"], attention_dropout=0.0,
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        vision_token_id=ids["<|vision_pad|>"], image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], hidden_act="silu",
        initializer_range=preset.get("init_std", 0.02), max_position_embeddings=128000, max_window_layers=70,
        model_type="qwen2_5_vl", rms_norm_eps=1e-06, rope_theta=1000000.0, sliding_window=32768,
        tie_word_embeddings=True, torch_dtype="float32", transformers_version=PUBLISHED_TRANSFORMERS_VERSION,
        use_cache=True, use_sliding_window=False, **text,
        vision_config=dict(
            hidden_act="silu", in_chans=3, out_hidden_size=text["hidden_size"], patch_size=14,
            spatial_merge_size=2, spatial_patch_size=14, window_size=112, tokens_per_second=2,
            temporal_patch_size=2, **vision,
        ),
        rope_scaling={"type": "mrope", "mrope_section": list(mrope_section)},
        vocab_size=EMBEDDING_ROWS,
    )


def published_preprocessor_config(min_pixels: int, max_pixels: int) -> dict[str, Any]:
    """``preprocessor_config.json``: the 4.x image processor with its pixel limits (image area, pixels)."""
    return dict(min_pixels=min_pixels, max_pixels=max_pixels, patch_size=14, temporal_patch_size=2,
                merge_size=2, image_mean=_IMAGE_MEAN, image_std=_IMAGE_STD,
                image_processor_type="Qwen2VLImageProcessor", processor_class="Qwen2_5_VLProcessor")


def published_generation_config() -> dict[str, Any]:
    """Greedy, stopping at ``<|im_end|>`` or ``<|endoftext|>``."""
    ids = QWEN_SPECIAL_IDS
    return dict(bos_token_id=ids["<|endoftext|>"], pad_token_id=ids["<|endoftext|>"], do_sample=False,
                eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
                transformers_version=PUBLISHED_TRANSFORMERS_VERSION)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_published_tokenizer(folder: Path) -> None:
    """``vocab.json``, ``merges.txt`` and ``tokenizer_config.json`` (no ``tokenizer.json``)."""
    vocab, merges = synthetic_bpe()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _write_json(folder / "tokenizer_config.json", published_tokenizer_config())


def _write_weights(folder: Path, size: ModelSize, seed: int) -> None:
    """``model.safetensors`` of a random model with the config's shapes (checkpoint key names as published)."""
    preset = SIZE_PRESETS[size]
    config = qwen25vl_config(preset["text"], preset["vision"], QWEN_SPECIAL_IDS, EMBEDDING_ROWS)
    for cfg in (config, config.text_config, config.vision_config):
        cfg.initializer_range = preset.get("init_std", 0.02)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config)
        if size == "demo":
            init_gaussian_coordinate_embeddings(model, list(range(FIRST_COORD_ID, FIRST_COORD_ID + 1000)))
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        model.save_pretrained(tmp)
        (Path(tmp) / "model.safetensors").rename(folder / "model.safetensors")
    (folder / "model.safetensors").chmod(0o644)


def write_published_model(folder: Path, size: ModelSize, seed: int, min_pixels: int, max_pixels: int) -> None:
    """Write every file of the published layout into the existing, empty ``folder``."""
    write_published_tokenizer(folder)
    _write_json(folder / "config.json", published_config(size))
    _write_json(folder / "preprocessor_config.json", published_preprocessor_config(min_pixels, max_pixels))
    _write_json(folder / "generation_config.json", published_generation_config())
    _write_json(folder / "chat_template.json", {"chat_template": CHAT_TEMPLATE})
    _write_weights(folder, size, seed)
