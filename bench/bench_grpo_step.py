"""Time per phase of a CPU GRPO step, the engine driven in-process.

``GRPOTrainer.train_step`` runs on a ``LocalWorkerGroup`` of one ``FSDPWorker`` (world size 1, gloo,
hf rollout; no Ray) with the demo model, 2 prompts x 4 samples, 32 response tokens (``--quick``: the
test model, 8 tokens, one step), toy grounding and pointing data (224x168 px, 48 image tokens) and the
real reward function (``verl/configs/reward_func.py``). Phases are the trainer's own timers (``gen``,
``old``, ``ref``, ``reward_wait``, ``adv``, ``update``, ``step``) plus ``weight_sync``
(``FSDPWorker.sync_rollout_weights``, timed by wrapping it; it runs inside ``gen``, so ``generate`` below
is ``gen`` minus the sync). ``reward`` runs in a background thread, overlapped with the log-probs; only
``reward_wait`` is on the critical path. One untimed warm-up step, then medians of the timed steps.

The steps alternate ``worker.actor.old_log_probs=recompute`` (a separate old-log-prob pass) and ``auto``
(this on-policy step takes them from the update's forward) on the same trainer, so both are timed side by
side; ``speedup_auto_vs_recompute`` is the ratio of their median step times.

Run ``python -m bench.bench_grpo_step [--quick]``; :func:`main` returns the numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import stats_of

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
MODEL_DIRS = {"test": "work_dirs/models/rex-omni-test", "demo": "work_dirs/models/rex-omni-demo"}
IMAGE_SIZE = (224, 168)
PROMPTS, SAMPLES_PER_PROMPT = 2, 4
FULL = dict(model="demo", response_length=32, steps=3)  # timed steps per mode
QUICK = dict(model="test", response_length=8, steps=1)
MODES = ("recompute", "auto")
PHASES = ("generate", "weight_sync", "reward", "reward_wait", "old_log_probs", "ref_log_probs", "advantages",
          "update", "step")
TRAINER_TIMERS = {"reward": "reward", "reward_wait": "reward_wait", "old_log_probs": "old", "ref_log_probs": "ref",
                  "advantages": "adv", "update": "update", "step": "step"}


def build_config(tmp: str, model_dir: str, response_length: int, steps: int) -> Any:
    """A CPU GRPO ``PPOConfig`` over toy data written under ``tmp``."""
    from demo.toy_data import make_toy_datasets
    from demo.toy_data_config import write_toy_data_config
    from verl.trainer.config import load_config

    make_toy_datasets(tmp, num_train=16, num_val=1, image_size=IMAGE_SIZE, seed=0)
    data_config = Path(tmp) / "grpo_bench_data.py"
    write_toy_data_config(data_config, tmp)
    return load_config([
        f"config={REPO / 'verl/configs/config.yaml'}", f"data.config_path={data_config}",
        f"worker.actor.model.model_path={model_dir}",
        f"worker.reward.reward_function={REPO / 'verl/configs/reward_func.py'}:compute_score",
        "data.format_prompt=null", "data.num_workers=0", f"data.rollout_batch_size={PROMPTS}",
        f"data.max_response_length={response_length}", f"worker.actor.global_batch_size={PROMPTS}",
        f"worker.rollout.n={SAMPLES_PER_PROMPT}", "worker.rollout.tensor_parallel_size=1",
        f"worker.actor.micro_batch_size_per_device_for_update={SAMPLES_PER_PROMPT}",
        f"worker.actor.micro_batch_size_per_device_for_experience={PROMPTS * SAMPLES_PER_PROMPT}",
        "trainer.n_gpus_per_node=1", "trainer.device=cpu", "trainer.logger=[console]",
        f"trainer.save_checkpoint_path={Path(tmp) / 'ckpt'}", "trainer.save_freq=-1", f"trainer.max_steps={steps}",
    ])


def timed(fn: Callable[[], None], seconds: list[float]) -> Callable[[], None]:
    """``fn`` that appends its wall time to ``seconds`` on every call."""

    def wrapper() -> None:
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)

    return wrapper


def step_phases(trainer: Any, sync_seconds: list[float]) -> tuple[dict[str, float], dict[str, float]]:
    """Run one ``train_step``; returns (seconds per phase, its metrics)."""
    sync_seconds.clear()
    _, raw = trainer.train_loader.next_batch()
    metrics = trainer.train_step(raw)
    trainer.global_step += 1
    sync = sum(sync_seconds)
    phases = {name: metrics.get(f"timing_s/{timer}", 0.0) for name, timer in TRAINER_TIMERS.items()}  # auto: no old
    phases["weight_sync"] = sync
    phases["generate"] = metrics["timing_s/gen"] - sync
    return phases, metrics


def main(quick: bool = False) -> dict[str, Any]:
    """Seconds per GRPO phase (median, min, max over the timed steps) and token counts."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never download
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from demo.tiny_model import build_tiny_rex_omni
    from verl.single_controller import LocalWorkerGroup
    from verl.trainer.main import build_trainer
    from verl.workers.fsdp_worker import FSDPWorker

    sizes = QUICK if quick else FULL
    model_dir = str(build_tiny_rex_omni(MODEL_DIRS[sizes["model"]], size=sizes["model"], seed=0))
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="bench_grpo_step_") as tmp:
        config = build_config(tmp, model_dir, sizes["response_length"], len(MODES) * sizes["steps"] + 1)
        group = LocalWorkerGroup(FSDPWorker, config)
        trainer = build_trainer(config, workers=group)
        try:
            trainer.init_workers()
            worker = group.workers[0]
            sync_seconds: list[float] = []
            worker.sync_rollout_weights = timed(worker.sync_rollout_weights, sync_seconds)
            step_phases(trainer, sync_seconds)  # warm-up
            for _ in range(sizes["steps"]):
                for mode in MODES:
                    config.worker.actor.old_log_probs = mode  # read by the trainer at every step
                    phases, metrics = step_phases(trainer, sync_seconds)
                    runs[mode].append(phases)
                    logger.info("%s step %.2fs: %s", mode, phases["step"],
                                ", ".join(f"{k}={v:.2f}" for k, v in phases.items()))
        finally:
            trainer.reward.close()
            group.shutdown()
    return {
        "model": sizes["model"], "prompts": PROMPTS, "samples_per_prompt": SAMPLES_PER_PROMPT,
        "response_length": sizes["response_length"], "image_size": list(IMAGE_SIZE), "timed_steps": sizes["steps"],
        "total_tokens_per_step": metrics["perf/total_num_tokens"],
        "seconds": {mode: {name: stats_of(r[name] for r in rows) for name in PHASES} for mode, rows in runs.items()},
        "share_of_step": {mode: {name: sum(r[name] for r in rows) / sum(r["step"] for r in rows)
                                 for name in PHASES if name not in ("step", "reward")} for mode, rows in runs.items()},
        "speedup_auto_vs_recompute": (stats_of(r["step"] for r in runs["recompute"])["median"]
                                      / stats_of(r["step"] for r in runs["auto"])["median"]),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="test model, 8 response tokens, one timed step")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(main(quick=parser.parse_args().quick), indent=2))
