"""Tiny, randomly initialised Rex-Omni (Qwen2.5-VL) checkpoints for tests and the CPU quickstart.

Everything is built locally: a byte-level BPE tokenizer trained in-process on an embedded corpus,
a real ``Qwen2_5_VLProcessor`` with the Qwen2.5-VL chat template, and a scaled-down
``Qwen2_5_VLForConditionalGeneration``. The saved folder loads with the ``Auto*`` classes offline.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import (
    AddedToken,
    GenerationConfig,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2Tokenizer,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)

from dataset.vocab_layout import NUM_COORD_BINS, coordinate_token_ids
from demo.tiny_shapes import (
    SIZE_PRESETS,
    SIZES,
    ModelSize,
    init_gaussian_coordinate_embeddings,
    qwen25vl_config,
)
from demo.tiny_vocab import CHAT_TEMPLATE, SPECIAL_TOKENS, train_bpe

logger = logging.getLogger(__name__)

# "project": tokenizer.json with <0>..<999> as new ids; "published": IDEA-Research/Rex-Omni's files.
Layout = Literal["project", "published"]
LAYOUTS: tuple[str, ...] = ("project", "published")
NUM_COORD_TOKENS = NUM_COORD_BINS
DEFAULT_MIN_PIXELS = 16 * 28 * 28
DEFAULT_MAX_PIXELS = 256 * 28 * 28
BUILD_INFO_FILE = "tiny_model_build.json"
_BUILD_FORMAT = 4  # bump when the builder's output changes, so cached folders are rebuilt



def build_tokenizer(bpe_vocab_size: int = 3000) -> Qwen2Tokenizer:
    """Build a Qwen2 fast tokenizer: trained BPE, then the Qwen special tokens, then ``<0>``..``<999>``.

    Ids are laid out like Qwen's: BPE entries first, then ``SPECIAL_TOKENS`` in Qwen order, then the
    coordinate tokens (single, non-special added tokens so they survive ``skip_special_tokens``).
    """
    vocab, merges = train_bpe(bpe_vocab_size)
    extra = list(SPECIAL_TOKENS) + [f"<{i}>" for i in range(NUM_COORD_TOKENS)]
    for token in extra:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=list(SPECIAL_TOKENS),
        model_max_length=32768,
        errors="replace",
    )
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tokenizer.add_tokens(
        [AddedToken(f"<{i}>", special=False, normalized=False) for i in range(NUM_COORD_TOKENS)]
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    moved = [t for t in extra if tokenizer.convert_tokens_to_ids(t) != vocab[t]]
    if moved:  # the model config relies on this id layout
        raise RuntimeError(f"added tokens changed ids: {moved[:5]}")
    return tokenizer


def _special_token_ids(tokenizer: Any) -> dict[str, int]:
    """Look up the ids the model config must agree with; fails loudly if any is missing."""
    ids = {}
    for token in SPECIAL_TOKENS:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ValueError(f"tokenizer has no token {token!r}")
        ids[token] = token_id
    return ids


def build_processor(
    tokenizer: Qwen2Tokenizer, min_pixels: int = DEFAULT_MIN_PIXELS, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Qwen2_5_VLProcessor:
    """Qwen2.5-VL processor (image + video processor + tokenizer + chat template).

    ``min_pixels``/``max_pixels`` bound the resized image area (pixels, multiples of 28*28 advised);
    they are stored as the image processor's ``size`` {shortest_edge, longest_edge} in transformers 5.
    """
    if not 0 < min_pixels <= max_pixels:
        raise ValueError(
            f"need 0 < min_pixels <= max_pixels, got min_pixels={min_pixels}, max_pixels={max_pixels}"
        )
    # Pass `size` explicitly: given only min/max_pixels, transformers 5.17 mutates the class-level size dict.
    size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    image_processor = Qwen2VLImageProcessor(
        size=dict(size), patch_size=14, temporal_patch_size=2, merge_size=2
    )
    video_processor = Qwen2VLVideoProcessor(
        size=dict(size), patch_size=14, temporal_patch_size=2, merge_size=2
    )
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple




def tiny_config(size: ModelSize, tokenizer: Any) -> Qwen2_5_VLConfig:
    """Scaled-down Qwen2.5-VL config (``size`` in ``SIZES``) whose token ids come from ``tokenizer``."""
    if size not in SIZE_PRESETS:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    preset = SIZE_PRESETS[size]
    vocab_size = _round_up(len(tokenizer), 64)
    config = qwen25vl_config(preset["text"], preset["vision"], _special_token_ids(tokenizer), vocab_size)
    if "init_std" in preset:
        for cfg in (config, config.text_config, config.vision_config):
            cfg.initializer_range = preset["init_std"]
    return config


def rex_omni_3b_config(tokenizer: Any | None = None) -> Qwen2_5_VLConfig:
    """The real Rex-Omni-3B / Qwen2.5-VL-3B shape (about 3.75B parameters), for random-weight benchmarks.

    Token ids are Qwen's (151643..) unless ``tokenizer`` is given, in which case they are looked up in it.
    """
    token_ids = (
        _special_token_ids(tokenizer)
        if tokenizer is not None
        else {t: 151643 + i for i, t in enumerate(SPECIAL_TOKENS)}
    )
    vocab_size = max(151936, _round_up(len(tokenizer), 64)) if tokenizer is not None else 151936
    text = dict(
        hidden_size=2048,
        num_hidden_layers=36,
        num_attention_heads=16,
        num_key_value_heads=2,
        intermediate_size=11008,
        mrope_section=[16, 24, 24],
    )
    vision = dict(
        hidden_size=1280,
        depth=32,
        num_heads=16,
        intermediate_size=3420,
        fullatt_block_indexes=[7, 15, 23, 31],
    )
    return qwen25vl_config(text, vision, token_ids, vocab_size, max_position_embeddings=128000)


def _generation_config(tokenizer: Any) -> GenerationConfig:
    """Greedy decoding that stops at ``<|im_end|>`` or ``<|endoftext|>`` (Qwen2.5-VL's eos pair)."""
    ids = _special_token_ids(tokenizer)
    return GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )




def _build_into(folder: Path, size: ModelSize, seed: int, min_pixels: int, max_pixels: int) -> None:
    """Build tokenizer, processor and model and save them all into ``folder``."""
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer, min_pixels=min_pixels, max_pixels=max_pixels)
    config = tiny_config(size, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config)
        if size == "demo":
            init_gaussian_coordinate_embeddings(model, coordinate_token_ids(tokenizer))
    model.generation_config = _generation_config(tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    # Legacy file some tools copy next to checkpoints (train.py does); the .jinja one wins on load.
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}, indent=2) + "\n")
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("built %s Rex-Omni (%d parameters, vocab %d) in %s", size, n_params, len(tokenizer), folder)


def build_tiny_rex_omni(
    output_dir: str | os.PathLike[str],
    size: ModelSize = "test",
    seed: int = 0,
    min_pixels: int = DEFAULT_MIN_PIXELS,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    force: bool = False,
    layout: Layout = "project",
) -> Path:
    """Build and save a tiny random Rex-Omni to ``output_dir``; returns the folder.

    ``layout="published"`` writes the files of the published Rex-Omni checkpoint instead
    (``demo/published_layout_model.py``): real-sized vocabulary, 4.x configs, no ``tokenizer.json``.

    Deterministic for a given ``seed``. Builds in a sibling temp folder and renames it into place, so a
    half-written model is never visible. Skips the build when ``output_dir`` already holds one made with
    the same arguments (unless ``force``); refuses to replace a non-empty folder it did not build.
    """
    if size not in SIZE_PRESETS:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    out = Path(output_dir)
    build_args: dict[str, Any] = dict(
        format=_BUILD_FORMAT, size=size, seed=seed, min_pixels=min_pixels, max_pixels=max_pixels
    )
    if layout != "project":  # keeps the build record (and so the cache) of project-layout folders unchanged
        build_args["layout"] = layout
    existing = _read_build_info(out)
    if existing == build_args and not force:
        logger.info("tiny model already built in %s; skipping (use force=True to rebuild)", out)
        return out
    if out.exists() and any(out.iterdir()) and existing is None and not force:
        raise FileExistsError(
            f"{out} exists and was not built by build_tiny_rex_omni; pass force=True to replace it"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        if layout == "published":
            from demo.published_layout_model import write_published_model

            write_published_model(tmp, size, seed, min_pixels, max_pixels)
        else:
            _build_into(tmp, size, seed, min_pixels, max_pixels)
        (tmp / BUILD_INFO_FILE).write_text(json.dumps(build_args, indent=2) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes it owner-only
        if _read_build_info(out) == build_args and not force:
            logger.info("another process built %s meanwhile; keeping it", out)
            return out
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except OSError:
        if _read_build_info(out) != build_args:  # lost a race to a concurrent builder with the same args?
            raise
        logger.info("another process built %s concurrently; using it", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _read_build_info(folder: Path) -> dict[str, Any] | None:
    """The build arguments recorded in ``folder``, or None if it holds no finished tiny-model build."""
    try:
        return json.loads((folder / BUILD_INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
