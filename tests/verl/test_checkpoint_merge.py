"""verl/checkpoint_merge.py and its CLI: DCP actor checkpoints from 1 and 2 FSDP2 ranks -> HF folder.

The checkpoints are written by the engine's own code (``fsdp.build_model``/``shard_model``,
``checkpoint.save_actor``/``save_hf_metadata``) in gloo ranks started by ``torch.multiprocessing.spawn``.
This file doubles as the writer script (``python test_checkpoint_merge.py ROOT MODEL``) so the spawned
children can import their entry point by file path.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
WORLD_SIZES = (1, 2)


# ------------------------------------------------------------------------------- checkpoint writer


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports (held open together, so they cannot coincide)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _train_and_save(rank: int, world: int, port: int, model_path: str, actor_dir: Path, seed: int) -> None:
    """One rank: shard the model like the engine, take one AdamW step, save; rank 0 also dumps the full weights."""
    import torch.distributed as dist
    from transformers import AutoProcessor

    from verl.trainer.config import FSDPConfig, ModelConfig
    from verl.workers import checkpoint, fsdp

    torch.manual_seed(seed)
    mesh = fsdp.init_process_group(rank, world, "127.0.0.1", port, "cpu")
    model_cfg = ModelConfig(model_path=model_path, enable_gradient_checkpointing=False)
    model = fsdp.shard_model(fsdp.build_model(model_cfg, torch.float32, trainable=True), mesh, FSDPConfig(), "cpu")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    ids = torch.randint(0, 200, (2, 12), generator=torch.Generator().manual_seed(seed))
    model(input_ids=ids, labels=ids).loss.backward()  # a real step, so merged != base weights
    optimizer.step()
    checkpoint.save_actor(actor_dir, model, optimizer, scheduler, rank)
    full = {name: t.detach().clone() for name, t in fsdp.iter_full_state_dict(model)}  # collective
    if rank == 0:
        processor = AutoProcessor.from_pretrained(model_path)
        checkpoint.save_hf_metadata(actor_dir / "huggingface", model.config, model.generation_config, processor)
        torch.save(full, actor_dir.parent / "expected_state_dict.pt")
    dist.barrier()
    dist.destroy_process_group()


def _rank_main(rank: int, root: str, model_path: str, ports: tuple[int, int]) -> None:
    """Write the 2-rank checkpoint, then (rank 0 alone, fresh group) the 1-rank one: one spawn for both."""
    _train_and_save(rank, 2, ports[0], model_path, Path(root) / "world2" / "actor", seed=2)
    if rank == 0:
        _train_and_save(0, 1, ports[1], model_path, Path(root) / "world1" / "actor", seed=1)


@pytest.fixture(scope="module")
def checkpoints(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``root/world{1,2}/actor`` (engine checkpoints) and ``root/world{1,2}/expected_state_dict.pt``."""
    root = tmp_path_factory.mktemp("grpo_ckpts")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    subprocess.run([sys.executable, __file__, str(root), str(tiny_model)], check=True, env=env, timeout=240)
    return root


def _actor_copy(checkpoints: Path, world: int, tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """A private copy of one checkpoint (merging writes into it) and the actor's gathered weights."""
    shutil.copytree(checkpoints / f"world{world}", tmp_path / f"world{world}")
    expected = torch.load(tmp_path / f"world{world}" / "expected_state_dict.pt", weights_only=True)
    return tmp_path / f"world{world}" / "actor", expected


# ------------------------------------------------------------------------------------------ tests


def _load(folder: Path) -> torch.nn.Module:
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(folder)


def _safetensors_keys(path: Path) -> set[str]:
    from safetensors import safe_open

    with safe_open(path, "pt") as handle:
        return set(handle.keys())


def _assert_weights_equal(model: torch.nn.Module, expected: dict[str, torch.Tensor], dtype: torch.dtype) -> None:
    state = model.state_dict()
    assert set(state) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(state[name], tensor.to(dtype)), name


@pytest.mark.parametrize("world", WORLD_SIZES)
def test_merge_in_place_matches_actor_and_generates(checkpoints: Path, tiny_model: Path, tmp_path: Path,
                                                    world: int) -> None:
    from transformers import AutoProcessor

    from verl.checkpoint_merge import merge_checkpoint

    actor, expected = _actor_copy(checkpoints, world, tmp_path)
    assert len(list((actor / "dcp").glob("*.distcp"))) == world  # one shard file per writer rank
    base = _load(tiny_model).state_dict()
    assert not torch.equal(base["lm_head.weight"], expected["lm_head.weight"])  # the step moved the weights
    assert not list((actor / "huggingface").glob("*.safetensors"))
    folder = merge_checkpoint(actor)
    assert folder == actor / "huggingface"
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer_config.json",
            "chat_template.jinja"} <= names
    assert not [p for p in actor.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left behind
    # Same on-disk names as a real save_pretrained of this architecture (HF names, tied lm_head dropped).
    assert _safetensors_keys(folder / "model.safetensors") == _safetensors_keys(tiny_model / "model.safetensors")
    model = _load(folder)
    assert model.dtype == torch.float32  # config.json's dtype (the actor trained in fp32)
    assert model.lm_head.weight is model.model.language_model.embed_tokens.weight  # tied, saved once
    _assert_weights_equal(model, expected, torch.float32)

    processor = AutoProcessor.from_pretrained(folder)
    text = processor.apply_chat_template([{"role": "user", "content": "Detect cat."}], add_generation_prompt=True)
    inputs = processor.tokenizer(text, return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3


def test_cli_dtype_shards_and_replaces_stale_weights(checkpoints: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from tools import merge_rl_checkpoints_to_hg_version as cli

    actor, expected = _actor_copy(checkpoints, 2, tmp_path)
    out = tmp_path / "merged"
    assert cli.main(["--local_dir", str(actor), "--output_dir", str(out), "--dtype", "bf16",
                     "--max_shard_size", "100KB"]) == 0
    assert (out / "model.safetensors.index.json").is_file() and len(list(out.glob("model-*.safetensors"))) > 1
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert not list((actor / "huggingface").glob("*.safetensors"))  # source metadata folder untouched
    model = _load(out)
    assert model.dtype == torch.bfloat16
    _assert_weights_equal(model, expected, torch.bfloat16)

    (out / "notes.txt").write_text("kept")
    uploads: list[tuple[Path, str, bool]] = []
    monkeypatch.setattr(cli, "upload_to_hub", lambda folder, repo, private: uploads.append((folder, repo, private)))
    assert cli.main(["--local_dir", str(actor), "--output_dir", str(out), "--dtype", "fp16",
                     "--hf_upload_path", "me/rex"]) == 0
    assert uploads == [(out, "me/rex", False)]
    assert sorted(p.name for p in out.glob("model*")) == ["model.safetensors"]  # old shards + index gone
    assert (out / "notes.txt").read_text() == "kept"
    model = _load(out)
    assert model.dtype == torch.float16
    _assert_weights_equal(model, expected, torch.float16)


def _write_dcp(actor: Path, state: dict[str, torch.Tensor]) -> None:
    import torch.distributed.checkpoint as dcp

    shutil.rmtree(actor / "dcp")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.save({"model": state}, checkpoint_id=str(actor / "dcp"), no_dist=True)


@pytest.mark.parametrize(("edit", "message"), [
    ("drop", "missing tensors: model.language_model.norm.weight"),
    ("extra", "unexpected tensors: model.extra.weight"),
    ("reshape", "shape mismatch: model.language_model.norm.weight: stored [7]"),
])
def test_mismatched_checkpoint_is_named_and_nothing_written(checkpoints: Path, tmp_path: Path, edit: str,
                                                            message: str) -> None:
    from tools import merge_rl_checkpoints_to_hg_version as cli
    from verl.checkpoint_merge import CheckpointMergeError, merge_checkpoint

    actor, expected = _actor_copy(checkpoints, 1, tmp_path)
    state = dict(expected)
    name = "model.language_model.norm.weight"
    if edit == "drop":
        del state[name]
    elif edit == "extra":
        state["model.extra.weight"] = torch.zeros(3)
    else:
        state[name] = torch.zeros(7)
    _write_dcp(actor, state)
    before = sorted(p.name for p in (actor / "huggingface").iterdir())
    with pytest.raises(CheckpointMergeError, match=message.replace("[", r"\[")):
        merge_checkpoint(actor)
    assert cli.main(["--local_dir", str(actor)]) == 1
    assert sorted(p.name for p in (actor / "huggingface").iterdir()) == before


def test_tied_embedding_stored_once_is_shared(checkpoints: Path, tmp_path: Path) -> None:
    from verl.checkpoint_merge import merge_checkpoint

    actor, expected = _actor_copy(checkpoints, 1, tmp_path)
    _write_dcp(actor, {k: v for k, v in expected.items() if k != "model.language_model.embed_tokens.weight"})
    model = _load(merge_checkpoint(actor))
    assert torch.equal(model.model.language_model.embed_tokens.weight, expected["lm_head.weight"])


def test_check_tensor_specs_reports_every_problem() -> None:
    from verl.checkpoint_merge import CheckpointMergeError, TensorSpec, check_tensor_specs

    f32 = torch.float32
    stored = {"emb": TensorSpec((4, 2), f32), "b": TensorSpec((3,), f32), "junk": TensorSpec((1,), f32)}
    expected = {"emb": (4, 2), "head": (4, 2), "a": (2,), "b": (2,)}
    with pytest.raises(CheckpointMergeError) as err:
        check_tensor_specs(stored, expected, [["emb", "head"], ["a"], ["b"]])
    assert "missing tensors: a" in str(err.value) and "unexpected tensors: junk" in str(err.value)
    assert "b: stored [3], model [2]" in str(err.value)
    fill = check_tensor_specs({"emb": stored["emb"]}, {"emb": (4, 2), "head": (4, 2)}, [["emb", "head"]])
    assert fill == {"head": "emb"}


def test_layout_errors_name_the_folder(tmp_path: Path) -> None:
    from verl.checkpoint_merge import CheckpointMergeError, merge_checkpoint

    with pytest.raises(CheckpointMergeError, match="not its huggingface/"):
        merge_checkpoint(tmp_path / "actor" / "huggingface")
    (tmp_path / "global_step_3" / "actor" / "dcp").mkdir(parents=True)
    with pytest.raises(CheckpointMergeError, match="did you mean .*global_step_3/actor"):
        merge_checkpoint(tmp_path / "global_step_3")


def test_help_and_upload(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import huggingface_hub

    from tools import merge_rl_checkpoints_to_hg_version as cli
    from verl.checkpoint_merge import upload_to_hub

    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    help_text = capsys.readouterr().out
    for flag in ("--local_dir", "--output_dir", "--dtype", "--max_shard_size", "--hf_upload_path", "--private"):
        assert flag in help_text

    calls: list[tuple[str, dict]] = []

    class FakeApi:
        def create_repo(self, repo_id: str, **kwargs: object) -> None:
            calls.append((repo_id, kwargs))

        def upload_folder(self, **kwargs: object) -> str:
            calls.append(("upload", kwargs))
            return "https://hub/commit/1"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert upload_to_hub(tmp_path, "me/rex", private=True) == "https://hub/commit/1"
    assert calls == [("me/rex", {"private": True, "exist_ok": True}),
                     ("upload", {"folder_path": str(tmp_path), "repo_id": "me/rex", "repo_type": "model"})]


if __name__ == "__main__":
    import torch.multiprocessing as mp
    import transformers  # noqa: F401  (imported once here; the forked ranks inherit it)

    import verl.workers.checkpoint  # noqa: F401
    import verl.workers.fsdp  # noqa: F401

    # fork: this fresh interpreter has run no torch ops yet, and the ranks skip re-importing transformers.
    mp.start_processes(_rank_main, args=(sys.argv[1], sys.argv[2], tuple(_free_ports(2))), nprocs=2,
                       start_method="fork")
