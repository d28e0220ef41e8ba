"""bench/bench_sft_speed.py: the CPU dry run trains every CPU mode through the trainer's path and all modes
start from the same loss (its gpu_session.sh stages: tests/bench/test_gpu_session.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.bench_sft_speed import Mode, all_modes, available, main

pytestmark = pytest.mark.slow


def test_dry_run_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sft_speed.json"
    assert main(["--dry-run", "--samples", "2", "--steps", "1", "--warmup", "0", "--out", str(out),
                 "--modes", "stock_padded", "stock_packed", "packed_sdpa_split", "packed_flex", "all"]) == 0
    results = json.loads(out.read_text())
    assert set(results["modes"]) == {"stock_padded", "stock_packed", "packed_sdpa_split", "all"}
    assert results["skipped"] == {"packed_flex": "needs cuda"}
    losses = [r["first_loss"] for r in results["modes"].values()]
    assert max(losses) - min(losses) < 1e-4 * abs(losses[0])  # fp32: the fast paths give the stock loss
    assert all(r["tokens_per_s"] > 0 for r in results["modes"].values())
    assert min(results["samples"]["boxes"]) >= 1
    # The memory plan's estimate per mode (the GPU run sets it beside the measured peak).
    assert all(r["estimated_peak_gib"] > 0 for r in results["modes"].values())
    printed = capsys.readouterr().out
    assert "| all " in printed and "est. GiB" in printed


def test_all_mode_combines_the_fast_paths() -> None:
    fast = all_modes("varlen", liger=True, compile_blocks=True)["all"]
    assert (fast.packed, fast.packed_attention, fast.linear_ce, fast.gradient_checkpointing) == (
        True, "varlen", "liger", False)
    assert fast.batched_vision_windows and fast.compile_blocks and fast.liger
    assert all_modes("sdpa_split", liger=False, compile_blocks=False)["all"].linear_ce == "chunked"


def test_cuda_modes_are_unavailable_on_cpu() -> None:
    import torch

    cpu = torch.device("cpu")
    assert available((), cpu) and not available(("cuda",), cpu) and not available(("compile",), cpu)
    assert Mode().gradient_checkpointing  # stock = the sft.sh GPU default

