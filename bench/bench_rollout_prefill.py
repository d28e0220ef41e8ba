"""The hf rollout engine on the CPU, each row prefilling its prompt vs one prefill per prompt
(``worker.rollout.hf_shared_prefill``), side by side.

One GRPO worker's share of the quickstart's rollout: the demo model, 16 toy grounding prompts (224 x 224 px
images) x 8 samples, up to 12 new tokens (the demo's answers are about 11), sampled at T=1 with each
prompt's seed. The two engines alternate, ``repeats`` timed calls each after one untimed call; seconds
per ``generate`` call, and whether both gave the same tokens (they share seeds; prefilling 16 rows
instead of 128 can move a float rounding, so a rare sample may differ).

``python -m bench.bench_rollout_prefill [--quick]``; :func:`main` returns the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import stats_of

REPO = Path(__file__).resolve().parents[1]
FULL = dict(model="demo", prompts=16, n=8, max_tokens=12, repeats=3)
QUICK = dict(model="test", prompts=2, n=4, max_tokens=4, repeats=1)
MODEL_DIRS = {"test": "work_dirs/models/rex-omni-test", "demo": "work_dirs/models/rex-omni-demo"}
ENGINES = ("every_row", "shared_prefill")


def prompt_batch(tmp: str, model_dir: str, prompts: int) -> Any:
    """``prompts`` toy grounding prompts from the GRPO data path, seeded per prompt."""
    from transformers import AutoProcessor

    from demo.toy_data import make_toy_datasets
    from demo.toy_data_config import write_toy_data_config
    from verl.protocol import Batch
    from verl.trainer.config import load_config
    from verl.trainer.data_loader import build_datasets, build_loader

    make_toy_datasets(tmp, num_train=prompts, num_val=1, image_size=(224, 224), seed=0)
    data_config = Path(tmp) / "data.py"
    write_toy_data_config(data_config, tmp)
    cfg = load_config([f"config={REPO / 'verl/configs/config.yaml'}", f"data.config_path={data_config}",
                       f"worker.actor.model.model_path={model_dir}", "data.num_workers=0",
                       f"data.rollout_batch_size={prompts}", f"worker.actor.global_batch_size={prompts}",
                       "trainer.n_gpus_per_node=1", "worker.rollout.tensor_parallel_size=1", "trainer.device=cpu"])
    processor = AutoProcessor.from_pretrained(model_dir)
    train, _ = build_datasets(cfg.data, processor.tokenizer, processor)
    _, raw = build_loader(train, cfg.data, processor.tokenizer.pad_token_id).next_batch()
    batch = Batch.from_mapping(raw)
    batch["seed"] = list(range(len(batch)))
    return cfg, processor, batch


def main(quick: bool = False) -> dict[str, Any]:
    """Seconds per generate call for each engine (same run, alternating) and the speed-up."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import dataclasses

    import torch

    from demo.tiny_model import build_tiny_rex_omni
    from verl.workers.rollout import SamplingSettings, build_rollout

    sizes = QUICK if quick else FULL
    model_dir = str(build_tiny_rex_omni(MODEL_DIRS[sizes["model"]], size=sizes["model"], seed=0))
    with tempfile.TemporaryDirectory(prefix="bench_rollout_prefill_") as tmp:
        cfg, processor, batch = prompt_batch(tmp, model_dir, sizes["prompts"])
    engines = {name: build_rollout("hf", model_dir, dataclasses.replace(cfg.worker.rollout,
                                                                        hf_shared_prefill=name == "shared_prefill"),
                                   processor.tokenizer, "cpu") for name in ENGINES}
    sampling = SamplingSettings(n=sizes["n"], temperature=1.0, top_p=1.0, top_k=-1, max_tokens=sizes["max_tokens"])
    seconds: dict[str, list[float]] = {name: [] for name in ENGINES}
    tokens: dict[str, list[list[int]]] = {}
    with torch.inference_mode():
        for name, engine in engines.items():
            tokens[name] = engine.generate(batch, sampling).token_ids  # untimed: allocator, first-call costs
        for _ in range(sizes["repeats"]):
            for name, engine in engines.items():
                start = time.perf_counter()
                engine.generate(batch, sampling)
                seconds[name].append(time.perf_counter() - start)
    same = sum(a == b for a, b in zip(tokens["every_row"], tokens["shared_prefill"]))
    stats = {name: stats_of(values) for name, values in seconds.items()}
    return {
        "model": sizes["model"], "prompts": sizes["prompts"], "samples_per_prompt": sizes["n"],
        "max_new_tokens": sizes["max_tokens"], "prompt_tokens": int(batch["input_ids"].shape[1]),
        "torch_threads": torch.get_num_threads(), "seconds_per_generate": stats,
        "speedup_shared_prefill": stats["every_row"]["median"] / stats["shared_prefill"]["median"],
        "rows_with_identical_samples": f"{same} of {len(tokens['every_row'])}",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="test model, 2 prompts x 4 samples, one timed call")
    print(json.dumps(main(quick=parser.parse_args().quick), indent=2))
