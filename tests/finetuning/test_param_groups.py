"""Optimizer groups: per-part learning rates and no decay for biases and all norm weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from finetuning.param_groups import build_param_groups, no_decay_names, part_learning_rates


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> object:
    from finetuning.model_loading import load_model

    return load_model(str(tiny_model_dir))


def test_vision_lr_applies_without_projector_lr() -> None:
    assert part_learning_rates(1e-4, 1e-6, None) == {"llm": 1e-4, "vision": 1e-6, "merger": 1e-4}
    assert part_learning_rates(1e-4, None, 5e-5) == {"llm": 1e-4, "vision": 1e-4, "merger": 5e-5}


def test_norms_and_biases_are_not_decayed(model: object) -> None:
    exempt = no_decay_names(model)
    names = [n for n, _ in model.named_parameters()]
    norm_weights = [n for n in names if "norm" in n and n.endswith("weight")]
    assert norm_weights and all(n in exempt for n in norm_weights)  # RMSNorm included
    assert all(n in exempt for n in names if n.endswith(".bias"))
    assert not any(n in exempt for n in names if n.endswith("proj.weight") or "qkv.weight" in n)


def test_groups_carry_lr_and_decay(model: object) -> None:
    for p in model.parameters():
        p.requires_grad_(True)
    groups = build_param_groups(model, learning_rate=1e-3, weight_decay=0.1, vision_tower_lr=1e-5,
                                mm_projector_lr=2e-4)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {f"{part}/{d}" for part in ("vision", "merger", "llm") for d in ("decay", "no_decay")}
    for name, group in by_name.items():
        part, decay = name.split("/")
        assert group["lr"] == {"vision": 1e-5, "merger": 2e-4, "llm": 1e-3}[part]
        assert group["weight_decay"] == (0.1 if decay == "decay" else 0.0)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    # The Trainer logs the first group's rate as learning_rate: that must be --learning_rate, not the vision's.
    assert groups[0]["name"] == "llm/decay" and groups[0]["lr"] == 1e-3


def test_frozen_parameters_are_left_out(model: object) -> None:
    from finetuning.freezing import apply_freezing

    apply_freezing(model, tune_mm_vision=False, tune_mm_mlp=True, tune_mm_llm=False)
    groups = build_param_groups(model, learning_rate=1e-3, weight_decay=0.0)
    assert {g["name"].split("/")[0] for g in groups} == {"merger"}
