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
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
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


def _all_positions(model: Any, batch: Any) -> Any:
    """The stock call: logits of every position, sliced to the response afterwards."""
    import torch

    response = batch["responses"].shape[1]
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=batch["position_ids"].transpose(0, 1), use_cache=False).logits
    logits = logits[:, -response - 1:-1].float()
    return torch.log_softmax(logits, dim=-1).gather(-1, batch["responses"].unsqueeze(-1)).squeeze(-1)


def main(quick: bool = False) -> dict[str, Any]:
    """Seconds per forward + backward in each mode (median, min, max) and their ratio."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from demo.tiny_model import build_tiny_rex_omni
    from verl.trainer.config import ModelConfig
    from verl.workers import fsdp
    from verl.workers.actor import forward_log_probs

    sizes = QUICK if quick else FULL
    model_dir = str(build_tiny_rex_omni(MODEL_DIRS[sizes["model"]], size=sizes["model"], seed=0))
    model = fsdp.build_model(ModelConfig(model_path=model_dir, enable_gradient_checkpointing=False),
                             torch.float32, trainable=True)
    batch = _batch(sizes["prompts"], sizes["answers"], sizes["prompt"], sizes["response"], 200)
    run = {
        "all_positions": lambda: _all_positions(model, batch),
        "response_only": lambda: forward_log_probs(model, batch, 1.0, "cpu")[0],
        "shared_prompt": lambda: forward_log_probs(model, batch, 1.0, "cpu", shared_prompt=True)[0],
    }
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    for repeat in range(sizes["repeats"] + 1):  # the first round is a warm-up
        for mode in MODES:
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            run[mode]().sum().backward()
            if repeat:
                seconds[mode].append(time.perf_counter() - start)
                logger.info("%s %.3fs", mode, seconds[mode][-1])
    stats = {mode: stats_of(values) for mode, values in seconds.items()}
    mib = 4 / 2**20 * VOCAB_3B
    return {
        "model": sizes["model"], "prompts": sizes["prompts"], "answers_per_prompt": sizes["answers"],
        "prompt_tokens": sizes["prompt"], "response_tokens": sizes["response"], "seconds": stats,
        **{f"speedup_{mode}": stats["all_positions"]["median"] / stats[mode]["median"] for mode in MODES[1:]},
        "logits_mib_3b": {"all_positions": mib * (PROMPT_3B + RESPONSE_3B), "response_only": mib * (RESPONSE_3B + 1)},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="test model, 2 prompts x 2 short answers, one timed round")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(main(quick=parser.parse_args().quick), indent=2))
