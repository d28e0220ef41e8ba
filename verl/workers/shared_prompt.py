"""One forward per prompt group: the ``n`` answers of a prompt share a single copy of its tokens and image.

A GRPO micro-batch holds ``n`` rows per prompt, each ``[left-padded prompt | response]``. Run as is, the
vision tower and every decoder layer process the prompt ``n`` times. Here each run of consecutive rows with
the same prompt becomes one packed row ``[prompt | response 1 | ... | response n]`` with a 4-D attention
mask: prompt tokens attend causally to the prompt, and each response's tokens to the prompt and causally to
their own response only. Every token keeps its own position ids, so each response sees exactly what its
padded row saw, and the log-probs and gradients are those of the padded rows (up to float rounding). With
Rex-Omni's ~1,500-token images and 300-token answers at ``n = 8``, a group is 3,900 tokens instead of 14,400.

Needs SDPA attention (a boolean 4-D mask; the actor always builds its model with ``sdpa``).
"""

from __future__ import annotations

from typing import Any

import torch

from verl.protocol import Batch

__all__ = ["prompt_groups", "shared_prompt_logits"]


def _same_image(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a is None or b is None or a.keys() != b.keys():
        return False
    return all(torch.equal(a[k], b[k]) for k in a)


def prompt_groups(micro: Batch, prompt_length: int) -> list[tuple[int, int]]:
    """``[start, end)`` runs of consecutive rows with the same prompt: tokens, mask, positions and image."""
    ids, mask = micro["input_ids"][:, :prompt_length], micro["attention_mask"][:, :prompt_length]
    positions = micro["position_ids"][..., :prompt_length]
    images = micro.non_tensors.get("multi_modal_inputs")
    same_text = ((ids[1:] == ids[:-1]).all(-1) & (mask[1:] == mask[:-1]).all(-1)
                 & (positions[1:] == positions[:-1]).flatten(1).all(-1)).tolist()
    groups, start = [], 0
    for row in range(1, len(micro)):
        if not (same_text[row - 1] and (images is None or _same_image(images[row - 1], images[row]))):
            groups.append((start, row))
            start = row
    groups.append((start, len(micro)))
    return groups


def _packed_inputs(micro: Batch, groups: list[tuple[int, int]], prompt_length: int, response_length: int,
                   width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids (m, T), position_ids (m, 3, T), attention mask (m, 1, T, T) bool)`` of the packed rows,
    ``T = P + width * R`` (``width``: the largest group)."""
    P, R = prompt_length, response_length
    total = P + width * R
    m = len(groups)
    ids = torch.zeros(m, total, dtype=micro["input_ids"].dtype)
    positions = torch.zeros(m, micro["position_ids"].shape[1], total, dtype=micro["position_ids"].dtype)
    key_valid = torch.zeros(m, total, dtype=torch.bool)
    segment = torch.full((m, total), -2)  # -1: the prompt; i >= 0: response slot i; -2: an unused slot
    for j, (start, end) in enumerate(groups):
        ids[j, :P] = micro["input_ids"][start, :P]
        positions[j, :, :P] = micro["position_ids"][start, :, :P]
        key_valid[j, :P] = micro["attention_mask"][start, :P].bool()
        segment[j, :P] = -1
        answers = slice(P, P + (end - start) * R)  # the group's answers, one after another
        ids[j, answers] = micro["input_ids"][start:end, P:].reshape(-1)
        answer_positions = micro["position_ids"][start:end, :, P:].transpose(0, 1)  # (3, n, R)
        positions[j, :, answers] = answer_positions.reshape(answer_positions.shape[0], -1)
        key_valid[j, answers] = micro["attention_mask"][start:end, P:].bool().reshape(-1)
        segment[j, answers] = torch.arange(end - start).repeat_interleave(R)
    index = torch.arange(total)
    causal = index[:, None] >= index[None, :]
    seen = (segment[:, None, :] == -1) | (segment[:, None, :] == segment[:, :, None])
    mask = causal & seen & key_valid[:, None, :]
    mask |= torch.eye(total, dtype=torch.bool)  # padding queries attend to themselves: no empty softmax row
    return ids, positions, mask[:, None]


def shared_prompt_logits(model: torch.nn.Module, micro: Batch, groups: list[tuple[int, int]],
                         vision_inputs: dict[str, torch.Tensor], device: str) -> torch.Tensor:
    """Logits ``(b, R, V)`` predicting each row's response tokens, from one packed forward per group.

    ``vision_inputs`` holds the image of each group's first row, in group order.
    """
    R = micro["responses"].shape[1]
    P = micro["input_ids"].shape[1] - R
    width = max(end - start for start, end in groups)
    ids, positions, mask = _packed_inputs(micro, groups, P, R, width)
    # Kept positions: the last prompt token (predicts every response's first token), then for each slot the
    # positions that predict its tokens 2..R.
    keep = [P - 1] + [P + slot * R + t for slot in range(width) for t in range(R - 1)]
    output = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device).transpose(0, 1),  # (3, m, T)
        use_cache=False,
        logits_to_keep=torch.tensor(keep, device=device),
        **vision_inputs,
    )
    logits = output.logits  # (m, 1 + width * (R - 1), V)
    # Slices, expand and cat only: their backward is deterministic, where an index with repeated entries (the
    # shared first position) would accumulate its gradient in an order that varies between runs.
    rows = []
    for j, (start, end) in enumerate(groups):
        n = end - start
        first = logits[j, :1].unsqueeze(0).expand(n, 1, -1)
        rest = logits[j, 1:1 + n * (R - 1)].reshape(n, R - 1, -1)
        rows.append(torch.cat([first, rest], dim=1))
    return torch.cat(rows)
