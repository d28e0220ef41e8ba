"""The rollout interface and the engine-independent assembly of a generated batch.

An engine holds its own copy of the policy weights. Per step the worker calls ``wake_up()``,
``load_weights(named full tensors from the FSDP actor)``, ``generate(prompts, sampling)`` and ``sleep()``.
``generate`` returns :class:`Responses` (token ids, and the engine's log-probs of them when it computes
them); :func:`assemble_rollout` turns them into the training columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from verl.protocol import Batch

__all__ = ["Responses", "RolloutEngine", "SamplingSettings", "assemble_rollout", "truncate_at_eos"]


@dataclass(frozen=True)
class SamplingSettings:
    """Per-call sampling: ``n`` samples per prompt, at most ``max_tokens`` new tokens each."""

    n: int
    temperature: float
    top_p: float
    top_k: int
    max_tokens: int


@dataclass(frozen=True)
class Responses:
    """What an engine generated: ``len(prompts) * n`` token lists (the ``n`` samples of a prompt contiguous).

    ``log_probs``: per token, ``log softmax(logits / temperature)`` of the sampled token under the engine's
    weights (the actor's definition), or None when the engine does not report them.
    """

    token_ids: list[list[int]]
    log_probs: list[list[float]] | None = None


class RolloutEngine(Protocol):
    def wake_up(self) -> None:
        """Bring weights (and cache memory) back before syncing and generating."""

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Overwrite the engine's weights with ``(HF name, full tensor)`` pairs."""

    def generate(self, prompts: Batch, sampling: SamplingSettings) -> Responses:
        """``len(prompts) * n`` responses; the ``n`` samples of a prompt are contiguous."""

    def sleep(self) -> None:
        """Release accelerator memory for training."""


def truncate_at_eos(tokens: Sequence[int], eos_ids: set[int], max_tokens: int) -> list[int]:
    """Tokens up to and including the first EOS, at most ``max_tokens``."""
    out: list[int] = []
    for token in list(tokens)[:max_tokens]:
        out.append(int(token))
        if token in eos_ids:
            break
    return out


def assemble_rollout(prompts: Batch, responses: Responses, n: int, response_length: int,
                     pad_token_id: int, eos_ids: set[int]) -> Batch:
    """Training columns for ``prompts`` repeated ``n`` times (interleaved) and their responses.

    Responses are cut after the first EOS, right-padded to ``response_length``; ``response_mask`` is 1 on
    real tokens (EOS included). Response positions continue the prompt's last M-RoPE position on all rows.
    When the engine reports log-probs they become ``rollout_log_probs`` (B, R), 0 on padding.
    """
    if len(responses.token_ids) != len(prompts) * n:
        raise ValueError(f"{len(responses.token_ids)} responses for {len(prompts)} prompts x n={n}")
    rows = [truncate_at_eos(r, eos_ids, response_length) for r in responses.token_ids]
    ids = torch.full((len(rows), response_length), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), response_length), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, :len(row)] = 1
    out = prompts.repeat(n, interleave=True)
    last = out["position_ids"][:, :, -1:]  # (B, 3, 1)
    steps = torch.arange(1, response_length + 1, dtype=last.dtype).view(1, 1, -1)
    out["prompts"] = out["input_ids"]
    out["responses"] = ids
    out["response_mask"] = mask
    out["input_ids"] = torch.cat([out["input_ids"], ids], dim=1)
    out["attention_mask"] = torch.cat([out["attention_mask"], mask], dim=1)
    out["position_ids"] = torch.cat([out["position_ids"], last + steps], dim=2)
    if responses.log_probs is not None:
        log_probs = torch.zeros((len(rows), response_length), dtype=torch.float32)
        for i, (row, values) in enumerate(zip(rows, responses.log_probs)):
            log_probs[i, :len(row)] = torch.tensor(values[:len(row)], dtype=torch.float32)
        out["rollout_log_probs"] = log_probs
    return out
