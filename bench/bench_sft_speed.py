"""SFT step speed of the trainer's own code path, stock vs each fast path vs all together, in one run.

Each mode builds the Rex-Omni-3B shape with the same random weights (bf16, one GPU), switches on its
options with ``finetuning.speed.apply_speed_options`` and trains through exactly what
``finetuning/train.py`` runs: ``GroundingTSVDataset`` -> the configured collator (padded or packed)
-> ``RexOmniTrainer.compute_loss`` (soft-CE on coordinate tokens) -> backward -> clip -> the
trainer's optimizer (``create_optimizer``, fused AdamW). Data: toy grounding scenes with 10-60
shapes at two image sizes (about 1,000 and 2,000 visual tokens), built on the fly.

Printed per mode: tokens/s (real tokens), MFU, peak GiB, the peak ``--memory_plan auto`` estimates for
that mode (the measured column is what calibrates it), and the first step's loss (equal across modes up
to bf16 rounding: a fast path that changed the loss would show here). MFU counts model
FLOPs as ``bench.gpu_check.step_flops`` (no recompute) over the bf16 dense peak.

``python -m bench.bench_sft_speed [--dry-run]``; ``--dry-run`` uses the test-size model in fp32 on
the CPU with small images and only the modes the CPU can train (used by the tests). Writes
``$OUT/sft_speed.json`` when ``$OUT`` is set.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.util
import logging
import os
import tempfile
import time
from typing import Any

import torch

from bench.common import format_table, save_results, stats_of
from bench.gpu_check import GIB, peak_tflops_of, step_flops, sync_device

logger = logging.getLogger("bench_sft_speed")

IMAGE_SIZES = {"full": ((896, 896), (1288, 1232)), "dry": ((112, 112), (168, 140))}  # 1,024 and 2,024 tokens
SHAPES_PER_IMAGE = (10, 60)


@dataclasses.dataclass(frozen=True)
class Mode:
    """One column of the table: the collator and the speed flags (``ModelArguments`` names)."""

    packed: bool = False
    gradient_checkpointing: bool = True
    gradient_checkpointing_stride: int = 1
    packed_attention: str = "off"
    batched_vision_windows: bool = False
    linear_ce: str = "off"
    compile_blocks: bool = False
    liger: bool = False  # Liger RMSNorm/SwiGLU/M-RoPE patches (class-level: these modes run last)
    needs: tuple[str, ...] = ()  # "cuda", "liger", "varlen", "compile"


def all_modes(best_packed: str, liger: bool, compile_blocks: bool) -> dict[str, Mode]:
    """The modes in run order; the arguments pick the "all" combination."""
    fast = dict(packed=True, packed_attention=best_packed, batched_vision_windows=True,
                linear_ce="liger" if liger else "chunked", gradient_checkpointing=False,
                compile_blocks=compile_blocks, liger=liger)
    return {
        "stock_padded": Mode(),
        "stock_packed": Mode(packed=True),
        "packed_sdpa_split": Mode(packed=True, packed_attention="sdpa_split"),
        "packed_flex": Mode(packed=True, packed_attention="flex", needs=("cuda",)),
        "packed_varlen": Mode(packed=True, packed_attention="varlen", needs=("cuda", "varlen")),
        "batched_windows": Mode(batched_vision_windows=True),
        "linear_ce_chunked": Mode(linear_ce="chunked"),
        "linear_ce_liger": Mode(linear_ce="liger", needs=("cuda", "liger")),
        "no_checkpointing": Mode(gradient_checkpointing=False),
        "compile_blocks": Mode(compile_blocks=True, needs=("compile",)),
        "liger_kernels": Mode(liger=True, needs=("cuda", "liger")),
        "all": Mode(**fast),
        "all_checkpoint_every_2nd": Mode(**{**fast, "gradient_checkpointing": True,
                                            "gradient_checkpointing_stride": 2}),
    }


def available(needs: tuple[str, ...], device: torch.device) -> bool:
    """Whether a mode can run here; compilation is left to CUDA (inductor on a CPU would dominate the run)."""
    have = {"cuda": device.type == "cuda", "compile": device.type == "cuda",
            "liger": device.type == "cuda" and importlib.util.find_spec("liger_kernel") is not None,
            "varlen": importlib.util.find_spec("torch.nn.attention.varlen") is not None}
    return all(have[n] for n in needs)


# ------------------------------------------------------------------------------------------------ data


def build_data(workdir: str, dry_run: bool, num_samples: int) -> tuple[Any, list[dict[str, torch.Tensor]]]:
    """Toy tokenizer/processor and ``num_samples`` dataset items (half per image size), in dataset order."""
    from dataset.sft_dataset import GroundingTSVDataset
    from dataset.task_fns import GroundingTaskFn
    from dataset.task_fns.task_prompts import GROUNDING_SINGLE_REGION_STAGE_XYXY
    from demo.tiny_model import build_processor, build_tokenizer
    from demo.toy_data import make_toy_datasets

    sizes = IMAGE_SIZES["dry" if dry_run else "full"]
    max_pixels = max(w * h for w, h in sizes) + 28 * 28
    processor = build_processor(build_tokenizer(), min_pixels=28 * 28, max_pixels=max_pixels)
    processor.tokenizer.padding_side = "right"
    per_size = [[] for _ in sizes]
    for i, (width, height) in enumerate(sizes):
        paths = make_toy_datasets(os.path.join(workdir, f"{width}x{height}"), num_train=num_samples, num_val=1,
                                  image_size=(width, height), seed=i, max_objects=SHAPES_PER_IMAGE[1],
                                  size_range=(0.03, 0.07), negative_rate=0.0)
        split = paths["toy_grounding_train"]
        ds = GroundingTSVDataset(split.image_tsv, split.ann_tsv, split.lineidx, image_min_pixels=28 * 28,
                                 image_max_pixels=max_pixels, task_fn=GroundingTaskFn(GROUNDING_SINGLE_REGION_STAGE_XYXY),
                                 processor=processor, max_length=8192)
        per_size[i] = [ds[j] for j in range(num_samples)]
    samples = [s for pair in zip(*per_size) for s in pair][:num_samples]  # alternate sizes: padding as in training
    return processor, samples


def sample_stats(samples: list[dict[str, torch.Tensor]], coord_ids: list[int]) -> dict[str, Any]:
    """Tokens, visual tokens and boxes (supervised coordinate tokens / 4) per sample."""
    ids = torch.tensor(coord_ids)
    boxes = [int(torch.isin(s["labels"], ids).sum()) // 4 for s in samples]
    visual = [int(s["image_grid_thw"].prod()) // 4 for s in samples]
    return {"tokens": [int(s["input_ids"].numel()) for s in samples], "visual_tokens": visual, "boxes": boxes}


# ---------------------------------------------------------------------------------------------- a mode


def build_model(processor: Any, dry_run: bool, device: torch.device, liger: bool) -> Any:
    """Same random weights every call: the 3B shape in bf16, or the test-size model in fp32 (``dry_run``)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from demo.tiny_model import rex_omni_3b_config, tiny_config
    from finetuning.model_loading import maybe_apply_liger, set_use_cache

    config = tiny_config("test", processor.tokenizer) if dry_run else rex_omni_3b_config(processor.tokenizer)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(
            config, dtype=torch.float32 if dry_run else torch.bfloat16, attn_implementation="sdpa")
    set_use_cache(model, False)
    if liger:
        maybe_apply_liger("on", model)
    return model


def run_mode(mode: Mode, processor: Any, samples: list[dict[str, torch.Tensor]], coord_ids: list[int],
             args: argparse.Namespace, device: torch.device, workdir: str) -> dict[str, Any]:
    """Warm-up and timed optimizer steps of one mode; seconds, tokens/s, MFU, peak GiB, first loss."""
    from dataset.collator import DataCollatorForSupervisedDataset, FlattenedDataCollatorForSupervisedDataset
    from finetuning.arguments import ModelArguments, TrainingArguments
    from finetuning.speed import apply_speed_options, thin_gradient_checkpointing
    from finetuning.trainer import RexOmniTrainer

    build_start = time.perf_counter()
    model = build_model(processor, args.dry_run, device, mode.liger)
    sync_device(device)
    build_seconds = time.perf_counter() - build_start  # start-up: random weights built in place, in their dtype
    flags = {f.name: getattr(mode, f.name) for f in dataclasses.fields(ModelArguments)
             if hasattr(mode, f.name) and f.name != "liger"}
    apply_speed_options(model, ModelArguments(model_name_or_path="bench", tune_mm_llm=True, **flags), mode.packed)
    training_args = TrainingArguments(output_dir=workdir, report_to="none", bf16=not args.dry_run,
                                      use_cpu=device.type == "cpu", gradient_checkpointing=mode.gradient_checkpointing,
                                      optim="adamw_torch" if args.dry_run else "adamw_torch_fused",
                                      learning_rate=1e-5, max_grad_norm=1.0)
    collator = (FlattenedDataCollatorForSupervisedDataset if mode.packed else DataCollatorForSupervisedDataset)(
        tokenizer=processor.tokenizer)
    trainer = RexOmniTrainer(model=model, args=training_args, data_collator=collator, coord_token_ids=coord_ids,
                             coord_sigma=2.0, linear_ce=mode.linear_ce)
    if mode.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        thin_gradient_checkpointing(model, mode.gradient_checkpointing_stride)
    model.train()
    optimizer = trainer.create_optimizer()
    batch = trainer._prepare_inputs(collator(samples))
    estimate = None
    if not mode.compile_blocks:  # hooks inside compiled blocks would recompile them
        from finetuning.memory_plan import estimated_peak, probe_activations, static_bytes

        probe = probe_activations(model, trainer.compute_loss, batch)
        stride = mode.gradient_checkpointing_stride if mode.gradient_checkpointing else 0
        estimate = estimated_peak(probe, static_bytes(model), stride) / GIB

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    first_loss, times = None, []
    for i in range(args.warmup + args.steps):
        sync_device(device)
        start = time.perf_counter()
        loss = trainer.compute_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss = float(loss.detach())
        sync_device(device)
        first_loss = loss if first_loss is None else first_loss
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None
    del trainer, optimizer, model, batch
    return {"step_seconds": stats_of(times), "first_loss": first_loss, "peak_memory_gib": peak,
            "estimated_peak_gib": estimate, "build_seconds": build_seconds}


# ----------------------------------------------------------------------------------------------- main


def model_flops(processor: Any, samples: list[dict[str, torch.Tensor]], dry_run: bool) -> float:
    """Model FLOPs of one step over ``samples`` (``bench.gpu_check.step_flops``; shapes only, on meta)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from demo.tiny_model import rex_omni_3b_config, tiny_config

    config = tiny_config("test", processor.tokenizer) if dry_run else rex_omni_3b_config(processor.tokenizer)
    with torch.device("meta"):
        shape = Qwen2_5_VLForConditionalGeneration._from_config(config)
    patches = sum(int(s["pixel_values"].shape[0]) for s in samples)
    return step_flops(shape, [int(s["input_ids"].numel()) for s in samples], patches)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every mode available here on the same samples; returns the results (see :func:`table`)."""
    from demo.tiny_model import coordinate_token_ids

    device = torch.device("cpu" if args.dry_run or not torch.cuda.is_available() else "cuda")
    with tempfile.TemporaryDirectory() as workdir:
        processor, samples = build_data(workdir, args.dry_run, args.samples)
        coord_ids = coordinate_token_ids(processor.tokenizer)
        flops = model_flops(processor, samples, args.dry_run)
        peak = peak_tflops_of(device, args.peak_tflops)
        stats = sample_stats(samples, coord_ids)
        liger = available(("cuda", "liger"), device)
        # "all" packs through sdpa_split, the kernel the CPU tests train through; varlen and flex are
        # first measured alone (their torch APIs are younger).
        modes = all_modes("sdpa_split", liger, compile_blocks=available(("compile",), device))
        results: dict[str, Any] = {
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__, "transformers": __import__("transformers").__version__,
            "model": "test-size, fp32 (dry run)" if args.dry_run else "Rex-Omni-3B shape, random weights, bf16",
            "samples": stats, "flops_per_step": flops, "modes": {}, "skipped": {},
        }
        tokens = sum(stats["tokens"])
        for name, mode in modes.items():
            if args.modes and name not in args.modes:
                continue
            if not available(mode.needs, device):
                results["skipped"][name] = f"needs {', '.join(mode.needs)}"
                continue
            logger.info("mode %s: %s", name, mode)
            try:
                entry = run_mode(mode, processor, samples, coord_ids, args, device, workdir)
            except Exception as exc:  # noqa: BLE001 -- one failing mode (OOM, a kernel) must not end the run
                if args.dry_run:
                    raise
                results["skipped"][name] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
                logger.exception("mode %s failed", name)
                continue
            finally:
                gc.collect()
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            seconds = entry["step_seconds"]["median"]
            entry["tokens_per_s"] = tokens / seconds
            entry["mfu"] = flops / seconds / (peak * 1e12) if peak else None
            entry["flags"] = dataclasses.asdict(mode)
            results["modes"][name] = entry
    return results


def table(results: dict[str, Any]) -> str:
    """One row per mode: tokens/s, speed-up over stock_padded, MFU, peak GiB, the peak
    ``--memory_plan`` estimates for it (finetuning/memory_plan.py), first loss."""
    base = results["modes"].get("stock_padded", {}).get("tokens_per_s")
    rows = []
    for name, r in results["modes"].items():
        rows.append((name, f"{r['tokens_per_s']:.0f}", f"{r['tokens_per_s'] / base:.2f}x" if base else "-",
                     f"{100 * r['mfu']:.1f}%" if r["mfu"] else "-",
                     "-" if r["peak_memory_gib"] is None else f"{r['peak_memory_gib']:.1f}",
                     "-" if r.get("estimated_peak_gib") is None else f"{r['estimated_peak_gib']:.1f}",
                     f"{r['first_loss']:.4f}"))
    for name, why in results["skipped"].items():
        rows.append((name, "skipped", why, "", "", "", ""))
    return format_table(rows, ("mode", "tokens/s", "vs stock", "MFU", "peak GiB", "est. GiB", "first loss"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="test-size model, fp32, CPU, small images")
    parser.add_argument("--samples", type=int, default=8, help="samples per step (half per image size)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per mode (compilation happens here)")
    parser.add_argument("--modes", nargs="*", default=None, help="only these modes (default: all available)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the device's bf16 dense peak")
    parser.add_argument("--out", default=None, help="JSON path (default $OUT/sft_speed.json when $OUT is set)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    results = run(args)
    s = results["samples"]
    print(f"{results['device']} | {results['model']} | torch {results['torch']} | {len(s['tokens'])} samples, "
          f"{sum(s['tokens'])} tokens, visual tokens {min(s['visual_tokens'])}-{max(s['visual_tokens'])}, "
          f"boxes {min(s['boxes'])}-{max(s['boxes'])}")
    print(table(results))
    save_results(results, args.out, "sft_speed.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
