"""LoRA vs full finetuning on the CPU demo model: trainable parameters and peak memory of training steps.

Each mode runs in a fresh process (so the peak RSS, ``VmHWM``, is that mode's alone): load the demo
Rex-Omni in fp32, wrap it as ``scripts/sft.sh`` does (full: every part trains; LoRA: ``LORA=1`` demo
settings, r=64 on LLM + vision + merger, coordinate-token rows), build AdamW over the trainable
parameters and run ``STEPS`` forward + backward + step on padded batches of 4 toy grounding samples.
Reported: trainable / total parameters, RSS after loading, peak RSS, and the peak above the loaded
model (gradients, optimizer states, activations). The demo model is tiny (5.2M parameters), so the
interpreter and libraries dominate the absolute RSS; the increment is the comparable figure.

Run ``python -m bench.bench_lora_memory``; :func:`main` returns the numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from typing import Any

from bench.common import peak_rss_bytes, rss_bytes

MODEL_DIR = "work_dirs/models/rex-omni-demo"
STEPS = 3
MIB = 1 << 20


def reset_peak_rss() -> None:
    """Reset this process's ``VmHWM`` to its current RSS (Linux ``clear_refs`` code 5)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")


def run_mode(mode: str) -> dict[str, Any]:
    """Train ``STEPS`` steps in this process in ``mode`` (``full`` or ``lora``); returns the figures."""
    import torch
    from transformers import AutoProcessor

    from bench.bench_sft_step import build_datasets, collate_both, mixed_samples
    from finetuning.freezing import apply_freezing
    from finetuning.lora import LoraSettings, apply_lora, coordinate_and_marker_ids, count_parameters
    from finetuning.model_loading import load_model

    torch.manual_seed(0)
    processor = AutoProcessor.from_pretrained(MODEL_DIR)
    with tempfile.TemporaryDirectory() as data_dir:
        samples = mixed_samples(build_datasets(data_dir, processor, 8), 4 * STEPS)
    batches = collate_both(samples, processor.tokenizer.pad_token_id)["padded"]
    model = load_model(MODEL_DIR, attn_implementation="sdpa")
    if mode == "lora":
        settings = LoraSettings(r=64, alpha=128, vision=True, merger=True, coord_tokens=True)
        model = apply_lora(model, settings, {"llm": True, "vision": True, "merger": True},
                           coordinate_and_marker_ids(processor.tokenizer))
    else:
        apply_freezing(model, True, True, True)
    trainable, total = count_parameters(model)
    loaded = rss_bytes()
    reset_peak_rss()  # the peak so far is from building the samples, not from training
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    for batch in batches:
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    peak = peak_rss_bytes()
    return {"mode": mode, "trainable_params": trainable, "total_params": total,
            "rss_loaded_mib": round(loaded / MIB, 1), "peak_rss_mib": round(peak / MIB, 1),
            "peak_above_loaded_mib": round((peak - loaded) / MIB, 1), "steps": STEPS, "batch_size": 4}


def main(quick: bool = False) -> dict[str, Any]:
    """Both modes, each in its own subprocess; returns ``{"full": {...}, "lora": {...}}``."""
    results = {}
    for mode in ("full", "lora"):
        proc = subprocess.run([sys.executable, "-m", "bench.bench_lora_memory", "--mode", mode],
                              capture_output=True, text=True, check=True)
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("full", "lora"), default=None,
                        help="measure one mode in this process (default: both, each in a subprocess)")
    args = parser.parse_args()
    print(json.dumps(run_mode(args.mode) if args.mode else main(), indent=None if args.mode else 2))
