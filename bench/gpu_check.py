"""One-GPU check of the real Rex-Omni-3B shape with random weights (no download), in under 8 minutes.

Measures, on one H100/H200 in bf16:

* SFT step (forward + backward + AdamW) with padded and with packed batches of the same synthetic
  samples: tokens/s (real tokens only), MFU and peak memory. Batches have exactly the layout of
  ``dataset/collator.py`` (padded: ``attention_mask`` + ``(3, B, L)`` positions; packed: one row,
  ``(4, 1, S)`` positions whose text row restarts per sample, no mask, ``use_cache=False``). That
  module is not imported because ``dataset.registry`` imports mmengine, absent on the GPU image.
* The same SFT steps again with the vision tower's windows batched (``finetuning.vision_attention``;
  transformers' SDPA path attends each 112-px window in its own call), unless ``--no-batched-windows``.
* GRPO phases with the hf rollout at a small batch: ``generate`` (sampling), old log-probs (no
  grad) and the policy update (clipped-ratio loss, backward, AdamW): seconds, tokens/s, peak memory
  (with batched windows when the SDPA comparison ran).

Only torch, transformers and light repo modules (``bench.common``, ``dataset.mrope``,
``demo.tiny_model``) are imported. ``--dry-run`` runs the test-size model on the CPU for one
step of everything (used by the tests). Writes ``$OUT/gpu_check.json`` when ``$OUT`` is set.

MFU counts model FLOPs: ``6 * (N_llm + V*H) * T + 6 * N_vit * patches + 6 * layers * H * sum(L_i^2)``
(dense matmuls, LM head, causal text attention; no recompute from gradient checkpointing, vision
attention left out) over the bf16 dense peak (989 TFLOP/s for H100/H200 SXM).
"""

from __future__ import annotations

import argparse
import logging
import math
import platform
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from bench.common import format_table, save_results, stats_of
from dataset.mrope import MRopeIndexer
from demo.tiny_model import SPECIAL_TOKENS, rex_omni_3b_config, tiny_config
from finetuning.vision_attention import enable_batched_window_attention

logger = logging.getLogger("gpu_check")

IGNORE_INDEX = -100
PATCH_DIM = 3 * 2 * 14 * 14  # channels * temporal_patch * patch^2 = 1176
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}
GIB = 1024**3
DRY_RUN_VOCAB_BASE = 1000


class TokenIds:
    """The few tokenizer methods ``tiny_config`` needs: special tokens at ``base..``, nothing else.

    The dry run uses ``base=1000`` (vocab 1024) so its LM head stays tiny.
    """

    unk_token_id = None

    def __init__(self, base: int) -> None:
        self.base = base

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.base + SPECIAL_TOKENS.index(token)

    def __len__(self) -> int:
        return self.base + len(SPECIAL_TOKENS)


def build_model(dry_run: bool, device: torch.device, attn: str) -> Qwen2_5_VLForConditionalGeneration:
    """Random-weight Rex-Omni-3B (bf16, on ``device``), or the test-size model in fp32 for ``dry_run``."""
    config = tiny_config("test", TokenIds(DRY_RUN_VOCAB_BASE)) if dry_run else rex_omni_3b_config()
    dtype = torch.float32 if dry_run else torch.bfloat16
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype, attn_implementation=attn)
    return model


# ------------------------------------------------------------------------------------ synthetic samples


class SampleMaker:
    """Synthetic SFT/GRPO samples: a prompt with one image (``grid`` patches) and an answer."""

    def __init__(self, config: Any, seed: int = 0) -> None:
        self.config = config
        self.rng = random.Random(seed)
        self.image_id = config.image_token_id
        self.text_ids = range(10, min(config.vision_start_token_id, config.image_token_id) - 20)  # no specials
        self.indexer = MRopeIndexer(config, config.image_token_id, merge_size=2)
        self.rope_fallback: str | None = None

    def positions(self, ids: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """M-RoPE ids ``(3, L)``; plain ``0..L-1`` if this transformers' ``get_rope_index`` differs
        (the cost of attention does not depend on the position values)."""
        try:
            return self.indexer.position_ids(ids, grid)
        except Exception as exc:  # noqa: BLE001 -- recorded in the results, timing still valid
            self.rope_fallback = f"{type(exc).__name__}: {exc}"
            return torch.arange(ids.numel()).expand(3, -1).clone()

    def prompt_ids(self, grid_hw: tuple[int, int], text_len: int) -> list[int]:
        """``<|vision_start|> <|image_pad|>*N <|vision_end|>`` then ``text_len`` random text tokens."""
        c = self.config
        image = [c.vision_start_token_id] + [self.image_id] * (grid_hw[0] * grid_hw[1] // 4) + [c.vision_end_token_id]
        return [self.rng.choice(self.text_ids) for _ in range(8)] + image + self._text(text_len)

    def _text(self, n: int) -> list[int]:
        return [self.rng.choice(self.text_ids) for _ in range(n)]

    def image(self, grid_hw: tuple[int, int]) -> dict[str, torch.Tensor]:
        h, w = grid_hw
        return {"pixel_values": torch.randn(h * w, PATCH_DIM), "image_grid_thw": torch.tensor([[1, h, w]])}

    def sft_sample(self, grid_hw: tuple[int, int], prompt_len: int, answer_len: int) -> dict[str, torch.Tensor]:
        """One sample as ``TSVDataset`` returns it: input_ids, labels (prompt masked), position_ids (3, L)."""
        prompt = self.prompt_ids(grid_hw, prompt_len)
        ids = torch.tensor(prompt + self._text(answer_len))
        labels = ids.clone()
        labels[: len(prompt)] = IGNORE_INDEX
        img = self.image(grid_hw)
        return {"input_ids": ids, "labels": labels, "position_ids": self.positions(ids, img["image_grid_thw"]), **img}


def _images(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {"pixel_values": torch.cat([s["pixel_values"] for s in samples]),
            "image_grid_thw": torch.cat([s["image_grid_thw"] for s in samples])}


def padded_batch(samples: list[dict[str, torch.Tensor]], pad_id: int) -> dict[str, Any]:
    """``DataCollatorForSupervisedDataset`` layout: right padding, mask from lengths, ``(3, B, L)`` positions."""
    lengths = [int(s["input_ids"].numel()) for s in samples]
    b, n = len(samples), max(lengths)
    input_ids = torch.full((b, n), pad_id, dtype=torch.long)
    labels = torch.full((b, n), IGNORE_INDEX, dtype=torch.long)
    position_ids = torch.ones((3, b, n), dtype=torch.long)
    for row, (s, length) in enumerate(zip(samples, lengths)):
        input_ids[row, :length], labels[row, :length] = s["input_ids"], s["labels"]
        position_ids[:, row, :length] = s["position_ids"]
    mask = (torch.arange(n)[None] < torch.tensor(lengths)[:, None]).long()
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask, "position_ids": position_ids,
            **_images(samples)}


def packed_batch(samples: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
    """``FlattenedDataCollatorForSupervisedDataset`` layout: one row, ``(4, 1, S)`` positions, no mask."""
    text_pos = torch.cat([torch.arange(s["input_ids"].numel()) for s in samples])
    mrope = torch.cat([s["position_ids"] for s in samples], dim=1)
    return {"input_ids": torch.cat([s["input_ids"] for s in samples])[None],
            "labels": torch.cat([s["labels"] for s in samples])[None],
            "position_ids": torch.cat([text_pos[None], mrope])[:, None, :], **_images(samples), "use_cache": False}


# ------------------------------------------------------------------------------------------- accounting


def _to(batch: dict[str, Any], device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device, dtype=dtype if v.is_floating_point() else None, non_blocking=True)
        out[k] = v
    return out


def param_counts(model: Any) -> dict[str, int]:
    """Non-embedding LLM, vision tower and embedding parameter counts."""
    inner = model.model
    embed = inner.language_model.embed_tokens.weight.numel()
    return {"llm_non_embedding": sum(p.numel() for p in inner.language_model.parameters()) - embed,
            "vision": sum(p.numel() for p in inner.visual.parameters()), "embedding": embed,
            "total": sum(p.numel() for p in model.parameters())}


def step_flops(model: Any, lengths: list[int], num_patches: int) -> float:
    """Model FLOPs of one training step (forward + backward) over samples of ``lengths`` tokens."""
    c, n = model.config.text_config, param_counts(model)
    tokens = sum(lengths)
    dense = 6 * (n["llm_non_embedding"] + c.vocab_size * c.hidden_size) * tokens
    attention = 6 * c.num_hidden_layers * c.hidden_size * sum(length * length for length in lengths)
    return float(dense + attention + 6 * n["vision"] * num_patches)


def sync_device(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_call(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    sync_device(device)
    start = time.perf_counter()
    out = fn()
    sync_device(device)
    return time.perf_counter() - start, out


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None


def peak_tflops_of(device: torch.device, override: float | None) -> float | None:
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


# ------------------------------------------------------------------------------------------------ SFT


def _time_sft_mode(model: Any, mode: str, batch: dict[str, Any], args: argparse.Namespace, device: torch.device,
                   optimizer: torch.optim.Optimizer, flops: float, tokens: int, peak: float | None) -> dict[str, Any]:
    """Warm-up and timed optimiser steps on one batch: seconds, tokens/s, MFU, peak memory."""
    _reset_peak(device)

    def step() -> float:
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    for _ in range(args.warmup):
        step()
    stats = stats_of([timed_call(step, device)[0] for _ in range(args.steps)])
    entry: dict[str, Any] = {"step_seconds": stats, "peak_memory_gib": _peak_gib(device),
                             "row_tokens": int(batch["input_ids"].numel())}
    entry["tokens_per_s"] = {"median": tokens / stats["median"], "min": tokens / stats["max"],
                             "max": tokens / stats["min"]}
    entry["padding_fraction"] = 1 - tokens / entry["row_tokens"]
    if peak:
        entry["mfu"] = flops / stats["median"] / (peak * 1e12)
    logger.info("sft %s: %.3fs/step, %.0f tokens/s, peak %s GiB", mode, stats["median"],
                entry["tokens_per_s"]["median"], entry["peak_memory_gib"])
    return entry


def bench_sft(model: Any, maker: SampleMaker, args: argparse.Namespace, device: torch.device,
              dtype: torch.dtype, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Padded vs packed SFT steps on the same samples: seconds, tokens/s, MFU, peak memory.

    With ``args.batched_windows`` (and an SDPA vision tower) both are then repeated with
    ``finetuning.vision_attention``'s batched window attention: modes ``*_batched_windows``.
    """
    rng = random.Random(1)
    samples = []
    for _ in range(args.sft_batch):
        side = rng.randrange(args.grid_min // 2, args.grid_max // 2 + 1) * 2  # even: 2x2 merge
        samples.append(maker.sft_sample((side, side + 2 * rng.randrange(0, 3)), rng.randrange(*args.prompt_len),
                                        rng.randrange(*args.answer_len)))
    lengths = [int(s["input_ids"].numel()) for s in samples]
    patches = sum(int(s["pixel_values"].shape[0]) for s in samples)
    flops = step_flops(model, lengths, patches)
    peak = peak_tflops_of(device, args.peak_tflops)
    pad_id = model.config.text_config.pad_token_id or 0
    results: dict[str, Any] = {"samples": len(samples), "tokens": sum(lengths), "max_len": max(lengths),
                               "patches": patches, "flops_per_step": flops}
    model.train()
    batches = {"padded": _to(padded_batch(samples, pad_id), device, dtype),
               "packed": _to(packed_batch(samples), device, dtype)}
    timed = partial(_time_sft_mode, model, args=args, device=device, optimizer=optimizer, flops=flops,
                    tokens=sum(lengths), peak=peak)
    for mode, batch in batches.items():
        results[mode] = timed(mode, batch)
    if args.batched_windows:
        if enable_batched_window_attention(model):
            for mode, batch in batches.items():
                results[f"{mode}_batched_windows"] = timed(f"{mode}_batched_windows", batch)
        else:
            logger.info("batched windows: the vision tower does not use sdpa; nothing to compare")
    results["modes"] = [m for m in ("padded", "packed", "padded_batched_windows", "packed_batched_windows")
                        if m in results]
    results["packed_speedup"] = results["packed"]["tokens_per_s"]["median"] / results["padded"]["tokens_per_s"]["median"]
    if "padded_batched_windows" in results:
        results["batched_windows_speedup"] = {
            name: results[f"{name}_batched_windows"]["tokens_per_s"]["median"] / results[name]["tokens_per_s"]["median"]
            for name in ("padded", "packed") if f"{name}_batched_windows" in results}
    return results


# ----------------------------------------------------------------------------------------------- GRPO


def _token_logprobs(model: Any, batch: dict[str, Any], response_len: int) -> torch.Tensor:
    """Log-probs ``(B, R)`` of the last ``response_len`` tokens of ``input_ids`` (fp32 softmax)."""
    logits = model(**batch).logits[:, -response_len - 1 : -1].float()
    targets = batch["input_ids"][:, -response_len:]
    return torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None])[..., 0]


def _rows(batch: dict[str, Any], start: int, stop: int, patches_per_row: int) -> dict[str, Any]:
    """Rows ``start:stop`` of a batch whose rows all carry one image of the same size."""
    out = {k: v[start:stop] for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    out["pixel_values"] = batch["pixel_values"][start * patches_per_row : stop * patches_per_row]
    out["image_grid_thw"] = batch["image_grid_thw"][start:stop]
    return out


def bench_grpo(model: Any, maker: SampleMaker, args: argparse.Namespace, device: torch.device,
               dtype: torch.dtype, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """One GRPO iteration's phases, repeated: generate, old log-probs, policy update."""
    grid = (args.grpo_grid, args.grpo_grid)
    rows = args.grpo_prompts * args.grpo_n  # every prompt repeated n times (same lengths: no padding)
    prompts = [maker.prompt_ids(grid, args.grpo_prompt_len) for _ in range(args.grpo_prompts)]
    ids = torch.tensor([p for p in prompts for _ in range(args.grpo_n)])
    img = maker.image(grid)
    gen_batch = _to({"input_ids": ids, "attention_mask": torch.ones_like(ids),
                     "pixel_values": img["pixel_values"].repeat(rows, 1),
                     "image_grid_thw": img["image_grid_thw"].repeat(rows, 1)}, device, dtype)
    patches, r_len, micro = int(img["pixel_values"].shape[0]), args.grpo_response_len, args.grpo_micro_batch
    phases: dict[str, list[float]] = {"generate": [], "log_probs": [], "update": []}
    peaks: dict[str, float | None] = {}

    def generate() -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            return model.generate(**gen_batch, do_sample=True, temperature=1.0, top_p=1.0, max_new_tokens=r_len,
                                  min_new_tokens=r_len, use_cache=True, pad_token_id=0)

    def full_batch(seqs: torch.Tensor) -> dict[str, Any]:
        return {**gen_batch, "input_ids": seqs, "attention_mask": torch.ones_like(seqs)}

    def log_probs(seqs: torch.Tensor) -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            fb = full_batch(seqs)
            return torch.cat([_token_logprobs(model, _rows(fb, i, i + micro, patches), r_len)
                              for i in range(0, rows, micro)])

    def update(seqs: torch.Tensor, old: torch.Tensor) -> float:
        model.train()
        fb, advantages, total = full_batch(seqs), torch.randn(rows, 1, device=device), 0.0
        for i in range(0, rows, micro):
            new = _token_logprobs(model, _rows(fb, i, i + micro, patches), r_len)
            ratio = torch.exp(new - old[i : i + micro])
            adv = advantages[i : i + micro]
            loss = -torch.minimum(ratio * adv, ratio.clamp(0.8, 1.28) * adv).mean() * (micro / rows)
            loss.backward()
            total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return total

    for it in range(args.grpo_warmup + args.grpo_iters):
        record = it >= args.grpo_warmup
        for name in phases:
            _reset_peak(device)
            if name == "generate":
                seconds, seqs = timed_call(generate, device)
            elif name == "log_probs":
                seconds, old = timed_call(partial(log_probs, seqs), device)
            else:
                seconds, _ = timed_call(partial(update, seqs, old), device)
            if record:
                phases[name].append(seconds)
                peaks[name] = _peak_gib(device)
    total_tokens = rows * (ids.shape[1] + r_len)
    out: dict[str, Any] = {"prompts": args.grpo_prompts, "n": args.grpo_n, "prompt_len": int(ids.shape[1]),
                           "response_len": r_len, "micro_batch": micro}
    for name, secs in phases.items():
        stats = stats_of(secs)
        tokens = rows * r_len if name == "generate" else total_tokens
        out[name] = {"seconds": stats, "tokens_per_s": tokens / stats["median"], "peak_memory_gib": peaks[name]}
        logger.info("grpo %s: %.2fs, %.0f tokens/s", name, stats["median"], out[name]["tokens_per_s"])
    return out


# ----------------------------------------------------------------------------------------------- main


def _enable_checkpointing(model: Any) -> None:
    """Activation checkpointing; newer transformers renamed the method, the GPU image may only have the old one."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def build_parser() -> argparse.ArgumentParser:
    """Flags; the defaults are the GPU run (sized for < 8 minutes on one H100)."""
    p = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="test-size model on the CPU, one step of everything")
    p.add_argument("--out", default=None, help="results JSON (default $OUT/gpu_check.json when $OUT is set)")
    p.add_argument("--attn", default="sdpa", help="attn_implementation (sdpa | flash_attention_2 | eager)")
    p.add_argument("--peak-tflops", type=float, default=None, help="bf16 dense peak for MFU (default: by GPU name)")
    p.add_argument("--no-batched-windows", dest="batched_windows", action="store_false",
                   help="skip the second SFT pass with batched vision window attention (SDPA only)")
    p.add_argument("--no-gradient-checkpointing", action="store_true", help="keep activations (more memory)")
    p.add_argument("--sft-batch", type=int, default=8, help="samples per SFT step")
    p.add_argument("--grid-min", type=int, default=32, help="smallest image side in 14-px patches (even)")
    p.add_argument("--grid-max", type=int, default=72, help="largest image side in 14-px patches (even)")
    p.add_argument("--prompt-len", type=int, nargs=2, default=(30, 120), help="text prompt tokens [lo, hi)")
    p.add_argument("--answer-len", type=int, nargs=2, default=(40, 400), help="answer tokens [lo, hi)")
    p.add_argument("--steps", type=int, default=5, help="timed SFT steps per mode")
    p.add_argument("--warmup", type=int, default=2, help="untimed SFT steps per mode")
    p.add_argument("--grpo-prompts", type=int, default=4, help="prompts per GRPO iteration")
    p.add_argument("--grpo-n", type=int, default=4, help="responses per prompt")
    p.add_argument("--grpo-grid", type=int, default=28, help="GRPO image side in patches (even)")
    p.add_argument("--grpo-prompt-len", type=int, default=40, help="GRPO text prompt tokens")
    p.add_argument("--grpo-response-len", type=int, default=128, help="generated tokens per response")
    p.add_argument("--grpo-micro-batch", type=int, default=4, help="rows per log-prob / update micro batch")
    p.add_argument("--grpo-iters", type=int, default=2, help="timed GRPO iterations")
    p.add_argument("--grpo-warmup", type=int, default=1, help="untimed GRPO iterations")
    return p


DRY_RUN_SIZES = dict(sft_batch=2, grid_min=4, grid_max=6, prompt_len=(3, 6), answer_len=(3, 6), steps=1,
                     warmup=0, grpo_prompts=1, grpo_n=2, grpo_grid=4, grpo_prompt_len=4, grpo_response_len=3,
                     grpo_micro_batch=1, grpo_iters=1, grpo_warmup=0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the model and run the SFT and GRPO checks; returns the results dict."""
    if args.dry_run:
        for key, value in DRY_RUN_SIZES.items():
            setattr(args, key, value)
    elif not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or use --dry-run on the CPU")
    device = torch.device("cpu" if args.dry_run else "cuda")
    dtype = torch.float32 if args.dry_run else torch.bfloat16
    start = time.perf_counter()
    model = build_model(args.dry_run, device, args.attn)
    build_seconds = time.perf_counter() - start
    if not args.no_gradient_checkpointing:
        _enable_checkpointing(model)
    # AdamW states take the parameter dtype (bf16 on GPU): 4 bytes/param for the two moments.
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, foreach=device.type == "cuda")
    maker = SampleMaker(model.config)
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor()})",
        "torch": torch.__version__, "transformers": __import__("transformers").__version__,
        "model": "test-size (dry run)" if args.dry_run else "Rex-Omni-3B shape, random weights",
        "dtype": str(dtype), "attn_implementation": args.attn,
        "gradient_checkpointing": not args.no_gradient_checkpointing, "params": param_counts(model),
        "build_seconds": build_seconds,
    }
    results["sft"] = bench_sft(model, maker, args, device, dtype, optimizer)
    results["grpo"] = bench_grpo(model, maker, args, device, dtype, optimizer)
    results["peak_memory_gib_overall"] = torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None
    results["rope_fallback"] = maker.rope_fallback
    results["total_seconds"] = time.perf_counter() - start
    return results


def table(results: dict[str, Any]) -> str:
    """Human-readable summary of :func:`run`'s results."""
    rows = []
    for mode in results["sft"].get("modes", ("padded", "packed")):
        r = results["sft"][mode]
        mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "-"
        rows.append((f"sft {mode}", f"{r['step_seconds']['median']:.3f}", f"{r['tokens_per_s']['median']:.0f}",
                     mfu, _gib(r["peak_memory_gib"])))
    for phase in ("generate", "log_probs", "update"):
        r = results["grpo"][phase]
        rows.append((f"grpo {phase}", f"{r['seconds']['median']:.3f}", f"{r['tokens_per_s']:.0f}", "-",
                     _gib(r["peak_memory_gib"])))
    return format_table(rows, ("phase", "seconds (median)", "tokens/s", "MFU", "peak GiB"))


def _gib(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    results = run(args)
    print(f"{results['device']} | {results['model']} | {results['params']['total'] / 1e9:.2f}B params")
    print(table(results))
    save_results(results, args.out, "gpu_check.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
