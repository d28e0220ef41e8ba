"""bench_sft_step / bench_grpo_step: quick runs return sane numbers; the image-processor speed-up in
``dataset/sft_dataset.py`` leaves ``pixel_values`` unchanged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from bench import bench_grpo_step, bench_sft_step
from dataset.sft_dataset import torch_threads

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_torch_threads_restores_the_count() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


@pytest.fixture(scope="module")
def toy_sft_datasets(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    from transformers import AutoProcessor

    from demo.tiny_model import build_tiny_rex_omni

    model_dir = build_tiny_rex_omni(tmp_path_factory.mktemp("model") / "rex-omni-test", size="test", seed=0)
    processor = AutoProcessor.from_pretrained(model_dir)
    return bench_sft_step.build_datasets(str(tmp_path_factory.mktemp("toy")), processor, num_samples=2)


@pytest.mark.parametrize("size", [(448, 336), (640, 480), (97, 203)])  # no resize, downscale, upscale
def test_fast_process_image_equals_the_original(toy_sft_datasets: list[Any], size: tuple[int, int]) -> None:
    ds = toy_sft_datasets[0]
    image = Image.effect_mandelbrot(size, (-2.0, -1.5, 1.0, 1.5), 50).convert("RGB")
    tokens = ds.num_image_tokens(image.size)
    legacy_pv, legacy_grid = bench_sft_step.legacy_process_image(ds)(image, tokens)
    pixel_values, grid = ds.process_image(image, tokens)
    assert torch.equal(pixel_values, legacy_pv) and torch.equal(grid, legacy_grid)


def test_batches_count_real_tokens(toy_sft_datasets: list[Any]) -> None:
    samples = bench_sft_step.mixed_samples(toy_sft_datasets, 4)
    batches = bench_sft_step.collate_both(samples, pad_token_id=0)
    lengths = sum(int(s["input_ids"].numel()) for s in samples)
    assert [bench_sft_step.real_tokens(b) for b in batches["padded"]] == [lengths]
    assert [bench_sft_step.real_tokens(b) for b in batches["packed"]] == [lengths]
    assert batches["padded"][0]["input_ids"].numel() > lengths  # two image sizes: some padding


def _positive_stats(stats: dict[str, Any]) -> bool:
    return 0 < stats["min"] <= stats["median"] <= stats["max"]


@pytest.mark.slow
def test_sft_step_quick() -> None:
    result = bench_sft_step.main(quick=True)
    test = result["models"]["test"]
    assert all(_positive_stats(test["tokens_per_s"][v]) for v in ("padded", "packed", "padded_1_thread"))
    assert 0 < test["pad_fraction_padded"] < 1
    data = result["data_pipeline"]
    assert data["pixel_values_equal"] and _positive_stats(data["samples_per_s"]["after"])


@pytest.mark.slow
def test_grpo_step_quick() -> None:
    result = bench_grpo_step.main(quick=True)
    recompute, auto = result["seconds"]["recompute"], result["seconds"]["auto"]
    assert set(recompute) == set(auto) == set(bench_grpo_step.PHASES)
    assert all(recompute[p]["median"] > 0 for p in ("generate", "weight_sync", "old_log_probs", "update", "step"))
    assert recompute["generate"]["median"] + recompute["update"]["median"] < recompute["step"]["median"]
    assert auto["old_log_probs"]["median"] == 0 and auto["update"]["median"] > 0  # the pass was skipped
    assert result["speedup_auto_vs_recompute"] > 0
    assert Path(bench_grpo_step.REPO, "verl/configs/reward_func.py").is_file()


def test_actor_forward_quick() -> None:
    from bench import bench_actor_forward

    result = bench_actor_forward.main(quick=True)
    assert set(result["seconds"]) == set(bench_actor_forward.MODES)
    assert all(s["median"] > 0 and len(s["runs"]) == 1 for s in result["seconds"].values())
    assert result["logits_mib_3b"]["response_only"] < result["logits_mib_3b"]["all_positions"] / 5


def test_actor_forward_gpu_path_dry_run(tmp_path: Path) -> None:
    from bench import bench_actor_forward

    args = bench_actor_forward.build_parser().parse_args(["--dry-run", "--out", str(tmp_path / "a.json")])
    result = bench_actor_forward.run_device(args)
    assert set(result["seconds"]) == set(bench_actor_forward.MODES)
    # fp32 on the CPU: the three ways of computing the same log-probs agree
    assert max(result["max_abs_log_prob_diff"].values()) < 1e-4
    assert result["prompts"] == 2 and result["answers_per_prompt"] == 2


@pytest.mark.slow
def test_memory_plan_estimate_matches_the_measured_step() -> None:
    # Memory, not time: the rise of the peak resident set over one forward + backward, in a fresh process,
    # against --memory_plan's estimate for it (measured 0.97 and 0.99 when written).
    from bench import bench_memory_plan

    result = bench_memory_plan.main(quick=True)
    assert set(result["cases"]) == {"padded_checkpointing_off", "padded_checkpointing_every_block"}
    for name, case in result["cases"].items():
        assert 0.85 <= case["ratio"] <= 1.08, (name, case)
    off, every = result["cases"]["padded_checkpointing_off"], result["cases"]["padded_checkpointing_every_block"]
    assert every["measured_bytes"] < off["measured_bytes"]


@pytest.mark.slow
def test_rollout_prefill_quick() -> None:
    from bench import bench_rollout_prefill

    result = bench_rollout_prefill.main(quick=True)
    assert set(result["seconds_per_generate"]) == set(bench_rollout_prefill.ENGINES)
    assert all(s["median"] > 0 for s in result["seconds_per_generate"].values())
    assert result["speedup_shared_prefill"] > 0 and result["rows_with_identical_samples"].endswith("of 8")
