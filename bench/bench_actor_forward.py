"""The GRPO actor's log-prob forward + backward in three modes, side by side on one micro-batch.

* ``all_positions``: the stock call; the LM head projects every position, prompt included, and the
  response's logits are sliced afterwards.
* ``response_only``: ``verl.workers.actor.forward_log_probs`` with ``logits_to_keep`` (the LM head sees only
  the positions that predict response tokens), one padded row per answer.
* ``shared_prompt``: the same plus one packed forward per prompt group (``worker.actor.shared_prompt``,
  the default): the group's answers share one copy of the prompt.

The micro-batch is shaped like the quickstart's GRPO update: 64 rows = 8 prompts x 8 answers, 74 prompt +
11 response tokens. Rows are text-only, so the vision tower (which ``shared_prompt`` also runs once per
group instead of once per row) is not timed. Modes alternate on the same model; ``speedup_*`` are ratios of
medians against ``all_positions``. ``logits_mib_3b`` is arithmetic, not measured: the fp32 logits one row of
a 3B-shape batch (151,936-token vocabulary) holds with 1,500 prompt and 300 response tokens.

Run ``python -m bench.bench_actor_forward [--quick]``; :func:`main` returns the numbers.

``--gpu`` runs the same three modes on one CUDA device with the Rex-Omni-3B shape (random weights, bf16,
gradient checkpointing on as in the GRPO defaults) on a micro-batch of ``--prompts`` x ``--answers`` rows
with one ``--grid`` x ``--grid``-patch image each, and records peak GiB per mode; ``--dry-run`` checks that
path on the CPU with the test-size model. ``bench/gpu_session.sh`` runs it (stage ``actor_forward``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import Any

from bench.common import stats_of

logger = logging.getLogger(__name__)

MODEL_DIRS = {"test": "work_dirs/models/rex-omni-test", "demo": "work_dirs/models/rex-omni-demo"}
FULL = dict(model="demo", prompts=8, answers=8, prompt=74, response=11, repeats=3)
QUICK = dict(model="test", prompts=2, answers=2, prompt=12, response=4, repeats=1)
MODES = ("all_positions", "response_only", "shared_prompt")
VOCAB_3B, PROMPT_3B, RESPONSE_3B = 151_936, 1_500, 300


def _batch(prompts: int, answers: int, prompt: int, response: int, vocab: int) -> Any:
    """``prompts x answers`` rows; the answers of a prompt repeat its tokens, as a GRPO rollout does."""
    import torch

    from verl.protocol import Batch

    gen = torch.Generator().manual_seed(0)
    rows, length = prompts * answers, prompt + response
    input_ids = torch.cat([
        torch.randint(10, vocab, (prompts, prompt), generator=gen).repeat_interleave(answers, dim=0),
        torch.randint(10, vocab, (rows, response), generator=gen),
    ], dim=1)
    return Batch({
        "input_ids": input_ids,
        "attention_mask": torch.ones(rows, length, dtype=torch.long),
        "position_ids": torch.arange(length).expand(rows, 3, length).clone(),
        "responses": input_ids[:, prompt:],
    })


def _all_positions(model: Any, batch: Any, device: Any = "cpu") -> Any:
    """The stock call: logits of every position, sliced to the response afterwards."""
    import torch

    from verl.workers.vision_inputs import vision_inputs

    response = batch["responses"].shape[1]
    mm = batch.non_tensors.get("multi_modal_inputs")
    logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                   position_ids=batch["position_ids"].to(device).transpose(0, 1), use_cache=False,
                   **vision_inputs(mm, str(device))).logits
    logits = logits[:, -response - 1:-1].float()
    return torch.log_softmax(logits, dim=-1).gather(-1, batch["responses"].to(device).unsqueeze(-1)).squeeze(-1)


def _modes(model: Any, batch: Any, device: Any) -> dict[str, Any]:
    """Each mode as a callable returning the response log-probs ``(b, R)``."""
    from verl.workers.actor import forward_log_probs

    device_type = str(getattr(device, "type", device))
    return {
        "all_positions": lambda: _all_positions(model, batch, device),
        "response_only": lambda: forward_log_probs(model, batch, 1.0, device_type)[0],
        "shared_prompt": lambda: forward_log_probs(model, batch, 1.0, device_type, shared_prompt=True)[0],
    }


def _time_modes(model: Any, run: dict[str, Any], modes: list[str], repeats: int,
                device: Any) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    """Forward + backward of each mode, alternating, after one untimed round: ``(seconds stats per mode,
    peak GiB per mode on CUDA, the log-probs of each mode's last run)``."""
    import torch

    from bench.gpu_check import timed_call

    device = torch.device(device)
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    peak: dict[str, float] = {}
    log_probs: dict[str, Any] = {}

    def step(mode: str) -> None:
        values = run[mode]().float()
        values.sum().backward()
        log_probs[mode] = values.detach()

    for repeat in range(repeats + 1):  # the first round is a warm-up
        for mode in modes:
            model.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            elapsed, _ = timed_call(lambda mode=mode: step(mode), device)
            if repeat:
                seconds[mode].append(elapsed)
            if device.type == "cuda":
                peak[mode] = torch.cuda.max_memory_allocated() / 2**30
            logger.info("%s %.3fs", mode, elapsed)
    return {mode: stats_of(values) for mode, values in seconds.items()}, peak, log_probs


def main(quick: bool = False) -> dict[str, Any]:
    """Seconds per forward + backward in each mode (median, min, max) and their ratio."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from demo.tiny_model import build_tiny_rex_omni
    from verl.trainer.config import ModelConfig
    from verl.workers import fsdp

    sizes = QUICK if quick else FULL
    model_dir = str(build_tiny_rex_omni(MODEL_DIRS[sizes["model"]], size=sizes["model"], seed=0))
    model = fsdp.build_model(ModelConfig(model_path=model_dir, enable_gradient_checkpointing=False),
                             torch.float32, trainable=True)
    batch = _batch(sizes["prompts"], sizes["answers"], sizes["prompt"], sizes["response"], 200)
    stats, _, _ = _time_modes(model, _modes(model, batch, "cpu"), list(MODES), sizes["repeats"], "cpu")
    mib = 4 / 2**20 * VOCAB_3B
    return {
        "model": sizes["model"], "prompts": sizes["prompts"], "answers_per_prompt": sizes["answers"],
        "prompt_tokens": sizes["prompt"], "response_tokens": sizes["response"], "seconds": stats,
        **{f"speedup_{mode}": stats["all_positions"]["median"] / stats[mode]["median"] for mode in MODES[1:]},
        "logits_mib_3b": {"all_positions": mib * (PROMPT_3B + RESPONSE_3B), "response_only": mib * (RESPONSE_3B + 1)},
    }


def _image_batch(maker: Any, prompts: int, answers: int, grid: int, text_len: int, response: int) -> Any:
    """``prompts x answers`` rows of one ``grid``-patch image + text prompt each, answers of ``response``
    random text tokens; M-RoPE positions for the prompt, then consecutive ones for the answer."""
    import torch

    from verl.protocol import Batch

    rows, images, ids, positions = [], [], [], []
    for _ in range(prompts):
        prompt = torch.tensor(maker.prompt_ids((grid, grid), text_len))
        image = maker.image((grid, grid))
        prompt_pos = maker.positions(prompt, image["image_grid_thw"])
        for _ in range(answers):
            answer = torch.tensor(maker._text(response))
            ids.append(torch.cat([prompt, answer]))
            start = int(prompt_pos.max()) + 1
            positions.append(torch.cat([prompt_pos, torch.arange(start, start + response).expand(3, -1)], dim=1))
            images.append(image)
            rows.append(answer)
    input_ids = torch.stack(ids)
    return Batch({"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
                  "position_ids": torch.stack(positions), "responses": torch.stack(rows)},
                 {"multi_modal_inputs": images})


def run_device(args: argparse.Namespace) -> dict[str, Any]:
    """The three modes on the 3B shape (``--gpu``) or the test-size model on the CPU (``--dry-run``)."""
    import torch

    from bench.gpu_check import SampleMaker, build_model

    if args.dry_run:
        args.prompts, args.answers, args.grid, args.text_len, args.response, args.repeats = 2, 2, 4, 4, 4, 1
    elif not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or use --dry-run on the CPU")
    device = torch.device("cpu" if args.dry_run else "cuda")
    model = build_model(args.dry_run, device, "sdpa")
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    batch = _image_batch(SampleMaker(model.config), args.prompts, args.answers, args.grid, args.text_len,
                         args.response)
    modes = [m for m in MODES if m in args.modes]
    stats, peak, log_probs = _time_modes(model, _modes(model, batch, device), modes, args.repeats, device)
    base = modes[0]
    return {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu (dry run)",
        "model": "test-size (dry run)" if args.dry_run else "Rex-Omni-3B shape, random weights, bf16",
        "torch": torch.__version__, "transformers": __import__("transformers").__version__,
        "prompts": args.prompts, "answers_per_prompt": args.answers, "grid": args.grid,
        "prompt_tokens": int(batch["input_ids"].shape[1] - args.response), "response_tokens": args.response,
        "gradient_checkpointing": True, "seconds": stats, "peak_gib": peak,
        "max_abs_log_prob_diff": {mode: float((log_probs[mode] - log_probs[base]).abs().max()) for mode in modes[1:]},
        **{f"speedup_{mode}_vs_{base}": stats[base]["median"] / stats[mode]["median"] for mode in modes[1:]},
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_actor_forward", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU: test model, 2 prompts x 2 short answers, one round")
    parser.add_argument("--gpu", action="store_true", help="the Rex-Omni-3B shape on one CUDA device (bf16)")
    parser.add_argument("--dry-run", action="store_true", help="the --gpu path on the CPU with the test-size model")
    parser.add_argument("--prompts", type=int, default=2, help="--gpu: prompts in the micro-batch (default 2)")
    parser.add_argument("--answers", type=int, default=4, help="--gpu: answers per prompt (default 4, as the GRPO "
                        "defaults' micro-batch of 4 rows holds)")
    parser.add_argument("--grid", type=int, default=56, help="--gpu: image side in 14-px patches (56 -> 784 tokens)")
    parser.add_argument("--text-len", type=int, default=40, help="--gpu: text tokens after the image")
    parser.add_argument("--response", type=int, default=256, help="--gpu: answer tokens per row")
    parser.add_argument("--repeats", type=int, default=3, help="--gpu: timed rounds after one warm-up round")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES), help="--gpu: modes to run")
    parser.add_argument("--out", default=None, help="--gpu/--dry-run: results JSON (default $OUT/actor_forward.json "
                        "when $OUT is set)")
    return parser


if __name__ == "__main__":
    args = build_parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (args.gpu or args.dry_run):
        print(json.dumps(main(quick=args.quick), indent=2))
    else:
        result = run_device(args)
        out = args.out or (os.path.join(os.environ["OUT"], "actor_forward.json") if os.environ.get("OUT") else None)
        text = json.dumps(result, indent=2)
        print(text)
        if out:
            from bench.common import write_json_atomic

            write_json_atomic(out, result)
            print(f"results: {out}")
