"""Attention for packed batches (``--data_flatten True``) without the flash-attn package.

transformers detects a packed row from position ids that restart at 0 and, for SDPA, builds a dense
``(S, S)`` block-causal mask over the whole row: every document attends over the full packed length
(most of it masked) and SDPA's flash backend, which takes no mask, is ruled out. Here the decoder's
attention gets the document boundaries instead and runs one of:

* ``sdpa_split``: one causal SDPA call per document (no mask, so the flash/efficient backends apply).
* ``flex``: one FlexAttention call with a document-causal ``BlockMask`` (compiled on CUDA; torch has
  no FlexAttention backward on the CPU, so there it serves evaluation only).
* ``varlen``: one ``torch.nn.attention.varlen.varlen_attn`` call (CUDA only, torch >= 2.10).

It is registered with transformers as the attention implementation ``PACKED_SDPA`` (mask function:
none for unpadded rows, transformers' SDPA mask otherwise), so padded batches and the vision tower
take the ordinary SDPA path unchanged.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from typing import Any

import torch

logger = logging.getLogger(__name__)

PACKED_SDPA = "rex_packed_sdpa"
PACKED_KERNELS = ("sdpa_split", "flex", "varlen")

_state: dict[str, Any] = {"kernel": "sdpa_split", "block_mask_key": None, "block_mask": None, "flex_fn": None}


def document_bounds(text_positions: torch.Tensor) -> list[int] | None:
    """``[0, end_1, ..., S]`` for a ``(S,)`` row of text positions that restart at 0 per document.

    Returns None when the row holds a single document (no restart after the first token).
    """
    starts = (text_positions[1:] == 0).nonzero().squeeze(1) + 1
    if starts.numel() == 0:
        return None
    return [0, *starts.tolist(), int(text_positions.numel())]


def _bounds_for(position_ids: torch.Tensor) -> list[int] | None:
    """:func:`document_bounds` of ``position_ids``, computed once per tensor: every decoder layer of a
    forward gets the same tensor object, and each computation is a device-to-host sync."""
    cached = _state.get("bounds_of")
    if cached is not None and cached[0]() is position_ids:
        return cached[1]
    bounds = document_bounds(position_ids.reshape(-1))
    _state["bounds_of"] = (weakref.ref(position_ids), bounds)
    return bounds


def _split_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, bounds: list[int],
                     scaling: float | None) -> torch.Tensor:
    """Causal SDPA per document; ``(1, H, S, D)`` inputs (keys may have fewer heads), ``(1, S, H, D)`` out."""
    gqa = query.shape[1] != key.shape[1]
    outs = [
        torch.nn.functional.scaled_dot_product_attention(
            query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], is_causal=True, scale=scaling, enable_gqa=gqa
        )
        for a, b in zip(bounds[:-1], bounds[1:])
    ]
    return torch.cat(outs, dim=2).transpose(1, 2)


def _document_block_mask(bounds: list[int], device: torch.device) -> Any:
    """Document-causal ``BlockMask`` for ``bounds``; the last one is reused (all layers share it)."""
    from torch.nn.attention.flex_attention import create_block_mask

    key = (tuple(bounds), str(device))
    if _state["block_mask_key"] != key:
        lengths = torch.tensor(bounds, device=device).diff()
        doc = torch.repeat_interleave(torch.arange(len(lengths), device=device), lengths)

        def document_causal(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
            return (doc[q_idx] == doc[kv_idx]) & (q_idx >= kv_idx)

        _state["block_mask"] = create_block_mask(document_causal, None, None, bounds[-1], bounds[-1], device=device)
        _state["block_mask_key"] = key
    return _state["block_mask"]


def _flex_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, bounds: list[int],
                    scaling: float | None) -> torch.Tensor:
    from torch.nn.attention.flex_attention import flex_attention

    if _state["flex_fn"] is None:
        # Uncompiled FlexAttention is a dense reference implementation; compiled it is the Triton kernel.
        _state["flex_fn"] = torch.compile(flex_attention, dynamic=True) if query.is_cuda else flex_attention
    block_mask = _document_block_mask(bounds, query.device)
    out = _state["flex_fn"](query, key, value, block_mask=block_mask, scale=scaling,
                            enable_gqa=query.shape[1] != key.shape[1])
    return out.transpose(1, 2)


def _varlen_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, bounds: list[int],
                      scaling: float | None) -> torch.Tensor:
    from torch.nn.attention.varlen import varlen_attn

    params = inspect.signature(varlen_attn).parameters
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # (S, heads, D)
    if q.shape[1] != k.shape[1] and "enable_gqa" not in params:
        rep = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    cu = torch.tensor(bounds, device=q.device, dtype=torch.int32)
    longest = max(b - a for a, b in zip(bounds[:-1], bounds[1:]))
    kwargs: dict[str, Any] = {}
    if "scale" in params:
        kwargs["scale"] = scaling
    elif scaling is not None and abs(scaling - q.shape[-1] ** -0.5) > 1e-12:
        raise ValueError(f"this torch's varlen_attn has no scale argument; the model needs scale {scaling}")
    if "is_causal" in params:  # torch 2.10-2.11 API; later releases take a window instead
        kwargs["is_causal"] = True
    else:
        kwargs["window_size"] = (-1, 0)
    if "enable_gqa" in params:
        kwargs["enable_gqa"] = q.shape[1] != k.shape[1]
    return varlen_attn(q, k, v, cu, cu, longest, longest, **kwargs)[None]


_KERNELS = {"sdpa_split": _split_attention, "flex": _flex_attention, "varlen": _varlen_attention}


def packed_sdpa_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                          position_ids: torch.Tensor | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers attention function: per-document attention on a packed row, SDPA otherwise."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    bounds = None
    packed_candidate = (attention_mask is None and position_ids is not None and query.shape[0] == 1
                        and getattr(module, "is_causal", False) and query.shape[2] == key.shape[2])
    if packed_candidate:
        bounds = _bounds_for(position_ids)
    if bounds is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    if dropout:
        raise ValueError("packed attention kernels do not apply attention dropout; set attention_dropout to 0")
    return _KERNELS[_state["kernel"]](query, key, value, bounds, scaling), None


def _packed_sdpa_mask(*args: Any, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> Any:
    """No mask for rows without padding (the attention function finds the documents); SDPA's otherwise."""
    from transformers.masking_utils import sdpa_mask

    if attention_mask is None:
        return None
    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


def check_kernel_available(kernel: str, on_cuda: bool, training: bool = True) -> None:
    """Raise ``ValueError`` naming the kernel when it cannot run here (``training``: with a backward)."""
    if kernel not in PACKED_KERNELS:
        raise ValueError(f"packed_attention must be one of {('off', *PACKED_KERNELS)}, got {kernel!r}")
    if kernel == "varlen":
        try:
            from torch.nn.attention.varlen import varlen_attn  # noqa: F401
        except ImportError as exc:
            raise ValueError(f"packed_attention=varlen needs torch.nn.attention.varlen (torch >= 2.10); "
                             f"torch {torch.__version__} has none") from exc
        if not on_cuda:
            raise ValueError("packed_attention=varlen runs on CUDA only; use sdpa_split on the CPU")
    if kernel == "flex" and training and not on_cuda:
        raise ValueError("packed_attention=flex trains on CUDA only (torch has no FlexAttention backward on the "
                         "CPU); use sdpa_split on the CPU")


def enable_packed_attention(model: Any, kernel: str, training: bool = True) -> None:
    """Register ``PACKED_SDPA`` with ``kernel`` and switch ``model`` (loaded with sdpa) to it.

    Raises ``ValueError`` when the model does not use SDPA (flash-attention already runs packed rows
    through its own varlen kernel) or when ``kernel`` cannot run on this machine.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    current = model.config._attn_implementation
    if current not in ("sdpa", PACKED_SDPA):
        raise ValueError(f"packed_attention={kernel} needs attn_implementation sdpa, the model uses {current!r} "
                         "(flash_attention_2 already attends packed rows per sample)")
    check_kernel_available(kernel, next(model.parameters()).is_cuda or torch.cuda.is_available(), training)
    AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention)
    AttentionMaskInterface.register(PACKED_SDPA, _packed_sdpa_mask)
    _state["kernel"] = kernel
    model.set_attn_implementation(PACKED_SDPA)
    logger.info("packed rows attend per document through %s", kernel)
