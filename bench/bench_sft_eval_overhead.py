"""How much longer the quickstart's SFT runs with the in-training evaluation on (``EVAL_STEPS``).

Runs the CPU demo, ``EVAL_STEPS=200 bash scripts/sft.sh`` with its defaults (600 steps of the demo model,
the whole 64-image val_dataset at each evaluation), and reads the run's ``trainer_state.json``: the seconds
the trainer spent evaluating (each evaluation's ``eval_runtime``: the eval loss and the generation and
scoring on the val split) against the rest of the run (``train_runtime`` less them: what the same run takes
without evaluating). Both sides come from the same run, interleaved in time, so the load of a shared machine
weighs on them alike. The quickstart also evaluates and runs GRPO after SFT, so its growth is smaller than
the SFT stage's printed here.

Run ``python -m bench.bench_sft_eval_overhead [--eval_steps 200] [--eval_max_samples N]``; it prints one line
and writes ``--output`` (JSON) when given. A run takes about as long as the quickstart's SFT (4-5 minutes on
2 idle cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import write_json_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]


def evaluation_share(log_history: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The evaluations' seconds in a finished HF run's ``log_history`` and the run's growth because of them.

    ``train_runtime`` (the last entry's, seconds) is the training loop's wall time, evaluations included;
    ``growth`` is the evaluations' seconds over the rest (the run's time without evaluating).
    """
    evals = [(int(h["step"]), float(h["eval_runtime"])) for h in log_history if "eval_runtime" in h]
    totals = [float(h["train_runtime"]) for h in log_history if "train_runtime" in h]
    if not evals or not totals:
        raise ValueError("log_history needs eval_runtime entries and a final train_runtime (a finished run with "
                         "evaluations)")
    eval_s = sum(seconds for _, seconds in evals)
    train_s = totals[-1]
    return {"train_runtime_s": train_s, "eval_s": eval_s, "eval_runtime_by_step": dict(evals),
            "without_eval_s": train_s - eval_s, "growth": eval_s / (train_s - eval_s)}


def run_demo_sft(output_dir: Path, eval_steps: int, eval_max_samples: int | None) -> float:
    """``EVAL_STEPS=eval_steps bash scripts/sft.sh`` (the CPU demo, no evaluation after training) into
    ``output_dir``; returns its wall time in seconds."""
    env = {**os.environ, "GPUS_PER_NODE": "0", "EVAL_STEPS": str(eval_steps), "EVAL": "0",
           "OUTPUT_DIR": str(output_dir)}
    for name in ("MODEL_PATH", "MAX_STEPS", "EVAL_MAX_SAMPLES"):
        env.pop(name, None)
    if eval_max_samples is not None:
        env["EVAL_MAX_SAMPLES"] = str(eval_max_samples)
    start = time.perf_counter()
    subprocess.run(["bash", "scripts/sft.sh"], cwd=REPO_ROOT, env=env, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval_steps", type=int, default=200, help="EVAL_STEPS of the run (default 200)")
    p.add_argument("--eval_max_samples", type=int, default=None, help="EVAL_MAX_SAMPLES (default unset: all)")
    p.add_argument("--output", default=None, help="write the result here as JSON")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_sft_eval_") as tmp:
        out = Path(tmp) / "sft_demo"
        wall_s = run_demo_sft(out, args.eval_steps, args.eval_max_samples)
        state = json.loads((out / "trainer_state.json").read_text())
    result = {"eval_steps": args.eval_steps, "eval_max_samples": args.eval_max_samples, "max_steps": state["max_steps"],
              "sft_sh_wall_s": wall_s, "load_average": os.getloadavg(), **evaluation_share(state["log_history"])}
    print(f"SFT demo, {result['max_steps']} steps, EVAL_STEPS={args.eval_steps}: training loop "
          f"{result['train_runtime_s']:.0f} s, of which evaluations {result['eval_s']:.0f} s "
          f"({len(result['eval_runtime_by_step'])} of them): the run is {100 * result['growth']:.1f}% longer "
          f"than without them")
    if args.output:
        write_json_atomic(args.output, result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
