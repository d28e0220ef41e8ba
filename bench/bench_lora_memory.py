"""LoRA vs full finetuning on the CPU demo model: trainable parameters and peak memory of training steps.

Each mode runs in a fresh process (so the peak RSS, ``VmHWM``, is that mode's alone): load the demo
Rex-Omni in fp32, wrap it as ``scripts/sft.sh`` does (full: every part trains; LoRA: ``LORA=1`` demo
settings, r=64 on LLM + vision + merger, coordinate-token rows), build AdamW over the trainable
parameters and run ``STEPS`` forward + backward + step on padded batches of 4 toy grounding samples.
Reported: trainable / total parameters, RSS after loading, peak RSS, and the peak above the loaded
model (gradients, optimizer states, activations). The demo model is tiny (5.2M parameters), so the
interpreter and libraries dominate the absolute RSS; the increment is the comparable figure.

``count_3b`` adds exact trainable-parameter counts of the 3B shape (meta device, no weights) and the
training-state size they imply; the 3B memory itself needs a GPU and is not measured here.

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


MODES = {  # mode -> LoRA settings (None: full finetuning)
    "full": None,
    "lora": dict(r=64, alpha=128, vision=True, merger=True, coord_tokens=True),  # LORA=1 demo settings
    "lora_r8_llm": dict(r=8, alpha=16, dropout=0.0),  # a lean recipe: LLM only, no dropout copies
}
LEAN = {"lora_r8_llm"}  # vision tower and merger frozen (tune_mm_vision/tune_mm_mlp False), not fully trained
# Qwen2.5-VL-3B / Rex-Omni-3B shape (config.json of the hub model), built on the meta device for counting.
SHAPE_3B = dict(
    text_config=dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                     num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True,
                     rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]}),
    vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                       fullatt_block_indexes=[7, 15, 23, 31]),
    tie_word_embeddings=True,
)


def count_3b() -> dict[str, Any]:
    """Trainable / total parameters of the 3B shape, full and with LoRA (no weights: meta device).

    ``train_state_gib`` estimates bf16 weights (2 B each) plus, per trainable parameter, a bf16 gradient
    and fp32 master weight + AdamW moments (2 + 12 B), i.e. ZeRO's mixed-precision layout before activations.
    """
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from modeling.lora import LoraSettings, apply_lora, count_parameters

    out = {}
    for name, settings in (("full", None), ("lora_r64_llm", dict(r=64, alpha=128)),
                           ("lora_r64_llm_vision_merger", dict(r=64, alpha=128, vision=True, merger=True)),
                           ("lora_r8_llm", dict(r=8, alpha=16))):
        with torch.device("meta"):
            model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**SHAPE_3B))
        if settings is not None:
            model = apply_lora(model, LoraSettings(**settings), {"llm": False, "vision": False, "merger": False})
        trainable, total = count_parameters(model)
        out[name] = {"trainable_params": trainable, "total_params": total,
                     "train_state_gib": round((2 * total + 14 * trainable) / (1 << 30), 1)}
    return out


def run_mode(mode: str) -> dict[str, Any]:
    """Train ``STEPS`` steps in this process in ``mode`` (a key of ``MODES``); returns the figures."""
    import torch
    from transformers import AutoProcessor

    from bench.bench_sft_step import build_datasets, collate_both, mixed_samples
    from finetuning.freezing import apply_freezing
    from finetuning.model_loading import load_model
    from modeling.lora import LoraSettings, apply_lora, coordinate_and_marker_ids, count_parameters

    torch.manual_seed(0)
    processor = AutoProcessor.from_pretrained(MODEL_DIR)
    with tempfile.TemporaryDirectory() as data_dir:
        samples = mixed_samples(build_datasets(data_dir, processor, 8), 4 * STEPS)
    batches = collate_both(samples, processor.tokenizer.pad_token_id)["padded"]
    model = load_model(MODEL_DIR, attn_implementation="sdpa")
    if MODES[mode] is not None:
        settings = LoraSettings(**MODES[mode])
        token_ids = coordinate_and_marker_ids(processor.tokenizer) if settings.coord_tokens else None
        tune = dict.fromkeys(("llm", "vision", "merger"), mode not in LEAN)
        model = apply_lora(model, settings, tune, token_ids)
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
    """Every mode, each in its own subprocess, plus the 3B counts; returns ``{mode: {...}, "3b": {...}}``."""
    results: dict[str, Any] = {"3b": count_3b()}
    for mode in MODES:
        proc = subprocess.run([sys.executable, "-m", "bench.bench_lora_memory", "--mode", mode],
                              capture_output=True, text=True, check=True)
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=sorted(MODES), default=None,
                        help="measure one mode in this process (default: every mode, each in a subprocess)")
    args = parser.parse_args()
    print(json.dumps(run_mode(args.mode) if args.mode else main(), indent=None if args.mode else 2))
