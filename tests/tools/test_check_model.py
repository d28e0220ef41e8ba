"""tools/check_model.py (modeling/model_folder.py): reports both layouts, rejects folders that would train wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from dataset.vocab_layout import load_tokenizer
from tools import check_model

RESIZED_ROWS = 152665  # 151,643 + 22 + 1,000: each repurposed id counted a second time


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("tiny_model_build.json"))
    return dst


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = check_model.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_published_folder_passes_and_is_described(published_model_dir: Path, capsys) -> None:
    code, out, err = _run(capsys, str(published_model_dir))
    assert code == 0, err
    assert "repurposes 1000 ids 150643..151642" in out
    assert "transformers 4.51.3 use_fast=False" in out and "shifted by +1000" in out  # which loaders work
    assert "<0> -> 150643, <999> -> 151642; all 1000 single tokens, contiguous ids, each decodes back: True" in out
    assert "len(tokenizer)=151665, ids 0..151664; embedding rows 151936 (config vocab_size 151936" in out
    assert "tied embeddings: yes" in out and "<|image_pad|>=151655" in out
    assert "min_pixels=12544 max_pixels=200704" in out and out.rstrip().endswith("OK")


def test_config_names_the_model(published_model_dir: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "sft.py"
    config.write_text(f'model_name_or_path = "{published_model_dir}"\n')
    assert _run(capsys, "--config", str(config))[0] == 0
    config.write_text("learning_rate = 1e-5\n")
    code, _, err = _run(capsys, "--config", str(config))
    assert code == 2 and "sets no model_name_or_path" in err and err.count("\n") == 1


def test_split_coordinate_tokens_are_rejected(published_model_dir: Path, tmp_path: Path, capsys) -> None:
    folder = _copy(published_model_dir, tmp_path / "split")
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["added_tokens_decoder"] = {i: e for i, e in config["added_tokens_decoder"].items() if int(i) >= 151643}
    config["additional_special_tokens"] = [t for t in config["additional_special_tokens"] if t.startswith("<|")]
    path.write_text(json.dumps(config))
    assert len(load_tokenizer(folder)("<0>", add_special_tokens=False)["input_ids"]) > 1
    code, out, err = _run(capsys, str(folder))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "coordinate token '<0>' is not a single token" in err


def _write_many_to_one_tokenizer_json(source: Path, folder: Path) -> None:
    """``tokenizer.json`` whose added ``<k>`` reuse vocabulary ids that keep their old strings too."""
    load_tokenizer(source).save_pretrained(folder)
    data = json.loads((folder / "tokenizer.json").read_text())
    data["model"]["vocab"] = json.loads((source / "vocab.json").read_text())
    data["model"]["merges"] = [line for line in (source / "merges.txt").read_text().splitlines()[1:] if line]
    (folder / "tokenizer.json").write_text(json.dumps(data))


def test_resized_many_to_one_vocabulary_is_rejected(published_model_dir: Path, tmp_path: Path, capsys) -> None:
    folder = _copy(published_model_dir, tmp_path / "resized")
    _write_many_to_one_tokenizer_json(published_model_dir, folder)
    weights = load_file(folder / "model.safetensors")
    embed = weights["model.embed_tokens.weight"]
    weights["model.embed_tokens.weight"] = torch.cat([embed, embed.new_zeros(RESIZED_ROWS - len(embed), embed.shape[1])])
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((folder / "config.json").read_text())
    config["vocab_size"] = RESIZED_ROWS
    (folder / "config.json").write_text(json.dumps(config))
    code, out, err = _run(capsys, str(folder))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "many-to-one vocabulary in tokenizer.json: 1000 added tokens reuse vocabulary ids" in err
    assert "'<0>'" in err and "share id 150643" in err


def test_renumbered_tokenizer_is_rejected(published_model_dir: Path, tmp_path: Path, capsys) -> None:
    """A folder whose tokenizer was saved after a plain transformers 5 load: every added id moved up by 1000."""
    from transformers import AutoTokenizer

    folder = _copy(published_model_dir, tmp_path / "renumbered")
    AutoTokenizer.from_pretrained(published_model_dir).save_pretrained(folder)
    code, _, err = _run(capsys, str(folder))
    assert code == 2 and err.count("\n") == 1
    assert "token ids run to 152664 but the embedding has only 151936 rows" in err


def test_missing_folder(tmp_path: Path, capsys) -> None:
    code, out, err = _run(capsys, str(tmp_path / "nope"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "no such folder" in err
