"""Check a Rex-Omni model folder before training: what would make SFT or GRPO silently train wrong.

:func:`check_model_folder` returns the report lines, or raises :class:`ModelCheckError` with a one-line
reason: a coordinate token ``<N>`` that is not a single token, a many-to-one vocabulary, special-token
ids that disagree with ``config.json``, token ids beyond the embedding, or a missing chat template.
:func:`run_model_check` prints that report the way ``tools/check_model.py`` and the launchers' pre-flight
checks (``finetuning.check_args``, ``verl.trainer.main --check``) show it. :func:`model_path_problem`
is the cheap check both stages run first: the folder or cached hub id exists.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from dataset.vocab_layout import (
    NUM_COORD_BINS,
    TOKENIZER_JSON_FILE,
    coordinate_token_ids,
    is_published_layout,
    load_processor,
    repurposed_token_ids,
)

# config.json keys that hold a token id, and the token each must be.
CONFIG_TOKEN_IDS = {
    "image_token_id": "<|image_pad|>",
    "video_token_id": "<|video_pad|>",
    "vision_start_token_id": "<|vision_start|>",
    "vision_end_token_id": "<|vision_end|>",
}


class ModelCheckError(ValueError):
    """A model folder that would train wrong; the message is one line."""


# Which loaders read a published-layout folder with the trained ids, measured on the test-size fixture
# (tools/make_tiny_model.py --layout published) with transformers 4.51.3 (the original's pin) and 5.x;
# docs/starting-from-rex-omni.md has the table, tests/dataset/test_transformers4_tokenizer.py the 4.51.3 rows.
PUBLISHED_LOADERS = ("tokenizer loaders: trained ids with this project's loader (dataset.vocab_layout) and with "
                     "transformers 4.51.3 use_fast=False (what the original asks for; vLLM tokenizer_mode='slow'); "
                     "shifted by +1000 (<0> -> 151643, <|im_end|> -> 152645) with transformers 4.51.3 "
                     "use_fast=True and any transformers 5 AutoTokenizer/AutoProcessor load; this project's vLLM "
                     "engines (rollout, evaluation) get a tokenizer.json with the trained ids (engine_tokenizer_path)")


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def weight_shapes(folder: Path) -> dict[str, list[int]]:
    """``{tensor name: shape}`` from the safetensors headers (no weights are read)."""
    from safetensors import safe_open

    index = folder / "model.safetensors.index.json"
    files = sorted(set(_read_json(index)["weight_map"].values())) if index.is_file() else ["model.safetensors"]
    shapes: dict[str, list[int]] = {}
    for name in files:
        if not (folder / name).is_file():
            raise ModelCheckError(f"no weights file {name}")
        with safe_open(str(folder / name), "pt") as handle:
            shapes.update({key: list(handle.get_slice(key).get_shape()) for key in handle.keys()})
    return shapes


def shared_ids_in_tokenizer_json(folder: Path) -> list[tuple[int, str, str]]:
    """``(id, added string, vocabulary string)`` for added tokens of ``tokenizer.json`` that reuse a
    vocabulary id under another string (transformers 5 re-numbers these, so the ids no longer match)."""
    path = folder / TOKENIZER_JSON_FILE
    if not path.is_file():
        return []
    data = _read_json(path)
    by_id = {token_id: token for token, token_id in data["model"]["vocab"].items()}
    return [(t["id"], t["content"], by_id[t["id"]]) for t in data.get("added_tokens", [])
            if t["id"] in by_id and by_id[t["id"]] != t["content"]]


def _coordinate_lines(tokenizer: Any) -> tuple[list[str], list[int]]:
    try:
        ids = coordinate_token_ids(tokenizer)
    except ValueError as err:
        raise ModelCheckError(str(err)) from None
    contiguous = ids == list(range(ids[0], ids[0] + NUM_COORD_BINS))
    return [f"coordinate tokens: <0> -> {ids[0]}, <{NUM_COORD_BINS - 1}> -> {ids[-1]}; all {NUM_COORD_BINS} "
            f"single tokens, {'contiguous' if contiguous else 'not contiguous'} ids, each decodes back: "
            f"{all(tokenizer.decode([i]) == f'<{k}>' for k, i in enumerate(ids))}"], ids


def _vocabulary_lines(folder: Path, tokenizer: Any, config: dict[str, Any]) -> list[str]:
    vocab = tokenizer.get_vocab()
    max_id = max(vocab.values())
    if len(tokenizer) != max_id + 1:
        raise ModelCheckError(f"many-to-one vocabulary: len(tokenizer)={len(tokenizer)} strings but ids run "
                              f"0..{max_id}; some ids are reachable from several strings")
    text = config.get("text_config") or config
    vocab_size = text.get("vocab_size", config.get("vocab_size"))
    shapes = weight_shapes(folder)
    embed = next((s for k, s in shapes.items() if k.endswith("embed_tokens.weight")), None)
    if embed is None:
        raise ModelCheckError("no embed_tokens.weight in the checkpoint")
    if embed[0] != vocab_size:
        raise ModelCheckError(f"embedding has {embed[0]} rows but config.json vocab_size is {vocab_size}")
    if max_id >= embed[0]:
        raise ModelCheckError(f"token ids run to {max_id} but the embedding has only {embed[0]} rows")
    tied = config.get("tie_word_embeddings", text.get("tie_word_embeddings", False))
    has_lm_head = any(k.endswith("lm_head.weight") for k in shapes)
    if not tied and not has_lm_head:
        raise ModelCheckError("tie_word_embeddings is false but the checkpoint has no lm_head.weight")
    return [f"vocabulary: len(tokenizer)={len(tokenizer)}, ids 0..{max_id}; embedding rows {embed[0]} "
            f"(config vocab_size {vocab_size}, hidden {embed[1]})",
            f"tied embeddings: {'yes' if tied else 'no'} (lm_head.weight in checkpoint: {has_lm_head})"]


def _special_token_lines(tokenizer: Any, config: dict[str, Any]) -> list[str]:
    found = {}
    for key, token in CONFIG_TOKEN_IDS.items():
        token_id = tokenizer.convert_tokens_to_ids(token)
        if key in config and config[key] != token_id:
            raise ModelCheckError(f"config.json {key}={config[key]} but the tokenizer gives {token} id "
                                  f"{token_id}: the vocabulary was re-numbered")
        found[token] = token_id
    return ["special tokens: " + ", ".join(f"{t}={i}" for t, i in found.items()) + " (agree with config.json)"]


def _processor_lines(processor: Any) -> list[str]:
    if not processor.chat_template:
        raise ModelCheckError("no chat template (chat_template.jinja/.json or in tokenizer_config.json)")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Detect cat."}]}]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if "<|image_pad|>" not in prompt:
        raise ModelCheckError("the chat template renders no <|image_pad|> for an image turn")
    size = processor.image_processor.size
    return [f"chat template: renders an image turn ({len(prompt)} characters, ends {prompt[-22:]!r})",
            f"processor pixel limits: min_pixels={size['shortest_edge']} max_pixels={size['longest_edge']} "
            f"({type(processor.image_processor).__name__})"]


def model_path_problem(path: str, cache_dir: str | None = None) -> str | None:
    """Why ``path`` cannot be loaded offline, in a few words, or None: a local folder needs config.json,
    a hub id (``org/name``) must be in the local Hugging Face cache. Reads no weights."""
    if os.path.isdir(path):
        return None if os.path.isfile(os.path.join(path, "config.json")) else \
            "folder has no config.json (not a Hugging Face model)"
    if path.count("/") == 1 and not path.startswith((".", "/", "work_dirs")):
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(path, "config.json", cache_dir=cache_dir), str):
            return None
        return f"not a local folder and not in the Hugging Face cache (download it first: huggingface-cli download {path})"
    return "no such directory"


def resolve_model_folder(name_or_path: str) -> Path:
    """A local folder as is; a hub id to its snapshot in the local cache (nothing is downloaded)."""
    if Path(name_or_path).is_dir():
        return Path(name_or_path)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name_or_path, local_files_only=True))
    except Exception:  # noqa: BLE001 - hub errors differ by version; all mean "not available offline"
        raise ModelCheckError("no such folder, and not a hub id in the local Hugging Face cache") from None


def check_model_folder(folder: str | Path) -> list[str]:
    """Report lines for the model folder ``folder``; raises :class:`ModelCheckError` (one line) on a problem."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ModelCheckError("not a model folder (no config.json)")
    shared = shared_ids_in_tokenizer_json(folder)
    if shared:
        token_id, added, old = shared[0]
        raise ModelCheckError(f"many-to-one vocabulary in {TOKENIZER_JSON_FILE}: {len(shared)} added tokens reuse "
                              f"vocabulary ids (first: {added!r} and {old!r} share id {token_id})")
    config = _read_json(folder / "config.json")
    processor = load_processor(folder)
    tokenizer = processor.tokenizer
    repurposed = repurposed_token_ids(folder)
    layout = (f"published (vocab.json + merges.txt; added_tokens_decoder repurposes {len(repurposed)} ids "
              f"{min(repurposed)}..{max(repurposed)})" if is_published_layout(folder) else "tokenizer.json")
    coord_lines, _ = _coordinate_lines(tokenizer)
    loaders = [PUBLISHED_LOADERS] if is_published_layout(folder) else []
    return ([f"model folder: {folder}", f"tokenizer layout: {layout}"] + loaders + coord_lines
            + _vocabulary_lines(folder, tokenizer, config)
            + _special_token_lines(tokenizer, config) + _processor_lines(processor))


def run_model_check(name_or_path: str) -> int:
    """Check the model folder or cached hub id ``name_or_path``: the report and ``check_model.py: OK`` on
    stdout and 0, or ``check_model.py: <name>: <reason>`` (one line) on stderr and 2."""
    try:
        lines = check_model_folder(resolve_model_folder(name_or_path))
    except (ModelCheckError, ValueError, OSError) as exc:  # ModelCheckError, or a tokenizer that cannot be built
        print(f"check_model.py: {name_or_path}: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines + ["check_model.py: OK"]))
    return 0
