"""dataset/vocab_layout.py on both layouts: coordinate ids, the published tokenizer's ids, saving in layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dataset.vocab_layout import (
    coordinate_token_ids,
    is_published_layout,
    keep_tokenizer_layout,
    load_processor,
    load_tokenizer,
    repurposed_token_ids,
    repurposed_vocab,
)

# The published Rex-Omni ids (tokenizer_config.json of IDEA-Research/Rex-Omni): <k> is 150643 + k,
# Qwen's <|endoftext|> is 151643 and the specials follow in Qwen order.
FIRST_COORD_ID = 150643
QWEN_IDS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<|object_ref_start|>": 151646,
            "<|box_start|>": 151648, "<|box_end|>": 151649, "<|image_pad|>": 151655, "<|video_pad|>": 151656}


@pytest.fixture(scope="module")
def tiny_model_dir() -> Path:
    """The project-layout test model (same cached folder as the SFT tests use)."""
    from demo.tiny_model import build_tiny_rex_omni

    return build_tiny_rex_omni(Path(__file__).resolve().parents[2] / "work_dirs" / "models" / "rex-omni-test")


@pytest.fixture(scope="module")
def published_tokenizer(published_model_dir: Path):
    return load_tokenizer(published_model_dir)


def test_repurposed_vocab_gives_each_id_one_string() -> None:
    vocab = {"a": 0, "b": 1, "ab": 2, "ba": 3, "aba": 4}
    merges = [("a", "b"), ("b", "a"), ("ab", "a")]
    new_vocab, new_merges = repurposed_vocab(vocab, merges, {2: "<0>"})
    assert new_vocab == {"a": 0, "b": 1, "<0>": 2, "ba": 3, "aba": 4}
    assert new_merges == [("b", "a")]  # ("a","b") made "ab", ("ab","a") used it
    assert vocab["ab"] == 2 and len(merges) == 3  # inputs untouched


def test_published_fixture_files(published_model_dir: Path) -> None:
    files = {p.name for p in published_model_dir.iterdir()}
    assert {"vocab.json", "merges.txt", "tokenizer_config.json", "config.json", "preprocessor_config.json",
            "generation_config.json", "chat_template.json", "model.safetensors"} <= files
    assert "tokenizer.json" not in files
    assert len(json.loads((published_model_dir / "vocab.json").read_text())) == 151643
    config = json.loads((published_model_dir / "tokenizer_config.json").read_text())
    assert config["added_tokens_decoder"]["150766"]["content"] == "<123>"
    assert "<999>" in config["additional_special_tokens"]
    repurposed = repurposed_token_ids(published_model_dir)
    assert sorted(repurposed) == list(range(150643, 151643)) and repurposed[151642] == "<999>"
    assert is_published_layout(published_model_dir)


def test_coordinate_token_is_one_id_and_decodes_back(published_tokenizer) -> None:
    assert published_tokenizer("<123>", add_special_tokens=False)["input_ids"] == [150766]
    assert published_tokenizer.decode([150766]) == "<123>"
    assert coordinate_token_ids(published_tokenizer) == list(range(FIRST_COORD_ID, FIRST_COORD_ID + 1000))
    assert {t: published_tokenizer.convert_tokens_to_ids(t) for t in QWEN_IDS} == QWEN_IDS


def test_vocabulary_size_matches_the_embedding(published_tokenizer) -> None:
    # 151,643 regular entries + 22 Qwen tokens; the repurposed ids are not counted twice.
    assert len(published_tokenizer) == 151665 == max(published_tokenizer.get_vocab().values()) + 1
    assert len(published_tokenizer) <= 151936


def test_plain_transformers_load_renumbers_the_ids(published_model_dir: Path) -> None:
    """Why the rebuild exists: AutoTokenizer appends the added tokens after vocab.json (transformers 5)."""
    from transformers import AutoTokenizer

    naive = AutoTokenizer.from_pretrained(published_model_dir)
    assert len(naive) == 152665 and naive.convert_tokens_to_ids("<|image_pad|>") != 151655


def test_answer_round_trips(published_tokenizer) -> None:
    answer = ("<|object_ref_start|>red circle<|object_ref_end|><|box_start|><12><34><56><78>, "
              "<0><1><998><999><|box_end|><|im_end|>")
    ids = published_tokenizer(answer, add_special_tokens=False)["input_ids"]
    assert ids[5:9] == [150655, 150677, 150699, 150721]  # <12><34><56><78>
    assert published_tokenizer.decode(ids) == answer


def test_text_never_encodes_to_a_coordinate_id(published_model_dir: Path, published_tokenizer) -> None:
    by_id = {i: s for s, i in json.loads((published_model_dir / "vocab.json").read_text()).items()}
    from tokenizers.decoders import ByteLevel

    old_text = ByteLevel().decode([by_id[150766]])  # the text the repurposed id used to stand for
    ids = published_tokenizer(old_text, add_special_tokens=False)["input_ids"]
    assert not set(ids) & set(range(FIRST_COORD_ID, FIRST_COORD_ID + 1000))
    assert published_tokenizer.decode(ids) == old_text


def test_project_layout_ids_come_from_tokenizer_json(tiny_model_dir: Path) -> None:
    added = json.loads((tiny_model_dir / "tokenizer.json").read_text())["added_tokens"]
    expected = {t["content"]: t["id"] for t in added}
    tokenizer = load_tokenizer(tiny_model_dir)
    assert coordinate_token_ids(tokenizer) == [expected[f"<{k}>"] for k in range(1000)]
    assert not is_published_layout(tiny_model_dir)


def test_coordinate_token_ids_rejects_shared_ids() -> None:
    class SameIdForAll:
        def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
            return {"input_ids": [7]}

    with pytest.raises(ValueError, match="'<1>' shares id 7"):
        coordinate_token_ids(SameIdForAll())


def test_processor_reads_the_4x_files(published_model_dir: Path) -> None:
    processor = load_processor(published_model_dir)
    size = processor.image_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (16 * 28 * 28, 256 * 28 * 28)  # from preprocessor_config
    assert processor.image_token_id == 151655 and processor.tokenizer.convert_tokens_to_ids("<123>") == 150766
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Point to cat."}]}]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert "<|vision_start|><|image_pad|><|vision_end|>Point to cat.<|im_end|>" in prompt
    smaller = load_processor(published_model_dir, size={"shortest_edge": 4 * 28 * 28, "longest_edge": 8 * 28 * 28})
    assert (smaller.image_processor.size["shortest_edge"], smaller.image_processor.size["longest_edge"]) == (
        4 * 28 * 28, 8 * 28 * 28)


def test_model_config_reads_the_4x_config(published_model_dir: Path) -> None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(published_model_dir)
    assert config.text_config.vocab_size == 151936 and config.tie_word_embeddings
    assert config.text_config.rope_parameters["mrope_section"] == [2, 3, 3]
    assert config.vision_config.fullatt_block_indexes == [1] and config.image_token_id == 151655


def test_saving_keeps_the_published_files(published_model_dir: Path, tmp_path: Path) -> None:
    processor = load_processor(published_model_dir)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file()  # what transformers 5 writes on its own
    assert keep_tokenizer_layout(published_model_dir, tmp_path)
    assert not (tmp_path / "tokenizer.json").exists()
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        assert (tmp_path / name).read_bytes() == (published_model_dir / name).read_bytes()
    shutil.copy(published_model_dir / "preprocessor_config.json", tmp_path)
    reloaded = load_tokenizer(tmp_path)
    assert coordinate_token_ids(reloaded) == list(range(FIRST_COORD_ID, FIRST_COORD_ID + 1000))
    assert not keep_tokenizer_layout(tmp_path / "nowhere", tmp_path)
