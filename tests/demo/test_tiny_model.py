"""Tests for demo/tiny_model.py: build once per module, then reload offline and exercise it."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read once, when huggingface_hub is first imported

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import huggingface_hub.constants  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForImageTextToText,
    AutoProcessor,
    Qwen2_5_VLForConditionalGeneration,
)

from demo import tiny_model  # noqa: E402
from demo.tiny_model import (  # noqa: E402
    CHAT_TEMPLATE,
    build_tiny_rex_omni,
    coordinate_token_ids,
    rex_omni_3b_config,
    tiny_config,
)

QUESTION = "Detect red circle, blue square. Output the bounding box coordinates in [x0, y0, x1, y1] format."


@pytest.fixture(scope="module", autouse=True)
def offline_hub() -> Iterator[None]:
    """Force hub offline mode even if huggingface_hub was imported before HF_HUB_OFFLINE was set."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        assert huggingface_hub.constants.is_offline_mode()
        yield


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_rex_omni(tmp_path_factory.mktemp("tiny") / "rex-omni-test", size="test", seed=0)


@pytest.fixture(scope="module")
def processor(model_dir: Path):
    return AutoProcessor.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Qwen2_5_VLForConditionalGeneration:
    return AutoModelForImageTextToText.from_pretrained(model_dir).eval()


def _messages(question: str = QUESTION) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]


def _image(width: int, height: int, seed: int) -> Image.Image:
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (height, width, 3), dtype=torch.uint8, generator=gen)
    return Image.fromarray(pixels.numpy())


def test_saved_folder_has_expected_files(model_dir: Path) -> None:
    names = {p.name for p in model_dir.iterdir()}
    expected = {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.json",
        "processor_config.json",
        tiny_model.BUILD_INFO_FILE,
    }
    assert expected <= names
    assert not list(model_dir.parent.glob(".rex-omni-test.tmp-*"))


def test_config_ids_match_tokenizer(model, processor) -> None:
    tok = processor.tokenizer
    cfg = model.config
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert cfg.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert cfg.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert cfg.text_config.vocab_size >= len(tok)
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    assert set(model.generation_config.eos_token_id) == {
        tok.convert_tokens_to_ids("<|im_end|>"),
        tok.pad_token_id,
    }
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"


def test_coordinate_tokens_are_single(processor) -> None:
    tok = processor.tokenizer
    assert len(tok("<123>", add_special_tokens=False)["input_ids"]) == 1
    assert len(tok("<12><34>", add_special_tokens=False)["input_ids"]) == 2
    ids = coordinate_token_ids(tok)
    assert len(set(ids)) == 1000
    assert tok.decode(ids[:3]) == "<0><1><2>"
    text = "<|object_ref_start|>red circle<|object_ref_end|><|box_start|><15><41><156><416><|box_end|>"
    assert tok.decode(tok(text)["input_ids"]) == text


def test_coordinate_token_ids_raises_for_multi_token(processor) -> None:
    class SplitsCoords:
        def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
            return {"input_ids": [1, 2] if text == "<7>" else [3]}

    with pytest.raises(ValueError, match="<7>"):
        coordinate_token_ids(SplitsCoords())


def test_chat_template_matches_qwen(processor) -> None:
    text = processor.apply_chat_template(_messages(), tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        f"<|vision_start|><|image_pad|><|vision_end|>{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
    )
    plain = [{"role": "system", "content": "Sys."}, {"role": "user", "content": "Hi"}]
    assert processor.apply_chat_template(plain, tokenize=False) == (
        "<|im_start|>system\nSys.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    )
    assert processor.chat_template == CHAT_TEMPLATE


def test_image_pad_count_matches_grid(processor) -> None:
    text = processor.apply_chat_template(_messages(), tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=[_image(200, 130, 0)], return_tensors="pt")
    n_pad = (inputs["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum().item()
    assert n_pad == inputs["image_grid_thw"].prod().item() // 4
    h, w = inputs["image_grid_thw"][0, 1:].tolist()
    assert tiny_model.DEFAULT_MIN_PIXELS <= h * w * 14 * 14 <= tiny_model.DEFAULT_MAX_PIXELS


def test_forward_with_labels_and_backward(model_dir: Path, processor) -> None:
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir)
    text = processor.apply_chat_template(_messages(), tokenize=False, add_generation_prompt=True)
    text += (
        "<|object_ref_start|>red circle<|object_ref_end|><|box_start|><1><2><30><40><|box_end|><|im_end|>\n"
    )
    inputs = processor(text=[text], images=[_image(120, 90, 1)], return_tensors="pt")
    labels = inputs["input_ids"].clone()
    labels[labels == model.config.image_token_id] = -100
    out = model(**inputs, labels=labels)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert model.model.visual.patch_embed.proj.weight.grad.abs().sum() > 0


def test_generate_batch_of_two_sizes_left_padded(model, processor) -> None:
    processor.tokenizer.padding_side = "left"
    texts = [
        processor.apply_chat_template(_messages(q), tokenize=False, add_generation_prompt=True)
        for q in ("Point to red circle.", QUESTION)
    ]
    images = [_image(100, 60, 2), _image(64, 160, 3)]
    inputs = processor(text=texts, images=images, padding=True, return_tensors="pt")
    assert inputs["attention_mask"][:, 0].tolist() == [0, 1]  # the shorter prompt is left padded
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    new_tokens = out[:, inputs["input_ids"].shape[1] :]
    assert new_tokens.shape[0] == 2 and new_tokens.shape[1] >= 1
    assert all(isinstance(s, str) for s in processor.batch_decode(new_tokens))


def test_left_padded_batch_matches_single_prompts(model, processor) -> None:
    """M-RoPE positions must ignore left padding: batched last-token logits equal unbatched ones."""
    processor.tokenizer.padding_side = "left"
    texts = [
        processor.apply_chat_template(_messages(q), tokenize=False, add_generation_prompt=True)
        for q in ("Point to red circle.", QUESTION)
    ]
    images = [_image(100, 60, 4), _image(64, 160, 5)]
    with torch.no_grad():
        batch = model(**processor(text=texts, images=images, padding=True, return_tensors="pt")).logits[:, -1]
        for i in range(2):
            single = model(**processor(text=[texts[i]], images=[images[i]], return_tensors="pt")).logits[
                :, -1
            ]
            torch.testing.assert_close(batch[i : i + 1], single, atol=1e-4, rtol=1e-4)


def test_cli_parses_defaults() -> None:
    from tools.make_tiny_model import parse_args

    args = parse_args(["--size", "test", "--seed", "3"])
    assert (args.size, args.seed, args.output_dir, args.force) == ("test", 3, None, False)
    assert args.min_pixels == tiny_model.DEFAULT_MIN_PIXELS


def test_parameter_counts(model, processor) -> None:
    n = sum(p.numel() for p in model.parameters())
    assert 100_000 < n < 600_000
    demo_config = tiny_config("demo", processor.tokenizer)
    demo = Qwen2_5_VLForConditionalGeneration(demo_config)
    assert 2_000_000 < sum(p.numel() for p in demo.parameters()) < 20_000_000
    # The demo draws its weights with std 0.06 (docs/demo.md); the test size keeps Qwen's 0.02.
    for cfg in (demo_config, demo_config.text_config, demo_config.vision_config):
        assert cfg.initializer_range == 0.06
    layer = demo.model.language_model.layers[0].mlp.up_proj.weight
    assert 0.05 < layer.std().item() < 0.07
    assert tiny_config("test", processor.tokenizer).text_config.initializer_range == 0.02


def test_real_3b_config_shape() -> None:
    cfg = rex_omni_3b_config()
    t, v = cfg.text_config, cfg.vision_config
    assert (t.hidden_size, t.num_hidden_layers, t.num_attention_heads, t.num_key_value_heads) == (
        2048,
        36,
        16,
        2,
    )
    assert (t.intermediate_size, t.vocab_size, t.rope_parameters["mrope_section"]) == (
        11008,
        151936,
        [16, 24, 24],
    )
    assert (v.depth, v.hidden_size, v.num_heads, v.intermediate_size, v.out_hidden_size) == (
        32,
        1280,
        16,
        3420,
        2048,
    )
    assert list(v.fullatt_block_indexes) == [7, 15, 23, 31] and cfg.tie_word_embeddings
    assert cfg.image_token_id == 151655 and cfg.vision_start_token_id == 151652


def test_same_seed_same_weights_and_skip(model_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_rex_omni(tmp_path / "again", size="test", seed=0)
    before = (again / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_rex_omni(again, size="test", seed=0) == again  # cached: not rebuilt
    assert (again / "model.safetensors").stat().st_mtime_ns == before
    a = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir).state_dict()
    b = Qwen2_5_VLForConditionalGeneration.from_pretrained(again).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (model_dir / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()


def test_refuses_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build_tiny_rex_omni(tmp_path, size="test")


def test_gaussian_coordinate_embeddings_make_the_peak_bin_linear_in_h() -> None:
    """Rows are 2c + s(t u - t^2 w) + small noise: a fit on [1, t, t^2] recovers orthonormal c, u, w and
    leaves only the noise, and with the fitted rows the hidden state h = 2 t0 u + w peaks at bin t0."""
    embedding = torch.nn.Embedding(1200, 64)
    model = type("M", (), {"get_input_embeddings": lambda self: embedding})()
    coord_ids = list(range(100, 1100))
    tiny_model.init_gaussian_coordinate_embeddings(model, coord_ids, scale=8.0)
    rows = embedding.weight[coord_ids].detach()
    t = torch.arange(1000, dtype=torch.float32) / 999 - 0.5
    design = torch.stack([torch.ones_like(t), t, t**2], dim=1)
    coefficients = torch.linalg.lstsq(design, rows).solution  # (3, dim): 2c, s u, -s w
    c, u, w = coefficients[0] / 2, coefficients[1] / 8, -coefficients[2] / 8
    for a, b in ((c, u), (c, w), (u, w)):
        assert abs(float(a @ b)) < 0.05
    assert all(abs(float(v.norm()) - 1) < 0.05 for v in (c, u, w))
    fitted = design @ coefficients
    assert float((rows - fitted).std()) < 0.03
    for t0 in (-0.4, -0.2, 0.0, 0.15, 0.35):
        peak = int((fitted @ (2 * t0 * u + w)).argmax())
        assert abs(peak - (t0 + 0.5) * 999) <= 1
