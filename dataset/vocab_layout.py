"""Which token ids mean ``<0>``..``<999>``, and loading/saving tokenizers in the published Rex-Omni layout.

Two layouts exist:

* **project** (the tiny test/demo models): a ``tokenizer.json`` where ``<0>``..``<999>`` are added tokens
  with ids of their own.
* **published** (``IDEA-Research/Rex-Omni``): no ``tokenizer.json``, only ``vocab.json`` + ``merges.txt``
  + ``tokenizer_config.json``, whose ``added_tokens_decoder`` *repurposes* ids 150643..151642 (existing
  vocabulary entries) as ``<0>``..``<999>``. transformers 5 ignores those ids when it converts the files:
  it appends the added tokens after the vocabulary, so every special token moves up by 1000 and
  ``len(tokenizer)`` becomes 152,665. :func:`load_tokenizer` rebuilds the tokenizer with the ids the
  checkpoint was trained with, and :func:`keep_tokenizer_layout` saves it back in the published form.

Code never assumes the coordinate ids form a block: :func:`coordinate_token_ids` reads them from the
tokenizer.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dataset.atomic_write import write_json_atomic

NUM_COORD_BINS = 1000
VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
TOKENIZER_JSON_FILE = "tokenizer.json"
# Files that make up the published tokenizer; copied verbatim when a model in that layout is saved.
PUBLISHED_TOKENIZER_FILES = (VOCAB_FILE, MERGES_FILE, TOKENIZER_CONFIG_FILE, "special_tokens_map.json",
                             "added_tokens.json")


def coordinate_token_ids(tokenizer: Any, num_bins: int = NUM_COORD_BINS) -> list[int]:
    """Ids of ``<0>``..``<num_bins-1>`` in bin order, as the tokenizer encodes them.

    Raises ``ValueError`` naming the first coordinate string that is not exactly one token, or the first
    id reached from two different coordinate strings.
    """
    ids: list[int] = []
    for i in range(num_bins):
        encoded = tokenizer(f"<{i}>", add_special_tokens=False)["input_ids"]
        if len(encoded) != 1:
            raise ValueError(
                f"coordinate token '<{i}>' is not a single token in this tokenizer (got ids {encoded}); "
                f"Rex-Omni needs <0>..<{num_bins - 1}> as single tokens"
            )
        ids.append(int(encoded[0]))
    if len(set(ids)) != num_bins:
        first = next(i for i, token_id in enumerate(ids) if ids.index(token_id) != i)
        raise ValueError(f"coordinate token '<{first}>' shares id {ids[first]} with another coordinate token")
    return ids


def repurposed_token_ids(folder: str | os.PathLike[str]) -> dict[int, str]:
    """``{id: content}`` of added tokens that reuse an id of ``vocab.json`` (published layout), else ``{}``.

    Empty for a folder with a ``tokenizer.json`` (transformers then loads ids as saved) or without a
    ``vocab.json``.
    """
    folder = Path(folder)
    if (folder / TOKENIZER_JSON_FILE).is_file() or not (folder / VOCAB_FILE).is_file():
        return {}
    decoder = _read_json(folder / TOKENIZER_CONFIG_FILE).get("added_tokens_decoder", {})
    vocab_size = len(_read_json(folder / VOCAB_FILE))
    return {int(i): entry["content"] for i, entry in decoder.items() if int(i) < vocab_size}


def is_published_layout(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder``'s tokenizer repurposes vocabulary ids as added tokens (see module doc)."""
    return bool(repurposed_token_ids(folder))


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _read_merges(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split(" ")) for line in lines if line and not line.startswith("#version")]  # type: ignore[misc]


def repurposed_vocab(
    vocab: dict[str, int], merges: list[tuple[str, str]], repurposed: dict[int, str]
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Give each repurposed id to its new string: drop the old string and every merge that makes or uses it.

    Returns ``(vocab, merges)``; inputs are not modified. Afterwards every id has exactly one string, so
    ordinary text can no longer produce a coordinate id.
    """
    by_id = {token_id: token for token, token_id in vocab.items()}
    old = {by_id[token_id] for token_id in repurposed}
    new_vocab = {token: token_id for token, token_id in vocab.items() if token not in old}
    new_vocab.update({content: token_id for token_id, content in repurposed.items()})
    new_merges = [(a, b) for a, b in merges if a not in old and b not in old and a + b not in old]
    return new_vocab, new_merges


def _build_published_tokenizer(folder: Path) -> Any:
    """A Qwen2 tokenizer from ``vocab.json``/``merges.txt``/``tokenizer_config.json`` with the saved ids."""
    from transformers import AddedToken, Qwen2Tokenizer

    config = _read_json(folder / TOKENIZER_CONFIG_FILE)
    decoder = {int(i): entry for i, entry in config["added_tokens_decoder"].items()}
    vocab, merges = repurposed_vocab(
        _read_json(folder / VOCAB_FILE), _read_merges(folder / MERGES_FILE), repurposed_token_ids(folder)
    )
    # Special-token arguments would add their tokens first, out of id order: name them after adding.
    tokenizer = Qwen2Tokenizer(
        vocab=vocab, merges=merges, unk_token=None, bos_token=None, eos_token=None, pad_token=None,
        model_max_length=config.get("model_max_length", 32768), errors=config.get("errors", "replace"),
        clean_up_tokenization_spaces=config.get("clean_up_tokenization_spaces", False),
    )
    tokenizer.add_tokens([
        AddedToken(entry["content"], special=entry.get("special", False), normalized=entry.get("normalized", False),
                   lstrip=entry.get("lstrip", False), rstrip=entry.get("rstrip", False),
                   single_word=entry.get("single_word", False))
        for _, entry in sorted(decoder.items())
    ])
    for name in ("unk_token", "bos_token", "eos_token", "pad_token"):
        if isinstance(config.get(name), str):
            setattr(tokenizer, name, config[name])
    extra = config.get("additional_special_tokens") or config.get("extra_special_tokens") or []
    tokenizer.extra_special_tokens = list(extra)
    moved = [(i, e["content"]) for i, e in sorted(decoder.items()) if tokenizer.convert_tokens_to_ids(e["content"]) != i]
    if moved:
        raise ValueError(f"{folder}: added tokens are not numbered consecutively after vocab.json "
                         f"(first: {moved[0][1]!r} should have id {moved[0][0]})")
    if config.get("chat_template"):
        tokenizer.chat_template = config["chat_template"]
    return tokenizer


def load_tokenizer(name_or_path: str | os.PathLike[str], cache_dir: str | None = None, **kwargs: Any) -> Any:
    """The tokenizer with the ids its model was trained with (``AutoTokenizer`` unless published layout)."""
    folder = local_folder(name_or_path, cache_dir)
    if folder is not None and is_published_layout(folder):
        return _build_published_tokenizer(folder)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path, cache_dir=cache_dir, **kwargs)


def local_folder(name_or_path: str | os.PathLike[str], cache_dir: str | None = None) -> Path | None:
    """The local folder holding ``name_or_path``'s tokenizer files (a hub id resolves to its cached
    snapshot, downloading ``tokenizer_config.json``, ``vocab.json``, ``merges.txt`` and ``tokenizer.json``
    if present); ``None`` when they cannot be fetched (``from_pretrained`` then reports why)."""
    if Path(name_or_path).is_dir():
        return Path(name_or_path)
    from transformers.utils import cached_file

    try:
        paths = [cached_file(str(name_or_path), name, cache_dir=cache_dir, _raise_exceptions_for_missing_entries=False)
                 for name in (TOKENIZER_CONFIG_FILE, TOKENIZER_JSON_FILE, VOCAB_FILE, MERGES_FILE)]
    except OSError:
        return None
    return Path(paths[0]).parent if paths[0] else None


def load_processor(name_or_path: str | os.PathLike[str], cache_dir: str | None = None, **kwargs: Any) -> Any:
    """``AutoProcessor.from_pretrained(name_or_path, **kwargs)``; in the published layout, the processor is
    assembled from its image/video processors and the tokenizer :func:`load_tokenizer` rebuilds with the
    ids the model was trained with.

    ``size={"shortest_edge": min_pixels, "longest_edge": max_pixels}`` overrides the saved pixel limits in
    both layouts (image area in pixels).
    """
    import transformers

    folder = local_folder(name_or_path, cache_dir)
    if folder is None or not is_published_layout(folder):
        return transformers.AutoProcessor.from_pretrained(name_or_path, cache_dir=cache_dir, **kwargs)
    if "size" in kwargs:  # the 4.x file's min_pixels/max_pixels would win over `size` alone
        kwargs.update(min_pixels=kwargs["size"]["shortest_edge"], max_pixels=kwargs["size"]["longest_edge"])
    tokenizer = _build_published_tokenizer(folder)
    image_processor = transformers.AutoImageProcessor.from_pretrained(folder, **kwargs)
    video_processor = transformers.AutoVideoProcessor.from_pretrained(folder, **kwargs)
    processor_class = getattr(transformers, _processor_class_name(folder))
    return processor_class(image_processor=image_processor, video_processor=video_processor, tokenizer=tokenizer,
                           chat_template=_chat_template(folder, tokenizer))


def _processor_class_name(folder: Path) -> str:
    """``processor_class`` of the 4.x ``preprocessor_config.json`` or the 5.x ``processor_config.json``."""
    for name in ("processor_config.json", "preprocessor_config.json"):
        if (folder / name).is_file() and "processor_class" in _read_json(folder / name):
            return _read_json(folder / name)["processor_class"]
    return "Qwen2_5_VLProcessor"


def _chat_template(folder: Path, tokenizer: Any) -> str | None:
    """The folder's chat template: ``chat_template.jinja``, else ``chat_template.json``, else the tokenizer's."""
    if (folder / "chat_template.jinja").is_file():
        return (folder / "chat_template.jinja").read_text(encoding="utf-8")
    if (folder / "chat_template.json").is_file():
        return _read_json(folder / "chat_template.json")["chat_template"]
    return tokenizer.chat_template


def engine_tokenizer_path(name_or_path: str, cache_dir: str | None = None) -> str:
    """A tokenizer folder that an engine loading by path (vLLM) reads with the right ids.

    Unchanged unless the tokenizer is in the published layout; then the rebuilt tokenizer is saved as a
    ``tokenizer.json`` in a new temporary folder, whose path is returned. Its ``tokenizer_config.json`` is
    made readable by transformers 4 too (:func:`tokenizer_config_for_transformers4`), which the vLLM
    releases built against it need; both versions' fast loaders then read the trained ids.
    """
    folder = local_folder(name_or_path, cache_dir)
    if folder is None or not is_published_layout(folder):
        return str(name_or_path)
    target = tempfile.mkdtemp(prefix="rex-omni-tokenizer-")
    _build_published_tokenizer(folder).save_pretrained(target)
    config_path = Path(target) / TOKENIZER_CONFIG_FILE
    write_json_atomic(config_path, tokenizer_config_for_transformers4(_read_json(config_path)))
    return target


def tokenizer_config_for_transformers4(config: dict[str, Any]) -> dict[str, Any]:
    """A transformers 5 ``tokenizer_config.json`` that transformers 4 also loads: 5 writes the extra special
    tokens as a list under ``extra_special_tokens``, which 4.x reads as a dict (``AttributeError: 'list'
    object has no attribute 'keys'``); the list goes back under 4.x's name ``additional_special_tokens``."""
    extra = config.get("extra_special_tokens")
    if not isinstance(extra, list):
        return dict(config)
    converted = {key: value for key, value in config.items() if key != "extra_special_tokens"}
    converted["additional_special_tokens"] = extra
    return converted


def keep_tokenizer_layout(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> bool:
    """After saving a model from ``source`` into ``target``: restore the published tokenizer files.

    transformers 5 saves a ``tokenizer.json`` and a rewritten ``tokenizer_config.json``; a model trained
    from a published-layout folder gets its original files back instead (each copied atomically), so
    vLLM and transformers 4 read it exactly like the published checkpoint. Returns whether it did.
    """
    folder, target = local_folder(source), Path(target)
    if folder is None or not is_published_layout(folder):
        return False
    source = folder
    for name in PUBLISHED_TOKENIZER_FILES:
        if (source / name).is_file():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=target)
            os.close(fd)
            shutil.copyfile(source / name, tmp)
            os.replace(tmp, target / name)
    (target / TOKENIZER_JSON_FILE).unlink(missing_ok=True)
    return True
