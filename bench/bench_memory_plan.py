"""How close ``--memory_plan``'s estimate is to the memory a training step really takes, on the CPU.

For each batch layout (padded, packed) and checkpointing (off, every block), and with ``--linear_ce chunked``
without checkpointing, a fresh process builds the
test-size model in fp32 and a batch of toy grounding samples at two image sizes, runs one warm-up
forward + backward (so the weight gradients exist), then measures one more: the rise of the process's
peak resident memory (``VmHWM``, reset through ``/proc/self/clear_refs``) over its resident memory just
before. glibc is told to map every allocation over 64 KiB on its own (``MALLOC_MMAP_THRESHOLD_``), so
freed tensors leave the resident set at once and the peak is the tensors' peak.

The estimate is what ``finetuning.memory_plan`` adds on top of weights and gradients for that step:
``activations(stride) + backward_working_set()`` from one probed forward pass. Printed per case:
measured MiB, estimated MiB and their ratio; ``--memory_plan`` is safe where the ratio is at most 1.

``python -m bench.bench_memory_plan [--quick]``; :func:`main` returns the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from bench.common import MIB, format_table

CASES = [(layout, stride, "off") for layout in ("padded", "packed") for stride in (0, 1)] + [
    (layout, 0, "chunked") for layout in ("padded", "packed")]


def measure_case(layout: str, stride: int, linear_ce: str, samples: int) -> dict[str, Any]:
    """In this process: probe, warm up, then the measured step; returns bytes measured and estimated."""
    import gc

    import torch

    from bench.bench_sft_speed import build_data, build_model
    from bench.common import peak_rss_bytes, rss_bytes
    from dataset.collator import DataCollatorForSupervisedDataset, FlattenedDataCollatorForSupervisedDataset
    from demo.tiny_model import coordinate_token_ids
    from finetuning.memory_plan import probe_activations
    from finetuning.speed import thin_gradient_checkpointing
    from finetuning.trainer import sft_loss

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as workdir:
        processor, items = build_data(workdir, dry_run=True, num_samples=samples)
    coords = torch.tensor(coordinate_token_ids(processor.tokenizer))
    collator = (FlattenedDataCollatorForSupervisedDataset if layout == "packed" else DataCollatorForSupervisedDataset)(
        tokenizer=processor.tokenizer)
    batch = collator(items)
    model = build_model(processor, dry_run=True, device=torch.device("cpu"), liger=False)
    if stride:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        thin_gradient_checkpointing(model, stride)
    model.train()

    def loss_fn(m: Any, b: dict[str, Any]) -> torch.Tensor:
        return sft_loss(m, b, coords, 2.0, linear_ce)[0]

    probe = probe_activations(model, loss_fn, batch)
    estimate = probe.activations(stride) + probe.backward_working_set()

    def step() -> None:
        loss_fn(model, batch).backward()

    step()  # the weight gradients now exist; zero_grad keeps them allocated
    model.zero_grad(set_to_none=False)
    gc.collect()
    before = rss_bytes()
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")  # resets VmHWM to the current resident set
    step()
    measured = peak_rss_bytes() - before
    return {"measured_bytes": measured, "estimated_bytes": estimate, "tokens": int(batch["input_ids"].numel()),
            "ratio": measured / estimate}


def run_case(layout: str, stride: int, linear_ce: str, samples: int) -> dict[str, Any]:
    """:func:`measure_case` in a fresh process with glibc's mmap threshold fixed at 64 KiB."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0",
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "bench.bench_memory_plan", "--child", layout, str(stride),
                           linear_ce, str(samples)], capture_output=True, text=True, env=env, timeout=600,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if proc.returncode != 0:
        raise RuntimeError(f"{layout} stride {stride} linear_ce {linear_ce}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(quick: bool = False) -> dict[str, Any]:
    """Every case; returns ``{case: {measured_bytes, estimated_bytes, tokens, ratio}}``."""
    samples = 4 if quick else 8
    cases = CASES[:2] if quick else CASES
    results = {}
    for layout, stride, linear_ce in cases:
        name = f"{layout}_checkpointing_{'off' if stride == 0 else 'every_block'}"
        name += "_linear_ce" if linear_ce != "off" else ""
        results[name] = run_case(layout, stride, linear_ce, samples)
    return {"samples": samples, "model": "test-size, fp32, CPU", "cases": results}


def table(results: dict[str, Any]) -> str:
    rows = [(name, r["tokens"], f"{r['measured_bytes'] / MIB:.1f}", f"{r['estimated_bytes'] / MIB:.1f}",
             f"{r['ratio']:.2f}") for name, r in results["cases"].items()]
    return format_table(rows, ("case", "tokens", "measured MiB", "estimated MiB", "measured / estimated"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 samples, padded, the logits path only")
    parser.add_argument("--child", nargs=4, metavar=("LAYOUT", "STRIDE", "LINEAR_CE", "SAMPLES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_case(args.child[0], int(args.child[1]), args.child[2], int(args.child[3]))))
    else:
        print(table(main(args.quick)))
