"""Generate throughput of the hf rollout engine on the Rex-Omni-3B shape (random weights, bf16, one GPU).

For each batch size (``--sizes``, sequences = prompts x ``--n``) and engine setting, times
``HFRollout.generate`` (the engine GRPO uses, with its per-row stop on ``<|im_end|>``):

* ``plain``: dynamic KV cache, eager decoding step, every row prefills its prompt;
* ``shared_prefill``: the same, each prompt prefilled once for its ``--n`` samples (the GRPO default);
* ``static``: static KV cache, eager;
* ``static+compile``: static KV cache, decoding step compiled by transformers (``torch.compile``).

Tokens/s counts generated tokens up to each row's EOS over the wall time of the call; the first
(``--warmup``) calls of a setting and size are untimed (compilation). Prompts carry one image of
``--grid`` x ``--grid`` patches plus ``--prompt-len`` text tokens; every response may run to
``--response-len`` tokens (random weights rarely emit EOS). ``--dry-run``: test-size model in fp32
on the CPU, tiny sizes (used by the tests). Writes ``$OUT/bench_rollout.json`` when ``$OUT`` is set.
Only torch, transformers and light repo modules are imported (no Ray, mmengine or vLLM).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import platform
from typing import Any

import torch

from bench.common import format_table, save_results, stats_of
from bench.gpu_check import DRY_RUN_VOCAB_BASE, SampleMaker, TokenIds, build_model, timed_call
from verl.protocol import Batch
from verl.trainer.config import RolloutConfig
from verl.workers.rollout.base import SamplingSettings, truncate_at_eos
from verl.workers.rollout.hf_rollout import HFRollout

logger = logging.getLogger("bench_rollout")

# name -> (hf_cache, hf_compile, hf_shared_prefill)
SETTINGS = {"plain": ("dynamic", False, False), "shared_prefill": ("dynamic", False, True),
            "static": ("static", False, False), "static+compile": ("static", True, False)}
QWEN_SPECIAL_BASE = 151643  # rex_omni_3b_config's special-token ids start here, as Qwen's
DRY_RUN_SIZES = dict(sizes=[2, 4], n=2, grid=4, prompt_len=4, response_len=4, iters=1, warmup=0)


class _Tokenizer(TokenIds):
    """Special-token ids of the random model, plus the pad id the engine needs."""

    @property
    def pad_token_id(self) -> int:
        return self.convert_tokens_to_ids("<|endoftext|>")


def prompt_batch(maker: SampleMaker, prompts: int, grid: int, text_len: int) -> Batch:
    """``prompts`` rows of equal length (no padding), one ``grid`` x ``grid``-patch image each."""
    ids = torch.tensor([maker.prompt_ids((grid, grid), text_len) for _ in range(prompts)])
    image = maker.image((grid, grid))
    return Batch({"input_ids": ids, "attention_mask": torch.ones_like(ids)},
                 {"multi_modal_inputs": [image] * prompts, "seed": list(range(prompts))})


def time_generate(engine: HFRollout, batch: Batch, sampling: SamplingSettings, eos: set[int], iters: int,
                  warmup: int) -> dict[str, Any]:
    """Seconds and tokens/s of ``engine.generate`` on ``batch`` over ``iters`` timed calls."""
    seconds, tokens = [], []
    device = torch.device(engine.device)
    for it in range(warmup + iters):
        elapsed, out = timed_call(lambda: engine.generate(batch, sampling), device)
        if it >= warmup:
            seconds.append(elapsed)
            tokens.append(sum(len(truncate_at_eos(r, eos, sampling.max_tokens)) for r in out.token_ids))
    return {"seconds": stats_of(seconds), "tokens": tokens[-1],
            "tokens_per_s": sum(tokens) / max(sum(seconds), 1e-9)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every setting at every size; returns the results dict."""
    if args.dry_run:
        for key, value in DRY_RUN_SIZES.items():
            setattr(args, key, value)
    elif not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or use --dry-run on the CPU")
    device = "cpu" if args.dry_run else "cuda"
    model = build_model(args.dry_run, torch.device(device), "sdpa")
    tokenizer = _Tokenizer(DRY_RUN_VOCAB_BASE if args.dry_run else QWEN_SPECIAL_BASE)
    maker = SampleMaker(model.config)
    eos = {tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")}
    sampling = SamplingSettings(n=args.n, temperature=1.0, top_p=1.0, top_k=-1, max_tokens=args.response_len)
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else f"cpu ({platform.processor()})",
        "torch": torch.__version__, "transformers": __import__("transformers").__version__,
        "model": "test-size (dry run)" if args.dry_run else "Rex-Omni-3B shape, random weights",
        "dtype": str(model.dtype), "n": args.n, "grid": args.grid, "prompt_len": args.prompt_len,
        "response_len": args.response_len, "runs": {},
    }
    for name in args.settings:
        cache, compiled, shared = SETTINGS[name]
        cfg = dataclasses.replace(RolloutConfig(), hf_cache=cache, hf_compile=compiled, hf_shared_prefill=shared,
                                  hf_max_num_seqs=max(args.sizes))
        engine = HFRollout(model, cfg, tokenizer, device)
        for size in args.sizes:
            batch = prompt_batch(maker, max(1, size // args.n), args.grid, args.prompt_len)
            run_result = time_generate(engine, batch, sampling, eos, args.iters, args.warmup)
            results["runs"][f"{name}@{size}"] = {"setting": name, "sequences": size, **run_result}
            logger.info("%s at %d sequences: %.0f tokens/s", name, size, run_result["tokens_per_s"])
            if device == "cuda":
                torch.cuda.empty_cache()
    return results


def table(results: dict[str, Any]) -> str:
    rows = [(r["setting"], str(r["sequences"]), f"{r['seconds']['median']:.2f}", str(r["tokens"]),
             f"{r['tokens_per_s']:.0f}") for r in results["runs"].values()]
    return format_table(rows, ("setting", "sequences", "seconds (median)", "tokens", "tokens/s"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.bench_rollout", description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="test-size model on the CPU at tiny sizes")
    p.add_argument("--out", default=None, help="results JSON (default $OUT/bench_rollout.json when $OUT is set)")
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 128, 512], help="sequences per generate call")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS),
                   help="engine settings to time (plain: dynamic cache; shared_prefill: one prefill per prompt; "
                        "static; static+compile)")
    p.add_argument("--n", type=int, default=8, help="responses per prompt (prompts = size / n)")
    p.add_argument("--grid", type=int, default=28, help="image side in 14-px patches (even): 28 -> 196 tokens")
    p.add_argument("--prompt-len", type=int, default=40, help="text tokens after the image")
    p.add_argument("--response-len", type=int, default=256, help="max new tokens per response")
    p.add_argument("--iters", type=int, default=1, help="timed generate calls per setting and size")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls first (compilation, allocator)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    results = run(args)
    print(f"{results['device']} | {results['model']} | {results['dtype']}")
    print(table(results))
    save_results(results, args.out, "bench_rollout.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
