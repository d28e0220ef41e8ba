"""``Batch``: the column-wise container passed between the GRPO driver and its workers.

Rows are samples (a prompt, or one of its ``n`` responses). ``tensors`` hold per-row ``torch.Tensor``s with
an equal first dimension; ``non_tensors`` hold per-row Python objects as 1-D numpy object arrays (lists are
converted); ``meta`` holds batch-level values (temperature, metrics, ...) that are copied, never indexed.
Every operation returns a new ``Batch``; tensors may share storage with the source. Pickles as-is (Ray).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np
import torch

__all__ = ["Batch", "object_array"]

Index = slice | Sequence[int] | np.ndarray | torch.Tensor


def object_array(values: Sequence[Any]) -> np.ndarray:
    """1-D object array of ``values`` (never a 2-D array, even when the items are equal-length lists)."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


@dataclass
class Batch:
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    non_tensors: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tensors = dict(self.tensors)
        self.non_tensors = {k: _as_rows(k, v) for k, v in self.non_tensors.items()}
        self.meta = dict(self.meta)
        self._check_lengths()

    # ------------------------------------------------------------------ construction and inspection
    @classmethod
    def from_mapping(cls, columns: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> Batch:
        """Split a collated dict: tensors go to ``tensors``, everything else to ``non_tensors``."""
        tensors = {k: v for k, v in columns.items() if isinstance(v, torch.Tensor)}
        others = {k: v for k, v in columns.items() if not isinstance(v, torch.Tensor)}
        return cls(tensors, others, dict(meta or {}))

    def _check_lengths(self) -> None:
        columns = [(k, v.shape[0] if v.dim() > 0 else None) for k, v in self.tensors.items()]
        columns += [(k, len(v)) for k, v in self.non_tensors.items()]
        if not columns:
            return
        first_key, expected = columns[0]
        for key, length in columns:
            if length is None:
                raise ValueError(f"tensor '{key}' is 0-dimensional; per-row tensors need a batch dimension")
            if length != expected:
                raise ValueError(f"column '{key}' has {length} rows but '{first_key}' has {expected}")

    def __len__(self) -> int:
        for value in self.tensors.values():
            return int(value.shape[0])
        for value in self.non_tensors.values():
            return len(value)
        return 0

    def keys(self) -> list[str]:
        return [*self.tensors, *self.non_tensors]

    def __contains__(self, key: object) -> bool:
        return key in self.tensors or key in self.non_tensors

    # ------------------------------------------------------------------ item access
    @overload
    def __getitem__(self, index: str) -> Any: ...
    @overload
    def __getitem__(self, index: Index) -> Batch: ...

    def __getitem__(self, index: str | Index) -> Any:
        """``batch["key"]`` returns a column; a slice, int sequence/array or bool mask returns rows."""
        if isinstance(index, str):
            if index in self.tensors:
                return self.tensors[index]
            if index in self.non_tensors:
                return self.non_tensors[index]
            raise KeyError(f"no column '{index}'; columns: {self.keys()}")
        if isinstance(index, (int, np.integer)):
            raise TypeError(f"integer row index {index}: use batch[{index}:{index} + 1] for a one-row Batch")
        if isinstance(index, slice):
            return Batch({k: v[index] for k, v in self.tensors.items()},
                         {k: v[index] for k, v in self.non_tensors.items()}, self.meta)
        rows = _row_indices(index, len(self))
        rows_t = torch.as_tensor(rows, dtype=torch.long)
        return Batch({k: v[rows_t.to(v.device)] for k, v in self.tensors.items()},
                     {k: v[rows] for k, v in self.non_tensors.items()}, self.meta)

    def __setitem__(self, key: str, value: Any) -> None:
        """Add or replace one column (tensor or per-row values); its length must match."""
        if any(k != key for k in self.keys()) and len(value) != len(self):
            raise ValueError(f"column '{key}' has {len(value)} rows but the batch has {len(self)}")
        self.tensors.pop(key, None)
        self.non_tensors.pop(key, None)
        if isinstance(value, torch.Tensor):
            self.tensors[key] = value
        else:
            self.non_tensors[key] = _as_rows(key, value)
        self._check_lengths()

    # ------------------------------------------------------------------ column operations
    def select(self, keys: Iterable[str]) -> Batch:
        """New batch with only ``keys`` (from either dict); ``meta`` is kept."""
        keys = list(keys)
        missing = [k for k in keys if k not in self]
        if missing:
            raise KeyError(f"no columns {missing}; columns: {self.keys()}")
        return Batch({k: v for k, v in self.tensors.items() if k in keys},
                     {k: v for k, v in self.non_tensors.items() if k in keys}, self.meta)

    def pop(self, keys: Iterable[str]) -> Batch:
        """Remove ``keys`` from this batch and return them as a new batch (same ``meta``)."""
        popped = self.select(keys)
        for key in popped.keys():
            self.tensors.pop(key, None)
            self.non_tensors.pop(key, None)
        return popped

    def union(self, other: Batch) -> Batch:
        """Columns and meta of both; shared columns must be equal, shared meta keys must agree."""
        if self.keys() and other.keys() and len(self) != len(other):
            raise ValueError(f"cannot union batches of {len(self)} and {len(other)} rows")
        tensors = dict(self.tensors)
        for key, value in other.tensors.items():
            if key in tensors and not (tensors[key].shape == value.shape and torch.equal(tensors[key], value)):
                raise ValueError(f"union: tensor '{key}' differs between the two batches")
            tensors[key] = value
        non_tensors = dict(self.non_tensors)
        for key, value in other.non_tensors.items():
            if key in non_tensors and not _rows_equal(non_tensors[key], value):
                raise ValueError(f"union: non-tensor '{key}' differs between the two batches")
            non_tensors[key] = value
        meta = dict(self.meta)
        for key, value in other.meta.items():
            if key in meta and not _values_equal(meta[key], value):
                raise ValueError(f"union: meta '{key}' differs between the two batches")
            meta[key] = value
        return Batch(tensors, non_tensors, meta)

    # ------------------------------------------------------------------ row operations
    def split(self, size: int) -> list[Batch]:
        """Consecutive pieces of ``size`` rows (the last may be shorter), like ``torch.split``."""
        if size <= 0:
            raise ValueError(f"split size must be > 0, got {size}")
        return [self[start:start + size] for start in range(0, len(self), size)]

    @overload
    def chunk(self, n: int, pad: Literal[False] = False) -> list[Batch]: ...
    @overload
    def chunk(self, n: int, pad: Literal[True]) -> tuple[list[Batch], int]: ...

    def chunk(self, n: int, pad: bool = False) -> list[Batch] | tuple[list[Batch], int]:
        """``n`` equal pieces in order (e.g. one per data-parallel rank).

        Without ``pad`` the length must be divisible by ``n``. With ``pad=True`` the batch is first extended
        by repeating its leading rows cyclically; returns ``(chunks, pad_count)``. After gathering the
        results, drop the padding with ``Batch.concat(outputs)[: len(outputs_total) - pad_count]``.
        """
        if n <= 0:
            raise ValueError(f"chunk count must be > 0, got {n}")
        if pad:
            padded, count = self.pad_to_multiple(n)
            return padded.chunk(n), count
        if len(self) % n != 0:
            raise ValueError(f"cannot chunk {len(self)} rows into {n} equal parts (use pad=True)")
        return self.split(len(self) // n) if len(self) else [self[0:0] for _ in range(n)]

    def pad_to_multiple(self, k: int) -> tuple[Batch, int]:
        """Append copies of the first rows (cyclically) until ``len % k == 0``; returns (batch, pad_count)."""
        count = -len(self) % k
        if count == 0:
            return self, 0
        if len(self) == 0:
            raise ValueError("cannot pad an empty batch")
        return Batch.concat([self, self[np.arange(count) % len(self)]]), count

    @classmethod
    def concat(cls, batches: Sequence[Batch]) -> Batch:
        """Rows of all ``batches`` in order; columns must match. Meta: union, earlier batches win."""
        if not batches:
            raise ValueError("concat needs at least one batch")
        t_keys, n_keys = set(batches[0].tensors), set(batches[0].non_tensors)
        for i, b in enumerate(batches):
            if set(b.tensors) != t_keys or set(b.non_tensors) != n_keys:
                diff = sorted(set(b.keys()) ^ (t_keys | n_keys))
                raise ValueError(f"concat: batch {i} has different columns (mismatch: {diff})")
        tensors = {k: torch.cat([b.tensors[k] for b in batches]) for k in batches[0].tensors}
        non_tensors = {k: np.concatenate([b.non_tensors[k] for b in batches]) for k in batches[0].non_tensors}
        meta: dict[str, Any] = {}
        for b in reversed(batches):
            meta.update(b.meta)
        return cls(tensors, non_tensors, meta)

    def repeat(self, n: int, interleave: bool = True) -> Batch:
        """Each row ``n`` times: ``[a,a,b,b]`` when ``interleave`` (n rollouts per prompt), else ``[a,b,a,b]``."""
        if n <= 0:
            raise ValueError(f"repeat count must be > 0, got {n}")
        rows = np.repeat(np.arange(len(self)), n) if interleave else np.tile(np.arange(len(self)), n)
        return self[rows]

    def to(self, device: torch.device | str) -> Batch:
        """Tensors moved to ``device`` (non-tensors and meta unchanged)."""
        return Batch({k: v.to(device) for k, v in self.tensors.items()}, self.non_tensors, self.meta)


def _as_rows(key: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            raise ValueError(f"non-tensor '{key}' is 0-dimensional; it needs one entry per row")
        return value
    if isinstance(value, (list, tuple)):
        return object_array(value)
    raise TypeError(f"non-tensor '{key}' must be a numpy array or a list, got {type(value).__name__}")


def _row_indices(index: Any, length: int) -> np.ndarray:
    rows = index.cpu().numpy() if isinstance(index, torch.Tensor) else np.asarray(index)
    if rows.dtype == bool:
        if rows.shape != (length,):
            raise IndexError(f"boolean mask of shape {rows.shape} for a batch of {length} rows")
        return np.nonzero(rows)[0]
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise IndexError(f"row index must be a 1-D integer or boolean array, got {rows.dtype} {rows.shape}")
    if rows.min() < -length or rows.max() >= length:
        raise IndexError(f"row index out of range for a batch of {length} rows")
    return rows.astype(np.int64)


def _rows_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b))


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b
