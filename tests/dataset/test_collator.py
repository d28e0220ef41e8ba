"""Tests of dataset/collator.py: padding, packing, and padded == packed losses on the tiny model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from dataset.chat import IGNORE_INDEX
from dataset.collator import (
    POSITION_PAD_VALUE,
    DataCollatorForSupervisedDataset,
    FlattenedDataCollatorForSupervisedDataset,
)
from dataset.registry import BUILDER

PAD = 0


def _fake(ids: list[int], num_patches: int) -> dict[str, torch.Tensor]:
    n = len(ids)
    return {
        "input_ids": torch.tensor(ids),
        "labels": torch.tensor([IGNORE_INDEX] * (n - 2) + ids[-2:]),
        "position_ids": torch.arange(n).repeat(3, 1) + 10,
        "pixel_values": torch.randn(num_patches, 1176),
        "image_grid_thw": torch.tensor([[1, 2, num_patches // 2]]),
    }


def test_padded_collator_masks_from_lengths_even_if_pad_id_in_content() -> None:
    batch = DataCollatorForSupervisedDataset(pad_token_id=PAD)([_fake([5, PAD, 7, 8], 4), _fake([9, 9], 8)])
    assert batch["input_ids"].tolist() == [[5, PAD, 7, 8], [9, 9, PAD, PAD]]
    assert batch["attention_mask"].tolist() == [
        [1, 1, 1, 1],
        [1, 1, 0, 0],
    ]  # the in-content PAD stays visible
    assert batch["labels"].tolist() == [
        [IGNORE_INDEX, IGNORE_INDEX, 7, 8],
        [9, 9, IGNORE_INDEX, IGNORE_INDEX],
    ]
    assert batch["position_ids"].shape == (3, 2, 4)
    assert (batch["position_ids"][:, 1, 2:] == POSITION_PAD_VALUE).all()
    assert batch["position_ids"][:, 1, :2].tolist() == [[10, 11]] * 3
    assert batch["pixel_values"].shape == (12, 1176)
    assert batch["image_grid_thw"].tolist() == [[1, 2, 2], [1, 2, 4]]


def test_flattened_collator_packs_one_row_with_restarting_text_positions() -> None:
    samples = [_fake([5, 6, 7], 4), _fake([8, 9], 4)]
    batch = FlattenedDataCollatorForSupervisedDataset(return_cu_seqlens=True)(samples)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9]]
    assert batch["position_ids"].shape == (4, 1, 5)
    assert batch["position_ids"][0, 0].tolist() == [0, 1, 2, 0, 1]
    assert batch["position_ids"][1:, 0].tolist() == [[10, 11, 12, 10, 11]] * 3
    assert batch["cu_seqlens"].tolist() == [0, 3, 5] and batch["cu_seqlens"].dtype == torch.int32
    assert "attention_mask" not in batch and batch["use_cache"] is False
    assert batch["pixel_values"].shape == (8, 1176)
    assert "cu_seqlens" not in FlattenedDataCollatorForSupervisedDataset()(samples)


def test_collators_build_from_registry_and_need_a_pad_id(processor: Any) -> None:
    padded = BUILDER.build(dict(type="DataCollatorForSupervisedDataset", tokenizer=processor.tokenizer))
    assert padded.pad_token_id == processor.tokenizer.pad_token_id
    assert isinstance(
        BUILDER.build(dict(type="FlattenedDataCollatorForSupervisedDataset")),
        FlattenedDataCollatorForSupervisedDataset,
    )
    with pytest.raises(ValueError, match="pad_token_id"):
        DataCollatorForSupervisedDataset()


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> Any:
    from transformers import Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(0)
    return Qwen2_5_VLForConditionalGeneration.from_pretrained(
        tiny_model_dir, attn_implementation="sdpa", dtype=torch.float32
    ).eval()


@pytest.fixture(scope="module")
def samples_dataset(
    sft_toy_data: dict[str, Any], processor: Any, make_sft_dataset: Callable[..., Any]
) -> Any:
    """Four grounding samples (the val split)."""
    return make_sft_dataset(sft_toy_data["toy_grounding_val"], processor)


@pytest.fixture(scope="module")
def samples(
    sft_toy_data: dict[str, Any], processor: Any, make_sft_dataset: Callable[..., Any]
) -> list[dict[str, torch.Tensor]]:
    # Different pixel limits per dataset give different lengths, so padding really happens.
    small = make_sft_dataset(sft_toy_data["toy_grounding_train"], processor, image_max_pixels=16 * 28 * 28)
    large = make_sft_dataset(sft_toy_data["toy_pointing_train"], processor, task="pointing")
    return [small[0], large[1], small[2]]


def _per_sample_losses(
    logits: torch.Tensor, labels: torch.Tensor, lengths: list[int], packed: bool
) -> list[float]:
    """Mean next-token CE per sample over its supervised tokens, from the logits."""
    losses = []
    for i, n in enumerate(lengths):
        start = sum(lengths[:i]) if packed else 0
        row = 0 if packed else i
        lg, lb = logits[row, start : start + n - 1], labels[row, start + 1 : start + n]
        ce = torch.nn.functional.cross_entropy(lg.float(), lb, ignore_index=IGNORE_INDEX, reduction="sum")
        losses.append(ce.item() / int((lb != IGNORE_INDEX).sum()))
    return losses


def test_position_ids_equal_the_models_own_get_rope_index(
    model: Any, samples: list[dict[str, torch.Tensor]]
) -> None:
    for s in samples:
        ids = s["input_ids"][None]
        types = (ids == model.config.image_token_id).int()
        reference, _ = model.model.get_rope_index(
            ids, mm_token_type_ids=types, image_grid_thw=s["image_grid_thw"]
        )
        assert torch.equal(reference[:, 0], s["position_ids"])


def test_padded_and_packed_batches_give_the_same_per_sample_loss(
    model: Any, samples: list[dict[str, torch.Tensor]], processor: Any
) -> None:
    lengths = [int(s["input_ids"].numel()) for s in samples]
    assert len(set(lengths)) > 1
    padded = DataCollatorForSupervisedDataset(processor=processor)(samples)
    packed = FlattenedDataCollatorForSupervisedDataset()(samples)
    with torch.no_grad():
        out_padded = model(**padded)
        out_packed = model(**packed)
        alone = [
            model(**DataCollatorForSupervisedDataset(processor=processor)([s])).loss.item() for s in samples
        ]
        # Control: without the text-position row nothing marks the boundaries, so attention leaks.
        leaky = dict(packed, position_ids=packed["position_ids"][1:])
        out_leaky = model(**leaky)
    loss_padded = _per_sample_losses(out_padded.logits, padded["labels"], lengths, packed=False)
    loss_packed = _per_sample_losses(out_packed.logits, packed["labels"], lengths, packed=True)
    loss_leaky = _per_sample_losses(out_leaky.logits, packed["labels"], lengths, packed=True)
    assert loss_padded == pytest.approx(loss_packed, abs=1e-5)
    assert loss_padded == pytest.approx(alone, abs=1e-5)
    assert abs(loss_leaky[1] - loss_padded[1]) > 1e-4  # the test can see a leak
    # The model's own (token-averaged) loss agrees between the two layouts too.
    assert out_padded.loss.item() == pytest.approx(out_packed.loss.item(), abs=1e-5)


def test_dataloader_with_workers_and_packed_collator(samples_dataset: Any) -> None:
    from torch.utils.data import DataLoader

    loader = DataLoader(
        samples_dataset, batch_size=2, num_workers=2, collate_fn=FlattenedDataCollatorForSupervisedDataset()
    )
    batches = list(loader)
    assert len(batches) == 2
    first = batches[0]
    expected = [samples_dataset[0], samples_dataset[1]]
    assert torch.equal(first["input_ids"][0], torch.cat([s["input_ids"] for s in expected]))
    assert torch.equal(first["pixel_values"], torch.cat([s["pixel_values"] for s in expected]))
