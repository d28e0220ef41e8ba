"""demo/published_layout_model.py: the files of the published checkpoint, field by field."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tokenizers import pre_tokenizers

from dataset.vocab_layout import engine_tokenizer_path
from demo.published_layout_model import synthetic_bpe
from tools.make_tiny_model import parse_args

REPO = Path(__file__).resolve().parents[2]


def _json(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text())


def test_config_is_in_the_4x_format(published_model_dir: Path) -> None:
    config = _json(published_model_dir, "config.json")
    assert "text_config" not in config and config["hidden_size"] == 32 and config["num_hidden_layers"] == 2
    assert config["rope_scaling"] == {"type": "mrope", "mrope_section": [2, 3, 3]}
    assert config["vision_config"]["fullatt_block_indexes"] == [1]
    assert config["tie_word_embeddings"] is True and config["vocab_size"] == 151936
    assert (config["bos_token_id"], config["eos_token_id"], config["image_token_id"]) == (151643, 151645, 151655)
    assert config["transformers_version"].startswith("4.")


def test_processor_generation_and_template_files(published_model_dir: Path) -> None:
    pre = _json(published_model_dir, "preprocessor_config.json")
    assert pre["image_processor_type"] == "Qwen2VLImageProcessor"
    assert (pre["min_pixels"], pre["max_pixels"]) == (16 * 28 * 28, 256 * 28 * 28) and "size" not in pre
    assert _json(published_model_dir, "generation_config.json")["eos_token_id"] == [151645, 151643]
    template = _json(published_model_dir, "chat_template.json")["chat_template"]
    assert template == _json(published_model_dir, "tokenizer_config.json")["chat_template"]


def test_synthetic_bpe_size_and_merges() -> None:
    vocab, merges = synthetic_bpe(5000)
    assert len(vocab) == 5000 and sorted(vocab.values()) == list(range(5000))
    alphabet = set(pre_tokenizers.ByteLevel.alphabet())
    made = {a + b for a, b in merges}
    assert all(token in made for token in vocab if token not in alphabet)  # every entry is reachable
    assert all(a in vocab and b in vocab for a, b in merges)


def test_cli_layout_flag() -> None:
    assert parse_args(["--layout", "published"]).layout == "published"
    assert parse_args([]).layout == "project"
    with pytest.raises(SystemExit):
        parse_args(["--layout", "hub"])


def test_engine_tokenizer_folder_loads_with_the_saved_ids(published_model_dir: Path, tiny_model_dir: Path) -> None:
    """What vLLM is given: a tokenizer.json folder that plain AutoTokenizer reads with the published ids."""
    from transformers import AutoTokenizer

    folder = engine_tokenizer_path(str(published_model_dir))
    assert folder != str(published_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer("<123>", add_special_tokens=False)["input_ids"] == [150766]
    assert tokenizer.convert_tokens_to_ids("<|image_pad|>") == 151655 and len(tokenizer) == 151665
    assert engine_tokenizer_path(str(tiny_model_dir)) == str(tiny_model_dir)


@pytest.mark.parametrize("script", ["sft.sh", "grpo.sh"])
def test_launch_scripts_stop_on_a_bad_model(script: str, published_model_dir: Path, tmp_path: Path,
                                            tiny_config: Path, toy_dir: Path) -> None:
    """Both launchers run tools/check_model.py before training and stop with its one-line reason."""
    from demo.toy_data_config import write_toy_data_config

    config = tiny_config
    if script == "grpo.sh":  # the data must exist, or the argument check stops first
        config = tmp_path / "grpo_data.py"
        write_toy_data_config(config, toy_dir)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((published_model_dir / "config.json").read_text())
    (bad / "model.safetensors").write_bytes(b"")
    env = {**os.environ, "REX_SKIP_INSTALL": "1", "MODEL_PATH": str(bad), "OUTPUT_DIR": str(tmp_path / "out"),
           "OUTPUT_PATH": str(tmp_path / "out"), "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": "",
           "CONFIG": str(config)}
    result = subprocess.run(["bash", f"scripts/{script}"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "check_model.py:" in result.stderr and "Traceback" not in result.stderr
    assert "[sft] config=" not in result.stdout and "[grpo] model=" not in result.stdout
    assert not (tmp_path / "out" / "train.log").exists()
