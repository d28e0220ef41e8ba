"""Merge a GRPO actor checkpoint (DCP shards) into a complete Hugging Face model folder.

Input is the ``global_step_<N>/actor/`` folder written by :mod:`verl.workers.checkpoint`: ``dcp/`` holds
``{"model": ..., "optim": ...}`` as saved by ``torch.distributed.checkpoint`` from FSDP2 ranks, and
``huggingface/`` holds config, generation config, processor, tokenizer and chat template. The merge reads
only the model tensors, without a process group (DCP reshards from any number of writer ranks), checks
them against the architecture built from ``config.json`` on the meta device, and writes safetensors with
``save_pretrained`` (which maps module names to HF's on-disk names and drops tied duplicates).

DCP model keys are the model's module FQNs (FSDP2 keeps them), so no name translation happens here.
A LoRA actor's checkpoint (``huggingface/adapter_config.json``) is merged from its adapter instead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.metadata import TensorStorageMetadata
from tqdm import tqdm

__all__ = [
    "DTYPES", "CheckpointMergeError", "TensorSpec", "build_meta_model", "check_tensor_specs",
    "load_model_tensors", "merge_checkpoint", "read_model_specs", "resolve_dtype", "upload_to_hub",
]

logger = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
MODEL_KEY = "model"  # top-level key of the model state dict inside the DCP checkpoint
HF_SUBDIR = "huggingface"
DCP_SUBDIR = "dcp"
_WEIGHT_SUFFIXES = (".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json")
LORA_ADAPTER_CONFIG = "adapter_config.json"  # in huggingface/: the checkpoint of a LoRA actor (verl.workers.lora)
_CHUNK_BYTES = 1 << 30  # read at most ~1 GiB (stored dtype) per DCP load call


class CheckpointMergeError(ValueError):
    """The checkpoint cannot be merged; the message names the offending folder or tensors."""


@dataclass(frozen=True)
class TensorSpec:
    """Shape and dtype of one stored tensor."""

    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def nbytes(self) -> int:
        return torch.Size(self.shape).numel() * torch.empty((), dtype=self.dtype).element_size()


def _is_weight_file(name: str) -> bool:
    return name.endswith(_WEIGHT_SUFFIXES)


def read_model_specs(dcp_dir: Path) -> dict[str, TensorSpec]:
    """Model tensors recorded in the DCP metadata: ``{module FQN: TensorSpec}`` (optimizer state skipped)."""
    if not (dcp_dir / ".metadata").is_file():
        raise CheckpointMergeError(f"{dcp_dir} has no DCP .metadata file; is this an actor checkpoint folder?")
    metadata = FileSystemReader(str(dcp_dir)).read_metadata()
    prefix = MODEL_KEY + "."
    specs = {}
    for key, item in metadata.state_dict_metadata.items():
        if key.startswith(prefix) and isinstance(item, TensorStorageMetadata):
            specs[key[len(prefix):]] = TensorSpec(tuple(item.size), item.properties.dtype)
    if not specs:
        raise CheckpointMergeError(f"{dcp_dir} holds no '{MODEL_KEY}.*' tensors")
    return specs


def resolve_dtype(name: str | None, config: dict[str, Any], specs: dict[str, TensorSpec]) -> torch.dtype:
    """``name`` (bf16|fp16|fp32) if given; else config.json's ``dtype``; else the stored floating dtype."""
    if name is not None:
        if name not in DTYPES:
            raise CheckpointMergeError(f"dtype must be one of {sorted(DTYPES)}, got {name!r}")
        return DTYPES[name]
    stored = config.get("dtype") or config.get("torch_dtype")
    if isinstance(stored, str) and isinstance(getattr(torch, stored, None), torch.dtype):
        return getattr(torch, stored)
    floating = [s.dtype for s in specs.values() if s.dtype.is_floating_point]
    return max(set(floating), key=floating.count) if floating else torch.float32


def build_meta_model(hf_dir: Path, dtype: torch.dtype) -> torch.nn.Module:
    """The class named by ``config.json``'s ``architectures[0]``, built on the meta device in ``dtype``."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(hf_dir)
    arch = (config.architectures or [None])[0]
    model_cls = getattr(transformers, arch, None) if arch else None
    if model_cls is None:
        raise CheckpointMergeError(f"{hf_dir / 'config.json'}: architecture {arch!r} is not a transformers class")
    with torch.device("meta"):
        return model_cls._from_config(config, dtype=dtype)


def _alias_groups(model: torch.nn.Module) -> list[list[str]]:
    """Names that share one parameter (e.g. tied ``lm_head.weight`` / ``embed_tokens.weight``), first = canonical."""
    groups: dict[int, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), []).append(name)
    return list(groups.values())


def check_tensor_specs(stored: dict[str, TensorSpec], expected: dict[str, tuple[int, ...]],
                       aliases: Iterable[list[str]]) -> dict[str, str]:
    """Validate stored vs. expected tensors; returns ``{tied alias: stored name to share}``.

    Tied names (one parameter) are read once, from the first of them that is stored, so a name may be
    absent only when a tied alias of it is stored. Raises :class:`CheckpointMergeError` listing every
    missing, unexpected and shape-mismatched tensor.
    """
    fill: dict[str, str] = {}
    for group in aliases:
        present = [name for name in group if name in stored]
        fill.update({name: present[0] for name in group if present and name != present[0]})
    missing = sorted(set(expected) - set(stored) - set(fill))
    unexpected = sorted(set(stored) - set(expected))
    mismatched = [f"{name}: stored {list(stored[name].shape)}, model {list(shape)}"
                  for name, shape in sorted(expected.items()) if name in stored and stored[name].shape != shape]
    problems = []
    if missing:
        problems.append(f"missing tensors: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {', '.join(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatch: {'; '.join(mismatched)}")
    if problems:
        raise CheckpointMergeError("checkpoint does not match config.json: " + " | ".join(problems))
    return fill


def _chunks(names: list[str], specs: dict[str, TensorSpec], max_bytes: int) -> Iterable[list[str]]:
    chunk: list[str] = []
    size = 0
    for name in names:
        if chunk and size + specs[name].nbytes > max_bytes:
            yield chunk
            chunk, size = [], 0
        chunk.append(name)
        size += specs[name].nbytes
    if chunk:
        yield chunk


def load_model_tensors(dcp_dir: Path, specs: dict[str, TensorSpec], names: list[str], dtype: torch.dtype,
                       chunk_bytes: int = _CHUNK_BYTES) -> dict[str, torch.Tensor]:
    """Full (unsharded) CPU tensors for ``names``; floating ones cast to ``dtype``. No process group needed."""
    reader = FileSystemReader(str(dcp_dir))
    tensors: dict[str, torch.Tensor] = {}
    with tqdm(total=len(names), desc="Merging tensors", unit="tensor") as bar:
        for chunk in _chunks(names, specs, chunk_bytes):
            state = {name: torch.empty(specs[name].shape, dtype=specs[name].dtype) for name in chunk}
            with warnings.catch_warnings():  # single-process loading is the intent, not a fallback
                warnings.filterwarnings("ignore", message="torch.distributed is disabled")
                dcp.load({MODEL_KEY: state}, storage_reader=reader, no_dist=True)
            for name, tensor in state.items():
                tensors[name] = tensor.to(dtype) if tensor.is_floating_point() else tensor
            bar.update(len(chunk))
    return tensors


def _set_config_dtype(config_path: Path, dtype: torch.dtype) -> None:
    """Record ``dtype`` in config.json (top level and sub-configs that carry one), keeping all else."""
    config = json.loads(config_path.read_text())
    name = str(dtype).removeprefix("torch.")

    def patch(node: dict[str, Any], top: bool) -> None:
        keys = [k for k in ("dtype", "torch_dtype") if k in node] or (["dtype"] if top else [])
        node.update({key: name for key in keys})
        for value in node.values():
            if isinstance(value, dict):
                patch(value, top=False)

    patch(config, top=True)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _copy_metadata(src: Path, dst: Path) -> None:
    """Copy every non-weight file of ``src`` (if it exists) into ``dst``."""
    if not src.is_dir():
        return
    for path in src.iterdir():
        if path.is_file() and not _is_weight_file(path.name):
            shutil.copy2(path, dst / path.name)
        elif path.is_dir():
            shutil.copytree(path, dst / path.name, dirs_exist_ok=True)


def _swap_into_place(tmp: Path, output_dir: Path) -> None:
    """Replace ``output_dir`` by ``tmp`` with renames, so it is never seen half-written."""
    if not output_dir.exists():
        os.replace(tmp, output_dir)
        return
    backup = output_dir.with_name(f".{output_dir.name}.old-{os.getpid()}")
    os.replace(output_dir, backup)
    try:
        os.replace(tmp, output_dir)
    except OSError:
        os.replace(backup, output_dir)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _check_layout(local_dir: Path) -> tuple[Path, Path]:
    if local_dir.name == HF_SUBDIR:
        raise CheckpointMergeError(f"--local_dir must be the actor folder, not its {HF_SUBDIR}/ ({local_dir})")
    dcp_dir, hf_dir = local_dir / DCP_SUBDIR, local_dir / HF_SUBDIR
    if not dcp_dir.is_dir():
        hint = f"; did you mean {local_dir / 'actor'}?" if (local_dir / "actor" / DCP_SUBDIR).is_dir() else ""
        raise CheckpointMergeError(f"{local_dir} has no {DCP_SUBDIR}/ folder{hint}")
    if not (hf_dir / "config.json").is_file():
        raise CheckpointMergeError(f"{hf_dir} has no config.json (written with the checkpoint on rank 0)")
    return dcp_dir, hf_dir


def merge_checkpoint(local_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str] | None = None,
                     dtype: str | None = None, max_shard_size: int | str = "5GB") -> Path:
    """Write the actor's full weights as an HF model folder; returns the folder.

    ``local_dir`` is ``global_step_<N>/actor``; ``output_dir`` defaults to ``local_dir/huggingface``.
    ``dtype`` is bf16|fp16|fp32 (default: config.json's, else the checkpoint's). Weights above
    ``max_shard_size`` are split into safetensors shards plus an index. The folder is assembled in a
    temp sibling (metadata from ``local_dir/huggingface`` + weights) and renamed into place.
    """
    local_dir = Path(local_dir)
    dcp_dir, hf_dir = _check_layout(local_dir)
    if (hf_dir / LORA_ADAPTER_CONFIG).is_file():
        return merge_lora_checkpoint(hf_dir, local_dir, output_dir, dtype)
    output_dir = Path(output_dir) if output_dir is not None else hf_dir
    specs = read_model_specs(dcp_dir)
    torch_dtype = resolve_dtype(dtype, json.loads((hf_dir / "config.json").read_text()), specs)
    model = build_meta_model(hf_dir, torch_dtype)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    fill = check_tensor_specs(specs, expected, _alias_groups(model))
    tensors = load_model_tensors(dcp_dir, specs, [n for n in expected if n not in fill], torch_dtype)
    tensors.update({alias: tensors[source] for alias, source in fill.items()})
    model.load_state_dict(tensors, strict=True, assign=True)
    model.tie_weights()  # assign=True gave each alias its own Parameter; share one again, as from_pretrained does

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.merge-", dir=output_dir.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it owner-only
        _copy_metadata(output_dir, tmp)  # keep the output's own extra files, drop its stale weights
        _copy_metadata(hf_dir, tmp)
        save_dir = tmp / ".save_pretrained"
        model.save_pretrained(save_dir, max_shard_size=max_shard_size)
        for path in save_dir.iterdir():
            if _is_weight_file(path.name):
                os.replace(path, tmp / path.name)
        shutil.rmtree(save_dir)
        _set_config_dtype(tmp / "config.json", torch_dtype)
        _swap_into_place(tmp, output_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("merged %d tensors from %s into %s (%s)", len(expected), dcp_dir, output_dir, torch_dtype)
    return output_dir


def merge_lora_checkpoint(hf_dir: Path, local_dir: Path, output_dir: str | os.PathLike[str] | None,
                          dtype: str | None) -> Path:
    """A LoRA actor checkpoint: fold ``hf_dir``'s adapter into the base model it names.

    The output defaults to ``local_dir/huggingface_merged``: a folder holding both the adapter files and
    full weights would be read as an adapter by peft-aware loaders.
    """
    from modeling.adapter_folder import LoraMergeError, merge_lora

    output = Path(output_dir) if output_dir is not None else local_dir / f"{HF_SUBDIR}_merged"
    try:
        return merge_lora(hf_dir, output, dtype=DTYPES[dtype] if dtype else None, overwrite=True)
    except LoraMergeError as exc:
        raise CheckpointMergeError(str(exc)) from exc


def upload_to_hub(folder: Path, repo_id: str, private: bool = False) -> str:
    """Create ``repo_id`` on the Hub if needed and upload ``folder``; returns the commit URL."""
    from huggingface_hub import HfApi  # only imported when an upload is asked for

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model")
    return str(commit)
