"""Freezing flags: exactly the parameters of the tuned parts change after an optimizer step."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from finetuning.freezing import apply_freezing, part_of, trainable_summary


@pytest.fixture(scope="module")
def model_and_batch(tiny_model_dir: Path, toy_dir: Path) -> tuple[object, dict]:
    from dataset.collator import DataCollatorForSupervisedDataset
    from dataset.sft_dataset import GroundingTSVDataset
    from dataset.task_fns import GroundingTaskFn
    from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY
    from dataset.tsv import TsvPaths
    from finetuning.model_loading import load_model, load_processor

    processor = load_processor(str(tiny_model_dir))
    prefix = toy_dir / "toy_grounding_train"
    ds = GroundingTSVDataset(
        **TsvPaths.from_prefix(prefix).dataset_kwargs(), image_min_pixels=3136, image_max_pixels=12544,
        task_fn=GroundingTaskFn(task_prompts=GROUNDING_SINGLE_REGION_STAGE_XYXY), processor=processor,
    )
    batch = DataCollatorForSupervisedDataset(processor=processor)([ds[0], ds[1]])
    return load_model(str(tiny_model_dir)), batch


def test_part_of() -> None:
    assert part_of("model.visual.merger.mlp.0.weight") == "merger"
    assert part_of("model.visual.blocks.0.attn.qkv.weight") == "vision"
    assert part_of("model.language_model.layers.0.mlp.up_proj.weight") == "llm"
    assert part_of("lm_head.weight") == "llm"


@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=3)))
def test_only_tuned_parts_change(model_and_batch: tuple, flags: tuple[bool, bool, bool]) -> None:
    model, batch = model_and_batch
    vision, mlp, llm = flags
    apply_freezing(model, tune_mm_vision=vision, tune_mm_mlp=mlp, tune_mm_llm=llm)
    wanted = {"vision": vision, "merger": mlp, "llm": llm}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if trainable:
        optimizer = torch.optim.SGD(trainable, lr=1.0)
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    for name, param in model.named_parameters():
        changed = not torch.equal(before[name], param.detach())
        assert param.requires_grad == wanted[part_of(name)], name
        # A trainable tensor may keep its value only if its gradient was exactly zero (none here).
        assert changed == wanted[part_of(name)], name
        param.data.copy_(before[name])


def test_tied_lm_head_follows_llm_flag(model_and_batch: tuple) -> None:
    model, _ = model_and_batch
    assert model.lm_head.weight is model.get_input_embeddings().weight  # tie_word_embeddings
    apply_freezing(model, tune_mm_vision=True, tune_mm_mlp=True, tune_mm_llm=False)
    assert not model.lm_head.weight.requires_grad
    summary = trainable_summary(model)
    assert summary["llm"]["trainable"] == 0 and summary["vision"]["trainable"] > 0
