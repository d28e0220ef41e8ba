"""Tiny, randomly initialised Rex-Omni (Qwen2.5-VL) checkpoints for tests and the CPU quickstart.

Everything is built locally: a byte-level BPE tokenizer trained in-process on an embedded corpus,
a real ``Qwen2_5_VLProcessor`` with the Qwen2.5-VL chat template, and a scaled-down
``Qwen2_5_VLForConditionalGeneration``. The saved folder loads with the ``Auto*`` classes offline.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import torch
from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
from tokenizers.models import BPE
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
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

from dataset.vocab_layout import NUM_COORD_BINS, coordinate_token_ids

logger = logging.getLogger(__name__)

ModelSize = Literal["test", "demo"]
SIZES: tuple[str, ...] = ("test", "demo")
# "project": tokenizer.json with <0>..<999> as new ids; "published": IDEA-Research/Rex-Omni's files.
Layout = Literal["project", "published"]
LAYOUTS: tuple[str, ...] = ("project", "published")
NUM_COORD_TOKENS = NUM_COORD_BINS
# Same order as Qwen2.5-VL, whose ids are 151643.. in the real vocabulary.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
SYSTEM_PROMPT = "You are a helpful assistant."
DEFAULT_MIN_PIXELS = 16 * 28 * 28
DEFAULT_MAX_PIXELS = 256 * 28 * 28
BUILD_INFO_FILE = "tiny_model_build.json"
_BUILD_FORMAT = 4  # bump when the builder's output changes, so cached folders are rebuilt

# Qwen2-VL-style template: default system turn, string or list content, optional "Picture N: " ids.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\n" + SYSTEM_PROMPT + "<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_COLOURS = "red green blue yellow orange purple pink brown black white gray cyan magenta".split()
_SHAPES = "circle square triangle rectangle star ellipse diamond hexagon cross ring".split()
_OBJECTS = (
    "person man woman child dog cat car bus truck bicycle bird horse cup bottle chair table "
    "phone book laptop keyboard mouse tree flower house window door sign button text logo icon"
).split()
_WORDS = (
    "the a an of and or in on at to for with from by is are was be this that these those it its "
    "all each every one two three four five some many small large big tiny left right top bottom "
    "image picture photo object objects region box boxes point points coordinates format output "
    "find detect locate show give list answer question please what where which how many there "
    "none no yes similar reference indicating more given element recognize polygon keypoint json "
    "visible hidden near far above below inside outside next between center corner edge background "
    "about after again against also always another any around back because before being both but can "
    "could day did do does down during early end even first following for from get go good great had "
    "has have he her here him his home if into just know last later like little long look made make "
    "may me might most much must my never new not now number of off often old only open other our out "
    "over own part people place same say see she should since so still such take than their them then "
    "they thing think through time under until up use used very want way we well were when while who "
    "why will work world would year you your street road river mountain sky cloud sun moon water grass "
    "field forest beach boat ship train plane airport kitchen room bed sofa lamp clock vase plate bowl "
    "fork knife spoon pizza cake apple banana orange sandwich umbrella bag backpack suitcase ball kite "
    "skateboard surfboard racket glove helmet shirt jacket hat shoe face hand head eye nose mouth arm leg "
    "menu toolbar tab link search settings profile close submit cancel save delete edit share download"
).split()
_TEMPLATES = (
    "Detect {c}. Output the bounding box coordinates in [x0, y0, x1, y1] format.",
    "Point to {c}.",
    "Detect all {c} and recognize them.",
    'Point to element "{c}".',
    'Detect element "{c}"" in the image.',
    "Can you detect all {c} in this image in polygon format like [x0, y0, x1, y1, x2, y2 ...] "
    "and then recognize them?",
    'Given reference boxes {{"object_1": ["<1><2><3><4>"]}} indicating one or more objects, '
    "find all similar objects in the image and output their bounding boxes.",
)


def _training_corpus(seed: int = 0, num_lines: int = 3000) -> list[str]:
    """Deterministic prompt-like sentences covering Rex-Omni's templates and vocabulary."""
    rng = random.Random(seed)
    phrases = [f"{c} {s}" for c, s in itertools.product(_COLOURS, _SHAPES)] + _OBJECTS
    words = _WORDS + _COLOURS + _SHAPES + _OBJECTS
    # Inflected and capitalised forms widen the merge vocabulary without a bigger word list.
    lines = [SYSTEM_PROMPT] + [" ".join(w + suffix for w in words) for suffix in ("", "s", "ed", "ing", "er")]
    lines += [" ".join(w.capitalize() for w in words), " ".join(w.upper() for w in words)]
    for _ in range(num_lines):
        cats = ", ".join(rng.sample(phrases, rng.randint(1, 3)))
        lines.append(rng.choice(_TEMPLATES).format(c=cats))
        lines.append(
            " ".join(rng.choice(_WORDS + phrases) for _ in range(rng.randint(4, 12))).capitalize() + "."
        )
    return lines


def _train_bpe(vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a byte-level BPE with Qwen2's pre-tokenizer; returns (vocab, merges)."""
    tok = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(_training_corpus(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges  # type: ignore[return-value]


def build_tokenizer(bpe_vocab_size: int = 3000) -> Qwen2Tokenizer:
    """Build a Qwen2 fast tokenizer: trained BPE, then the Qwen special tokens, then ``<0>``..``<999>``.

    Ids are laid out like Qwen's: BPE entries first, then ``SPECIAL_TOKENS`` in Qwen order, then the
    coordinate tokens (single, non-special added tokens so they survive ``skip_special_tokens``).
    """
    vocab, merges = _train_bpe(bpe_vocab_size)
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


_SIZE_PRESETS: dict[str, dict[str, Any]] = {
    # hidden, layers, heads, kv heads, mlp, mrope (sums to head_dim/2); vision hidden, depth, heads, mlp, fullatt
    "test": dict(
        text=dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            intermediate_size=64,
            mrope_section=[2, 3, 3],
        ),
        vision=dict(hidden_size=32, depth=2, num_heads=2, intermediate_size=64, fullatt_block_indexes=[1]),
    ),
    "demo": dict(
        text=dict(
            hidden_size=256,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=704,
            mrope_section=[8, 12, 12],
        ),
        vision=dict(
            hidden_size=128, depth=4, num_heads=4, intermediate_size=256, fullatt_block_indexes=[1, 3]
        ),
        # Random-init std (Qwen's is 0.02): larger weights make the demo learn to localise much
        # sooner (docs/demo.md).
        init_std=0.06,
    ),
}


def _qwen25vl_config(
    text: dict[str, Any],
    vision: dict[str, Any],
    token_ids: dict[str, int],
    vocab_size: int,
    **text_extra: Any,
) -> Qwen2_5_VLConfig:
    """Assemble a Qwen2.5-VL config from text/vision shape dicts and tokenizer ids."""
    text = dict(text)
    mrope_section = text.pop("mrope_section")
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    if sum(mrope_section) * 2 != head_dim:
        raise ValueError(f"mrope_section {mrope_section} must sum to head_dim/2 = {head_dim // 2}")
    text_config = dict(
        vocab_size=vocab_size,
        hidden_act="silu",
        rms_norm_eps=1e-6,
        max_position_embeddings=text_extra.pop("max_position_embeddings", 32768),
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": list(mrope_section)},
        bos_token_id=token_ids["<|endoftext|>"],
        eos_token_id=token_ids["<|im_end|>"],
        pad_token_id=token_ids["<|endoftext|>"],
        use_cache=True,
        **text,
        **text_extra,
    )
    vision_config = dict(
        hidden_act="silu",
        in_channels=3,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        tokens_per_second=2,
        window_size=112,
        out_hidden_size=text["hidden_size"],
        **vision,
    )
    return Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=token_ids["<|image_pad|>"],
        video_token_id=token_ids["<|video_pad|>"],
        vision_start_token_id=token_ids["<|vision_start|>"],
        vision_end_token_id=token_ids["<|vision_end|>"],
        tie_word_embeddings=True,  # as Rex-Omni-3B / Qwen2.5-VL-3B
    )


def tiny_config(size: ModelSize, tokenizer: Any) -> Qwen2_5_VLConfig:
    """Scaled-down Qwen2.5-VL config (``size`` in ``SIZES``) whose token ids come from ``tokenizer``."""
    if size not in _SIZE_PRESETS:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    preset = _SIZE_PRESETS[size]
    vocab_size = _round_up(len(tokenizer), 64)
    config = _qwen25vl_config(preset["text"], preset["vision"], _special_token_ids(tokenizer), vocab_size)
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
    return _qwen25vl_config(text, vision, token_ids, vocab_size, max_position_embeddings=128000)


def _generation_config(tokenizer: Any) -> GenerationConfig:
    """Greedy decoding that stops at ``<|im_end|>`` or ``<|endoftext|>`` (Qwen2.5-VL's eos pair)."""
    ids = _special_token_ids(tokenizer)
    return GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )


COORD_EMBED_SCALE = 8.0


def init_gaussian_coordinate_embeddings(model: Any, coord_ids: list[int], scale: float = COORD_EMBED_SCALE,
                                        seed: int = 0) -> None:
    """Set the row of ``<k>`` to ``2 c + scale * (t u - t^2 w)`` plus a little noise, ``t = k/999 - 1/2``.

    ``c``, ``u``, ``w`` are orthonormal random directions. With tied embeddings the coordinate logits of a
    hidden state ``h`` are then ``2 h.c + scale * (t h.u - t^2 h.w)`` (+ noise): a discretised Gaussian
    over the bins whose mean ``h.u / (2 h.w)`` is *linear* in ``h``. Predicting a coordinate becomes a
    regression the model can learn from pixels; with random rows it is a 1000-way lookup, and a randomly
    initialised demo model stays at an image-blind guess (docs/demo.md).
    """
    embed = model.get_input_embeddings().weight
    dim = embed.shape[1]
    generator = torch.Generator().manual_seed(seed)
    directions = torch.linalg.qr(torch.randn(dim, 3, generator=generator))[0].T  # c, u, w
    t = torch.arange(len(coord_ids), dtype=torch.float32)[:, None] / (len(coord_ids) - 1) - 0.5
    rows = 2.0 * directions[0] + scale * (t * directions[1] - t**2 * directions[2])
    rows = rows + 0.02 * torch.randn(len(coord_ids), dim, generator=generator)
    with torch.no_grad():
        embed[coord_ids] = rows.to(embed.dtype)


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
    if size not in _SIZE_PRESETS:
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
