"""maybe_apply_liger with a stand-in liger_kernel (the real one needs CUDA): instance patching,
and a patch that changes nothing is refused when liger=on."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import pytest
import torch

from finetuning.model_loading import maybe_apply_liger


class LigerRMSNorm(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _fake_liger(monkeypatch: pytest.MonkeyPatch, patch_modules: bool) -> list[dict]:
    calls: list[dict] = []

    def apply(**kwargs):
        calls.append(kwargs)
        if patch_modules and kwargs.get("model") is not None:
            for module in kwargs["model"].modules():
                if isinstance(module, torch.nn.LayerNorm):
                    module.forward = types.MethodType(LigerRMSNorm.forward, module)

    root = types.ModuleType("liger_kernel")
    root.__spec__ = importlib.machinery.ModuleSpec("liger_kernel", None)
    sub = types.ModuleType("liger_kernel.transformers")
    sub.apply_liger_kernel_to_qwen2_5_vl = apply
    monkeypatch.setitem(sys.modules, "liger_kernel", root)
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers", sub)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    return calls


def test_patches_the_model_instance_without_the_fused_ce(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_liger(monkeypatch, patch_modules=True)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
    assert maybe_apply_liger("on", model)
    assert calls == [{"fused_linear_cross_entropy": False, "cross_entropy": False, "model": model}]


def test_on_refuses_a_patch_that_changed_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_liger(monkeypatch, patch_modules=False)
    with pytest.raises(RuntimeError, match="patched no module"):
        maybe_apply_liger("on", torch.nn.Sequential(torch.nn.LayerNorm(2)))
    assert maybe_apply_liger("auto", torch.nn.Sequential(torch.nn.LayerNorm(2)))  # auto: best effort


def test_off_and_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not maybe_apply_liger("off")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not maybe_apply_liger("auto")
    with pytest.raises(RuntimeError, match="liger=on"):
        maybe_apply_liger("on")
