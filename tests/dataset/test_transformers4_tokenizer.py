"""Which tokenizer loaders read a published-layout folder with the trained ids.

The published checkpoint repurposes ids 150643..151642 as ``<0>``..``<999>`` in ``tokenizer_config.json``
(docs/starting-from-rex-omni.md). Measured on the test-size fixture (``tools/make_tiny_model.py --size
test --layout published``): transformers 4.51.3 (the original's pin) reads it right with the slow tokenizer
and shifts every added token by 1000 with the fast one, as transformers 5 does. The 4.51.3 tests run in a
subprocess whose ``PYTHONPATH`` is ``REX_TRANSFORMERS4_PATH``, a folder holding transformers 4.51.3 alone
(it must not mix with this environment's transformers 5), and are skipped when it is not set:

    python -m pip install --target ~/side/tf4513 transformers==4.51.3 tokenizers==0.21.4 huggingface_hub==0.36.0
    REX_TRANSFORMERS4_PATH=~/side/tf4513 python -m pytest tests/dataset/test_transformers4_tokenizer.py

The other tests check, without transformers 4, that both engines this project hands a tokenizer path to
(vLLM in GRPO rollouts and in evaluation) get the folder written by ``engine_tokenizer_path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from dataset.vocab_layout import engine_tokenizer_path

TRANSFORMERS4_PATH = os.environ.get("REX_TRANSFORMERS4_PATH", "")
needs_transformers4 = pytest.mark.skipif(
    not TRANSFORMERS4_PATH, reason="REX_TRANSFORMERS4_PATH is not set: point it to a folder with transformers "
    "4.51.3 installed alone (pip install --target DIR transformers==4.51.3 tokenizers==0.21.4 "
    "huggingface_hub==0.36.0)")

# Trained ids of the published layout: <N> = 150643 + N; Qwen's specials from <|endoftext|> = 151643 on.
TRAINED = {"<0>": 150643, "<123>": 150766, "<999>": 151642, "<|im_end|>": 151645, "<|image_pad|>": 151655}
SHIFTED = {token: token_id + 1000 for token, token_id in TRAINED.items()}  # appended after vocab.json

PROBE = """
import json, sys
import transformers
from transformers import AutoTokenizer
folder, use_fast = sys.argv[1], sys.argv[2] == "fast"
tokenizer = AutoTokenizer.from_pretrained(folder, use_fast=use_fast)
print(json.dumps({"version": transformers.__version__, "class": type(tokenizer).__name__,
                  "ids": {t: tokenizer.convert_tokens_to_ids(t) for t in json.loads(sys.argv[3])},
                  "encoded": tokenizer.encode("<123>", add_special_tokens=False)}))
"""


def read_with_transformers4(folder: str | Path, mode: str) -> dict[str, Any]:
    """``{version, class, ids, encoded}`` of ``folder`` read by transformers 4.51.3 (``mode`` slow/fast)."""
    env = {**os.environ, "PYTHONPATH": TRANSFORMERS4_PATH, "TRANSFORMERS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-s", "-c", PROBE, str(folder), mode, json.dumps(list(TRAINED))],
                          env=env, capture_output=True, text=True, timeout=600, cwd="/")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["version"] == "4.51.3", f"REX_TRANSFORMERS4_PATH holds transformers {report['version']}"
    return report


@needs_transformers4
def test_transformers4_slow_tokenizer_reads_the_trained_ids(published_model_dir: Path) -> None:
    """What the original's wrapper asks for (use_fast=False): the released model's ids."""
    report = read_with_transformers4(published_model_dir, "slow")
    assert report["class"] == "Qwen2Tokenizer"
    assert report["ids"] == TRAINED and report["encoded"] == [150766]


@needs_transformers4
def test_transformers4_fast_tokenizer_shifts_every_added_token(published_model_dir: Path) -> None:
    """The default (fast) load appends the added tokens after vocab.json, as transformers 5 does."""
    report = read_with_transformers4(published_model_dir, "fast")
    assert report["class"] == "Qwen2TokenizerFast"
    assert report["ids"] == SHIFTED and report["encoded"] == [151766]


@needs_transformers4
def test_transformers4_fast_tokenizer_reads_the_engine_folder_right(published_model_dir: Path) -> None:
    """The folder vLLM gets here (tokenizer.json), read as vLLM reads it by default (fast): trained ids."""
    report = read_with_transformers4(engine_tokenizer_path(str(published_model_dir)), "fast")
    assert report["ids"] == TRAINED and report["encoded"] == [150766]


def test_transformers5_shifts_the_published_folder_and_not_the_engine_folder(published_model_dir: Path) -> None:
    """This environment's plain AutoTokenizer (transformers 5), fast or slow: shifted; the engine folder: trained."""
    from transformers import AutoTokenizer

    for use_fast in (True, False):
        plain = AutoTokenizer.from_pretrained(published_model_dir, use_fast=use_fast)
        assert {t: plain.convert_tokens_to_ids(t) for t in TRAINED} == SHIFTED
    engine = AutoTokenizer.from_pretrained(engine_tokenizer_path(str(published_model_dir)))
    assert {t: engine.convert_tokens_to_ids(t) for t in TRAINED} == TRAINED


def _ids_in(folder: str) -> dict[str, int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    return {t: tokenizer.convert_tokens_to_ids(t) for t in TRAINED}


def test_vllm_rollout_engine_gets_a_tokenizer_with_the_trained_ids(published_model_dir: Path) -> None:
    from verl.workers.rollout.vllm_rollout import engine_kwargs
    from verl.workers.rollout_config import RolloutConfig

    kwargs = engine_kwargs(str(published_model_dir), RolloutConfig())
    assert kwargs["model"] == str(published_model_dir) and kwargs["tokenizer"] != str(published_model_dir)
    assert "tokenizer_mode" not in kwargs  # vLLM's default, auto: the fast tokenizer from tokenizer.json
    assert _ids_in(kwargs["tokenizer"]) == TRAINED


def test_vllm_evaluation_engine_gets_a_tokenizer_with_the_trained_ids(published_model_dir: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """evaluation's VLLMGenerator, with a stand-in ``vllm`` that records the engine's arguments."""
    from evaluation.generation import VLLMGenerator

    recorded: dict[str, Any] = {}
    fake = types.ModuleType("vllm")
    fake.LLM = lambda **kwargs: recorded.update(kwargs)  # type: ignore[attr-defined]
    fake.SamplingParams = lambda **kwargs: kwargs  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", fake)
    VLLMGenerator(str(published_model_dir))
    assert recorded["model"] == str(published_model_dir) and "tokenizer_mode" not in recorded
    assert _ids_in(recorded["tokenizer"]) == TRAINED


def test_engine_folder_config_names_the_special_tokens_as_transformers4_reads_them(published_model_dir: Path) -> None:
    """transformers 4 fails on 5's list-valued ``extra_special_tokens``; the engine folder holds 4.x's key."""
    config = json.loads((Path(engine_tokenizer_path(str(published_model_dir))) / "tokenizer_config.json").read_text())
    assert not isinstance(config.get("extra_special_tokens"), list)
    assert "<|im_end|>" in config["additional_special_tokens"] and "<123>" in config["additional_special_tokens"]
