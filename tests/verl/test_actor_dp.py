"""The actor's loss over 2 FSDP2 gloo ranks has the gradient of the whole mini-batch, for every loss_agg_mode.

Each rank holds half of one mini-batch with a different number of response tokens (and of non-empty rows),
accumulates its gradient over two micro-batches, and FSDP averages the two. The expected gradient is that of
the same mini-batch on one process without torch.distributed. This file doubles as the 2-rank script
(``python test_actor_dp.py WORK_DIR MODEL``), started in a fresh interpreter like the checkpoint tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import torch

from tests.tolerances import GRAD_TOL
from verl.protocol import Batch
from verl.trainer.config import ActorConfig, LossAggMode, ModelConfig

REPO = Path(__file__).resolve().parents[2]
MODES: tuple[str, ...] = typing.get_args(LossAggMode)
PROMPT, RESPONSE = 5, 6
# Response lengths: rank 0 gets the first four rows (21 tokens, 4 non-empty), rank 1 the last four (6, 3).
LENGTHS = (6, 5, 6, 4, 1, 0, 3, 2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _actor_config(mode: str) -> ActorConfig:
    cfg = ActorConfig(loss_agg_mode=mode, micro_batch_size_per_device_for_update=2)  # type: ignore[arg-type]
    cfg.kl_coef = 0.5  # a visible KL term, aggregated with the same normaliser
    return cfg


def _load_model(model_path: str) -> torch.nn.Module:
    from verl.workers import fsdp

    cfg = ModelConfig(model_path=model_path, enable_gradient_checkpointing=False)
    return fsdp.build_model(cfg, torch.float32, trainable=True)


def _make_batch(model: torch.nn.Module) -> Batch:
    """Eight text-only rows; ``old_log_probs`` are the model's own (ratio 1: no clipping hides a gradient)."""
    from verl.workers.actor import forward_log_probs

    gen = torch.Generator().manual_seed(0)
    rows, length = len(LENGTHS), PROMPT + RESPONSE
    response_mask = torch.zeros(rows, RESPONSE, dtype=torch.long)
    for i, n in enumerate(LENGTHS):
        response_mask[i, :n] = 1
    input_ids = torch.randint(10, 200, (rows, length), generator=gen)
    batch = Batch({
        "input_ids": input_ids,
        "attention_mask": torch.cat([torch.ones(rows, PROMPT, dtype=torch.long), response_mask], dim=1),
        "position_ids": torch.arange(length).expand(rows, 3, length).clone(),
        "responses": input_ids[:, PROMPT:],
        "response_mask": response_mask,
        "advantages": torch.randn(rows, 1, generator=gen).expand(rows, RESPONSE) * response_mask,
    })
    with torch.no_grad():
        old, _ = forward_log_probs(model, batch, 1.0, "cpu")
    batch["old_log_probs"] = old
    batch["ref_log_probs"] = old - 0.3 * torch.rand(rows, RESPONSE, generator=gen)
    return batch


def _gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    from torch.distributed.tensor import DTensor

    out = {}
    for name, param in model.named_parameters():
        if param.grad is not None:
            grad = param.grad.full_tensor() if isinstance(param.grad, DTensor) else param.grad
            out[name] = grad.detach().clone()
    return out


def _one_process_gradient(model: torch.nn.Module, mode: str, batch: Batch) -> dict[str, torch.Tensor]:
    from verl.workers.actor import Actor

    model.zero_grad(set_to_none=True)
    Actor(model, _actor_config(mode), "cpu").backward_mini_batch(batch, temperature=1.0)
    return _gradients(model)


def _rank_main(rank: int, work_dir: str, model_path: str, port: int) -> None:
    """One rank: shard like the engine, then per mode accumulate this rank's half and dump the averaged grads."""
    import torch.distributed as dist

    from verl.trainer.config import FSDPConfig
    from verl.workers import fsdp
    from verl.workers.actor import Actor

    mesh = fsdp.init_process_group(rank, 2, "127.0.0.1", port, "cpu")
    model = fsdp.shard_model(_load_model(model_path), mesh, FSDPConfig(), "cpu")
    batch: Batch = torch.load(Path(work_dir) / "batch.pt", weights_only=False)
    half = batch[rank * 4:(rank + 1) * 4]
    grads = {}
    for mode in MODES:
        model.zero_grad(set_to_none=True)
        Actor(model, _actor_config(mode), "cpu", dp_group=mesh.get_group()).backward_mini_batch(half, 1.0)
        grads[mode] = _gradients(model)  # collective
    if rank == 0:
        torch.save(grads, Path(work_dir) / "grads_2ranks.pt")
    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_rank_run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Batch]:
    work = tmp_path_factory.mktemp("actor_dp")
    torch.manual_seed(0)
    batch = _make_batch(_load_model(str(tiny_model)))
    torch.save(batch, work / "batch.pt")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    subprocess.run([sys.executable, __file__, str(work), str(tiny_model)], check=True, env=env, timeout=300)
    return work, batch


@pytest.mark.parametrize("mode", MODES)
def test_two_rank_gradient_equals_one_rank_gradient(mode, two_rank_run, tiny_model):
    work, batch = two_rank_run
    two_ranks = torch.load(work / "grads_2ranks.pt")[mode]
    model = _load_model(str(tiny_model))
    expected = _one_process_gradient(model, mode, batch)
    assert set(two_ranks) == set(expected) and len(expected) > 10
    for name, grad in expected.items():
        torch.testing.assert_close(two_ranks[name], grad, **GRAD_TOL, msg=lambda m, n=name: f"{n}: {m}")
    # The test can tell: averaging per-rank means (each rank's own normaliser) gives a different gradient.
    halves = [_one_process_gradient(model, mode, batch[i * 4:(i + 1) * 4]) for i in range(2)]
    local_mean = {name: (halves[0][name] + halves[1][name]) / 2 for name in expected}
    gap = max(float((local_mean[n] - expected[n]).abs().max() / expected[n].abs().max().clamp(min=1e-12))
              for n in expected)
    assert gap > 0.05, gap


if __name__ == "__main__":
    import torch.multiprocessing as mp
    import transformers  # noqa: F401  (imported once here; the forked ranks inherit it)

    import verl.workers.actor  # noqa: F401
    import verl.workers.fsdp  # noqa: F401

    # fork: this fresh interpreter has run no torch ops yet, and the ranks skip re-importing transformers.
    mp.start_processes(_rank_main, args=(sys.argv[1], sys.argv[2], _free_port()), nprocs=2, start_method="fork")
