"""scripts/sft.sh and scripts/grpo.sh: the defaults they pass (their own, and the CPU demo's from
demo/sft_cpu_defaults.sh and demo/grpo_cpu_defaults.sh) and their one pre-flight process.

The launchers run with ``python``, ``python3``, ``torchrun`` and ``nvidia-smi`` replaced by stubs that
record their arguments (the one question the CPU launcher asks a config, ``python -m dataset.config_checks``,
goes on to the real Python), so each test sees the exact command lines a launcher would start (nothing is
checked or trained): the CPU demo's values without a GPU, the production values with one, and an
environment variable winning over both.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

RECORDER = """#!/usr/bin/env bash
{ printf '%s' "$(basename "$0")"; printf '\\t%s' "$@"; printf '\\n'; } >> "$STUB_LOG"
# The launcher's question to the config (does it set val_dataset?) gets the real answer.
if [[ "${1:-} ${2:-}" == "-m dataset.config_checks" ]]; then exec "$REAL_PYTHON" "$@"; fi
"""
FAKE_NVIDIA_SMI = """#!/usr/bin/env bash
for ((i = 0; i < ${FAKE_GPUS:-0}; i++)); do echo "GPU $i: stub"; done
"""


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    """A folder of stub commands; put it first on PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("python", "python3", "torchrun"):
        (folder / name).write_text(RECORDER)
    (folder / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
    for path in folder.iterdir():
        path.chmod(0o755)
    return folder


def launch(script: str, stubs: Path, tmp_path: Path, *args: str, **env: str) -> list[list[str]]:
    """Run ``scripts/<script>`` with the stubs; returns each stubbed command as [name, arg, ...]."""
    return launch_with_output(script, stubs, tmp_path, *args, **env)[0]


def launch_with_output(script: str, stubs: Path, tmp_path: Path, *args: str,
                       **env: str) -> tuple[list[list[str]], str]:
    """:func:`launch`, also returning what the launcher printed (stdout and stderr)."""
    result, calls = run_launcher(script, stubs, tmp_path, *args, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return calls, result.stdout + result.stderr


def run_launcher(script: str, stubs: Path, tmp_path: Path, *args: str,
                 **env: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run ``scripts/<script>`` with the stubs, whatever its exit status; returns the process and the calls."""
    log = tmp_path / "calls.tsv"
    log.write_text("")
    keep = {key: os.environ[key] for key in ("HOME", "LANG") if key in os.environ}
    full_env = {**keep, "PATH": f"{stubs}:/usr/bin:/bin", "REX_SKIP_INSTALL": "1", "STUB_LOG": str(log),
                "OUTPUT_PATH": str(tmp_path / "out"), "REAL_PYTHON": sys.executable, **env}
    result = subprocess.run(["bash", f"scripts/{script}", *args], cwd=REPO, env=full_env, capture_output=True,
                            text=True, timeout=120)
    return result, [line.split("\t") for line in log.read_text().splitlines()]


def flags(calls: list[list[str]], *prefix: str) -> dict[str, str]:
    """``--flag value`` pairs of the one call that starts with ``prefix``."""
    matching = [call for call in calls if call[: len(prefix)] == list(prefix)]
    assert len(matching) == 1, calls
    args = matching[0][len(prefix):]
    return {args[i]: args[i + 1] for i in range(0, len(args) - 1) if args[i].startswith("--")}


def overrides(calls: list[list[str]]) -> dict[str, str]:
    """``key=value`` overrides of the GRPO training call (not the ``--check`` one), those passed as
    ``--from_env NAME:key=value`` included."""
    matching = [call for call in calls if call[1:3] == ["-m", "verl.trainer.main"] and "--check" not in call]
    assert len(matching) == 1, calls
    args = matching[0][3:]
    from_env = [args[i + 1].split(":", 1)[1] for i, arg in enumerate(args) if arg == "--from_env"]
    plain = [arg for i, arg in enumerate(args) if "=" in arg and (i == 0 or args[i - 1] != "--from_env")]
    return dict(arg.split("=", 1) for arg in from_env + plain)


def hf_folder(tmp_path: Path) -> str:
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    return str(folder)


def test_sft_sh_without_gpu_trains_with_the_demo_defaults(stubs: Path, tmp_path: Path) -> None:
    calls, out = launch_with_output("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", OUTPUT_DIR=str(tmp_path / "sft"))
    assert ["python", "tools/make_toy_data.py"] in calls  # configs/sft.py reads the toy data
    assert ["python", "tools/make_tiny_model.py", "--size", "demo"] in calls  # and names the demo model
    assert ("with the demo model work_dirs/models/rex-omni-demo; trains on the train_dataset of configs/sft.py"
            " (toy data in work_dirs/toy_data)") in out
    train = flags(calls, "python", "-m", "finetuning.train")
    assert train["--learning_rate"] == "1e-3" and train["--per_device_train_batch_size"] == "8"
    assert train["--max_steps"] == "600" and train["--bf16"] == "False" and train["--coord_sigma"] == "3"
    assert "--deepspeed" not in train
    evaluate = flags(calls, "python", "tools/evaluate.py")
    # configs/sft.py has a val_dataset (the toy split): evaluate.py reads it from --config.
    assert evaluate["--model"] == str(tmp_path / "sft") and evaluate["--config"] == "configs/sft.py"
    assert "--split" not in evaluate


def test_sft_sh_with_gpus_trains_with_the_production_defaults(stubs: Path, tmp_path: Path) -> None:
    calls = launch("sft.sh", stubs, tmp_path, GPUS_PER_NODE="2", MODEL_PATH=hf_folder(tmp_path))
    train = flags(calls, "torchrun", "--nnodes=1", "--node_rank=0", "--nproc_per_node=2",
                  "--master_addr=localhost", "--master_port=29500", "finetuning/train.py")
    assert train["--learning_rate"] == "2e-5" and train["--per_device_train_batch_size"] == "4"
    assert train["--deepspeed"] == "scripts/zero2.json" and train["--bf16"] == "True"
    assert "--coord_sigma" not in train and ["python", "tools/make_toy_data.py"] not in calls
    assert "--memory_plan" not in train  # opt-in until a GPU has measured it
    planned = launch("sft.sh", stubs, tmp_path, GPUS_PER_NODE="1", MODEL_PATH=hf_folder(tmp_path), MEMORY_PLAN="auto")
    assert flags(planned, "torchrun", "--nnodes=1", "--node_rank=0", "--nproc_per_node=1", "--master_addr=localhost",
                 "--master_port=29500", "finetuning/train.py")["--memory_plan"] == "auto"


def test_sft_sh_with_a_gpu_trains_the_demo_model_with_the_demo_recipe(stubs: Path, tmp_path: Path) -> None:
    """The embedded default on a GPU machine: the demo model and the toy data are built and the demo model trains
    with the recipe it was chosen with (fp32, batch 8, lr 1e-3, soft-CE, no DeepSpeed), not the production values."""
    calls, out = launch_with_output("sft.sh", stubs, tmp_path, GPUS_PER_NODE="1")
    assert ["python", "tools/make_toy_data.py"] in calls and ["python", "tools/make_tiny_model.py", "--size", "demo"] in calls
    train = flags(calls, "torchrun", "--nnodes=1", "--node_rank=0", "--nproc_per_node=1",
                  "--master_addr=localhost", "--master_port=29500", "finetuning/train.py")
    assert "--model_name_or_path" not in train  # configs/sft.py's model_name_or_path: the demo model
    assert train["--learning_rate"] == train["--mm_projector_lr"] == train["--vision_tower_lr"] == "1e-3"
    assert train["--per_device_train_batch_size"] == "8" and train["--gradient_accumulation_steps"] == "1"
    assert train["--bf16"] == "False" and "--deepspeed" not in train and train["--activation_checkpointing"] == "False"
    assert train["--coord_sigma"] == "3" and train["--max_steps"] == "600" and train["--output_dir"] == "work_dirs/sft_demo"
    assert "[sft] demo recipe (lr 1e-3, soft-CE) with the demo model work_dirs/models/rex-omni-demo (fp32, no DeepSpeed)" in out
    assert not [call for call in calls if "tools/evaluate.py" in call]  # the evaluation after training is the CPU run's
    # DEMO_RECIPE=1 gives another model the recipe on a GPU too (scripts/task_demo.sh); a user's value still wins
    other = launch("sft.sh", stubs, tmp_path, GPUS_PER_NODE="1", MODEL_PATH=hf_folder(tmp_path), DEMO_RECIPE="1",
                   BF16="True")
    train = flags(other, "torchrun", "--nnodes=1", "--node_rank=0", "--nproc_per_node=1",
                  "--master_addr=localhost", "--master_port=29500", "finetuning/train.py")
    assert train["--learning_rate"] == "1e-3" and train["--use_soft_ce_for_coords"] == "True" and train["--bf16"] == "True"


def test_sft_sh_user_values_win_over_the_demo_defaults(stubs: Path, tmp_path: Path) -> None:
    calls = launch("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", LORA="1", BATCH_SIZE="2", EVAL="0",
                   DEEPSPEED="scripts/zero2.json", OUTPUT_DIR=str(tmp_path / "sft"))
    train = flags(calls, "python", "-m", "finetuning.train")
    assert train["--per_device_train_batch_size"] == "2" and train["--deepspeed"] == "scripts/zero2.json"
    assert train["--learning_rate"] == "2e-3" and train["--lora_coord_tokens"] == "True"  # the demo's LoRA lr
    assert not [call for call in calls if "tools/evaluate.py" in call]


def test_grpo_sh_without_gpu_runs_with_the_cpu_defaults(stubs: Path, tmp_path: Path) -> None:
    from tests.demo.test_demo_recipe import script_default

    run = overrides(launch("grpo.sh", stubs, tmp_path, MODEL_PATH=hf_folder(tmp_path), TEMPERATURE="0.9"))
    assert run["trainer.device"] == "cpu" and run["trainer.n_gpus_per_node"] == "2"
    assert run["worker.rollout.name"] == "hf" and run["worker.rollout.temperature"] == "0.9"
    assert run["worker.actor.optim.lr"] == script_default("grpo.sh", "LR")
    assert run["data.rollout_batch_size"] == script_default("grpo.sh", "ROLLOUT_BATCH_SIZE")
    assert run["worker.actor.model.freeze_vision_tower"] == script_default("grpo.sh", "FREEZE_VISION_TOWER") == "true"


def test_grpo_sh_with_gpus_passes_only_paths_and_gpu_counts(stubs: Path, tmp_path: Path) -> None:
    """With GPUs and no variables set, the run's values are the dataclass defaults: the launcher passes the
    paths and the GPU counts only."""
    model = hf_folder(tmp_path)
    run = overrides(launch("grpo.sh", stubs, tmp_path, FAKE_GPUS="4", MODEL_PATH=model))
    assert run == {"config": "verl/configs/config.yaml", "data.config_path": "configs/grpo.py",
                   "worker.actor.model.model_path": model, "trainer.nnodes": "1", "trainer.n_gpus_per_node": "4",
                   "trainer.experiment_name": "grpo", "trainer.save_checkpoint_path": str(tmp_path / "out")}


def test_grpo_sh_with_gpus_and_demo_recipe_runs_the_demo_recipe_on_the_gpus(stubs: Path, tmp_path: Path) -> None:
    """scripts/quickstart.sh on a GPU machine: DEMO_RECIPE=1 gives the demo's SFT model the GRPO demo recipe
    (demo/grpo_demo_recipe.sh) while the GPU counts and the rollout engine stay the GPU run's."""
    from tests.demo.test_demo_recipe import script_default

    run = overrides(launch("grpo.sh", stubs, tmp_path, FAKE_GPUS="4", MODEL_PATH=hf_folder(tmp_path), DEMO_RECIPE="1",
                           MAX_STEPS="5"))
    assert run["trainer.n_gpus_per_node"] == "4" and "trainer.device" not in run and "worker.rollout.name" not in run
    assert run["worker.actor.optim.lr"] == script_default("grpo.sh", "LR") == "5e-5"
    assert run["worker.rollout.temperature"] == "0.3" and run["data.rollout_batch_size"] == "32"
    assert run["worker.actor.model.freeze_vision_tower"] == "true" and run["trainer.max_steps"] == "5"


def test_quickstart_gives_grpo_the_demo_recipe_on_gpus(stubs: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    sft = work / "sft_demo"
    sft.mkdir(parents=True)
    (sft / "config.json").write_text("{}")
    (sft / "model.safetensors").write_bytes(b"")
    run = overrides(launch("quickstart.sh", stubs, tmp_path, FAKE_GPUS="1", WORK_DIRS=str(work),
                           QUICKSTART_STAGES="grpo"))
    assert run["worker.actor.model.model_path"] == str(sft) and run["worker.actor.optim.lr"] == "5e-5"
    assert run["trainer.n_gpus_per_node"] == "1" and run["trainer.max_steps"] == "24"


def test_grpo_sh_passes_a_set_variable_as_from_env(stubs: Path, tmp_path: Path) -> None:
    calls = launch("grpo.sh", stubs, tmp_path, FAKE_GPUS="4", MODEL_PATH=hf_folder(tmp_path), LR="2e-6", LORA="1")
    train = next(call for call in calls if call[1:3] == ["-m", "verl.trainer.main"] and "--check" not in call)
    assert "LR:worker.actor.optim.lr=2e-6" in train and "LORA_ENABLE:worker.actor.lora.enable=true" in train
    assert train[train.index("LR:worker.actor.optim.lr=2e-6") - 1] == "--from_env"


def test_sft_sh_runs_one_python_process_before_training(stubs: Path, tmp_path: Path) -> None:
    for check_model, first in (("1", "--config"), ("0", "--skip_model_check")):
        calls = launch("sft.sh", stubs, tmp_path, GPUS_PER_NODE="2", MODEL_PATH=hf_folder(tmp_path),
                       CHECK_MODEL=check_model)
        assert len(calls) == 2 and calls[0][:4] == ["python", "-m", "finetuning.check_args", first], calls
        assert calls[1][0] == "torchrun", calls


def test_grpo_sh_runs_one_python_process_before_training(stubs: Path, tmp_path: Path) -> None:
    for check_model, first in (("1", "config=verl/configs/config.yaml"), ("0", "--skip_model_check")):
        # A hub id is left to the pre-flight check (the local cache), not looked up by a Python of its own.
        calls = launch("grpo.sh", stubs, tmp_path, FAKE_GPUS="1", MODEL_PATH="IDEA-Research/Rex-Omni",
                       CHECK_MODEL=check_model)
        assert len(calls) == 2 and calls[0][:5] == ["python3", "-m", "verl.trainer.main", "--check", first], calls
        assert calls[1][:4] == ["python3", "-m", "verl.trainer.main", "config=verl/configs/config.yaml"], calls


def test_sft_sh_eval_steps_turns_on_the_in_training_evaluation(stubs: Path, tmp_path: Path) -> None:
    default = flags(launch("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", OUTPUT_DIR=str(tmp_path / "sft")),
                    "python", "-m", "finetuning.train")
    assert default["--eval_strategy"] == "no" and "--eval_steps" not in default  # off by default
    calls = launch("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", OUTPUT_DIR=str(tmp_path / "sft"), EVAL_STEPS="200",
                   EVAL_MAX_SAMPLES="32")
    train = flags(calls, "python", "-m", "finetuning.train")
    assert train["--eval_strategy"] == "steps" and train["--eval_steps"] == "200"
    assert train["--eval_max_samples"] == "32" and train["--load_best_model_at_end"] == "True"
    assert train["--metric_for_best_model"] == "eval/protocol_box_mean_f1" and train["--save_steps"] == "200"
    pointing = flags(launch("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", OUTPUT_DIR=str(tmp_path / "p"),
                            CONFIG="configs/sft_pointing.py", EVAL_STEPS="200"), "python", "-m", "finetuning.train")
    assert pointing["--metric_for_best_model"] == "eval/protocol_point_in_box_f1"
    assert "--eval_max_samples" not in pointing


def write_config(tmp_path: Path, name: str, with_val: bool, extra: str = "") -> str:
    """A user's SFT config file (only its text matters to the launcher), ``extra`` lines appended."""
    path = tmp_path / name
    text = 'train_dataset = dict(type="X")\n' + ('val_dataset = dict(type="X")\n' if with_val else "")
    path.write_text(text + extra)
    return str(path)


def test_sft_sh_cpu_evaluates_a_custom_config_on_its_own_data_not_the_toy_split(stubs: Path, tmp_path: Path) -> None:
    own = write_config(tmp_path, "my_shapes.py", with_val=True)
    calls, out = launch_with_output("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", CONFIG=own,
                                    OUTPUT_DIR=str(tmp_path / "sft"))
    evaluate = flags(calls, "python", "tools/evaluate.py")
    assert evaluate["--config"] == own and "--split" not in evaluate  # the config's val_dataset
    assert f"trains on the train_dataset of {own}; evaluates on the val_dataset of {own}" in out
    assert "toy grounding data" not in out
    # EVAL_SPLIT wins, with its image folder for a COCO JSON.
    calls = launch("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", CONFIG=own, OUTPUT_DIR=str(tmp_path / "sft"),
                   EVAL_SPLIT="data/val.json", EVAL_IMAGE_ROOT="data/images")
    evaluate = flags(calls, "python", "tools/evaluate.py")
    assert evaluate["--split"] == "data/val.json" and evaluate["--image_root"] == "data/images"


def test_sft_sh_cpu_evaluates_a_val_dataset_inherited_through_base(stubs: Path, tmp_path: Path) -> None:
    base = write_config(tmp_path, "my_base.py", with_val=True)
    child = tmp_path / "my_child.py"
    child.write_text(f'_base_ = ["./{Path(base).name}"]\ntrain_dataset = dict(type="Y")\n')
    calls, out = launch_with_output("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", CONFIG=str(child),
                                    OUTPUT_DIR=str(tmp_path / "sft"))
    evaluate = flags(calls, "python", "tools/evaluate.py")
    assert evaluate["--config"] == str(child) and "--split" not in evaluate
    assert f"evaluates on the val_dataset of {child}" in out and "evaluation is skipped" not in out


def test_sft_sh_cpu_config_that_cannot_be_read_stops_in_one_line(stubs: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text('_base_ = ["./no_such_base.py"]\n')
    result, calls = run_launcher("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", CONFIG=str(broken),
                                 OUTPUT_DIR=str(tmp_path / "sft"))
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(errors) == 1 and str(broken) in errors[0], result.stderr
    assert not [call for call in calls if "finetuning.train" in call or "tools/evaluate.py" in call]


def test_sft_sh_cpu_custom_config_without_val_data_skips_evaluation_with_a_note(stubs: Path, tmp_path: Path) -> None:
    own = write_config(tmp_path, "my_shapes.py", with_val=False)
    calls, out = launch_with_output("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", CONFIG=own,
                                    OUTPUT_DIR=str(tmp_path / "sft"))
    assert not [call for call in calls if "tools/evaluate.py" in call]
    note = [line for line in out.splitlines() if "evaluation is skipped" in line]
    assert len(note) == 1 and "EVAL_SPLIT" in note[0] and "val_dataset" in note[0]
    assert "evaluates on nothing" in out


def test_sft_sh_model_path_without_gpu_keeps_cpu_defaults(stubs: Path, tmp_path: Path) -> None:
    model = hf_folder(tmp_path)
    calls, out = launch_with_output("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", MODEL_PATH=model,
                                    OUTPUT_DIR=str(tmp_path / "sft"))
    train = flags(calls, "python", "-m", "finetuning.train")
    assert "--deepspeed" not in train and train["--bf16"] == "False"
    assert train["--per_device_train_batch_size"] == "1" and train["--gradient_accumulation_steps"] == "1"
    assert train["--learning_rate"] == "2e-5" and train["--model_name_or_path"] == model  # the real model's lr
    assert "--coord_sigma" not in train and ["python", "tools/make_tiny_model.py", "--size", "demo"] not in calls
    assert not [call for call in calls if call[:1] == ["torchrun"]]
    assert f"CPU run of {model}" in out
    # grpo.sh follows the same rule: no GPU, a MODEL_PATH, still the CPU run.
    run = overrides(launch("grpo.sh", stubs, tmp_path, MODEL_PATH=model))
    assert run["trainer.device"] == "cpu" and run["worker.rollout.name"] == "hf"


def test_setup_env_first_install_shows_pip_progress(tmp_path: Path) -> None:
    # A copy of the repository's set-up script beside a pyproject.toml and a stub .venv whose python
    # records its arguments and prints what pip prints (stdout) and this machine's find-links noise (stderr).
    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "setup_env.sh").write_text((repo / "scripts" / "setup_env.sh").read_text())
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "activate").write_text("")
    python = venv_bin / "python"
    python.write_text('#!/bin/bash\necho "$*" >> "$STUB_ARGS"\necho "Collecting demo-package"\n'
                      "echo \"WARNING: Location '/missing/wheels' is ignored: it is not a URL\" >&2\n")
    python.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "STUB_ARGS": str(tmp_path / "args.txt")}
    done = subprocess.run(["bash", "-c", f"source {tmp_path}/scripts/setup_env.sh"], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    pip_args = (tmp_path / "args.txt").read_text().split()
    assert pip_args[:3] == ["-m", "pip", "install"]
    assert "-q" not in pip_args and "--quiet" not in pip_args  # minutes of silence on a first set-up
    assert pip_args[pip_args.index("--progress-bar") + 1] == "on"
    assert "Collecting demo-package" in done.stdout  # pip's progress reaches the terminal
    assert "is ignored" not in done.stdout + done.stderr  # the find-links noise does not
    assert "[setup] installed" in done.stdout


def test_setup_env_makes_python_scripts_import_this_checkout(tmp_path: Path) -> None:
    """`python tools/x.py` puts tools/ first on sys.path, so a package comes from wherever the environment
    finds it: another checkout's editable install (here: an earlier PYTHONPATH entry) would win over this one's."""
    repo = Path(__file__).resolve().parents[1]
    other = tmp_path / "other_checkout" / "rewards"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("")
    script = tmp_path / "where.py"
    script.write_text("import rewards, os\nprint(os.path.dirname(os.path.abspath(rewards.__file__)))\n")
    env = {**os.environ, "REX_SKIP_INSTALL": "1", "PYTHONPATH": str(tmp_path / "other_checkout")}
    done = subprocess.run(["bash", "-c", f"source {repo}/scripts/setup_env.sh && python {script}"], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == str(repo / "rewards")


def test_sft_sh_cpu_over_two_nodes_runs_one_torchrun_rank_per_node_with_cpu_defaults(stubs: Path,
                                                                                      tmp_path: Path) -> None:
    """Without a GPU, NNODES=2 starts one CPU rank per node (NPROC_PER_NODE more), keeps the CPU defaults,
    and only node 0 evaluates the final model (tests/finetuning/test_multinode_sft.py trains this for real)."""
    own = write_config(tmp_path, "my_shapes.py", with_val=True)
    common = dict(GPUS_PER_NODE="0", MODEL_PATH=hf_folder(tmp_path), CONFIG=own, OUTPUT_DIR=str(tmp_path / "sft"),
                  NNODES="2", MASTER_ADDR="10.0.0.1", MASTER_PORT="29601")
    for node_rank, nproc, evaluates in (("0", None, True), ("1", "2", False)):
        extra = {"NPROC_PER_NODE": nproc} if nproc else {}
        calls = launch("sft.sh", stubs, tmp_path, NODE_RANK=node_rank, **common, **extra)
        train = flags(calls, "torchrun", "--nnodes=2", f"--node_rank={node_rank}", f"--nproc_per_node={nproc or 1}",
                      "--master_addr=10.0.0.1", "--master_port=29601", "finetuning/train.py")
        assert "--deepspeed" not in train and train["--bf16"] == "False"
        assert bool([call for call in calls if "tools/evaluate.py" in call]) is evaluates
    # One node, NPROC_PER_NODE=2 CPU ranks: torchrun too.
    calls = launch("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", MODEL_PATH=hf_folder(tmp_path), NPROC_PER_NODE="2",
                   OUTPUT_DIR=str(tmp_path / "sft"), DEEPSPEED="scripts/zero2.json")
    train = flags(calls, "torchrun", "--nnodes=1", "--node_rank=0", "--nproc_per_node=2", "--master_addr=localhost",
                  "--master_port=29500", "finetuning/train.py")
    assert train["--deepspeed"] == "scripts/zero2.json"


OWN_DATA = 'train_dataset = dict(type="X", img_tsv_file="data/my_train.images.tsv")\n'


def test_sft_sh_cpu_custom_config_with_its_own_model_gets_cpu_defaults_not_the_demo_recipe(stubs: Path,
                                                                                         tmp_path: Path) -> None:
    # The config names a real model (a cached HF folder) and its own data; no MODEL_PATH.
    model = hf_folder(tmp_path)
    own = write_config(tmp_path, "my_data.py", with_val=True, extra=OWN_DATA + f'model_name_or_path = "{model}"\n')
    calls, out = launch_with_output("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", CONFIG=own,
                                    OUTPUT_DIR=str(tmp_path / "sft"))
    assert not [call for call in calls if "tools/make_toy_data.py" in call or "tools/make_tiny_model.py" in call]
    train = flags(calls, "python", "-m", "finetuning.train")
    assert "--deepspeed" not in train and train["--bf16"] == "False" and train["--per_device_train_batch_size"] == "1"
    assert train["--learning_rate"] == "2e-5" and train["--vision_tower_lr"] == "2e-6"  # not the demo's 1e-3
    assert "--coord_sigma" not in train and "--model_name_or_path" not in train  # the config's model trains
    banner = [line for line in out.splitlines() if line.startswith("[sft] no GPU:")]
    assert len(banner) == 1 and f"CPU run of {model}" in banner[0] and "demo" not in banner[0]
    assert f"trains on the train_dataset of {own}; evaluates on the val_dataset of {own}" in banner[0]


def test_sft_sh_cpu_demo_model_on_own_data_does_not_build_the_toy_data(stubs: Path, tmp_path: Path) -> None:
    # Like docs/sft.md's configs/my_data.py: the demo model named on purpose, the user's own data.
    named = write_config(tmp_path, "my_data.py", with_val=True,
                         extra=OWN_DATA + 'model_name_or_path = "./work_dirs/models/rex-omni-demo"\n')
    # No model named at all: the demo model too, passed to train.py.
    unnamed = write_config(tmp_path, "my_other.py", with_val=True, extra=OWN_DATA)
    for config, passed in ((named, None), (unnamed, "work_dirs/models/rex-omni-demo")):
        calls, out = launch_with_output("sft.sh", stubs, tmp_path, GPUS_PER_NODE="0", CONFIG=config,
                                        OUTPUT_DIR=str(tmp_path / "sft"))
        assert ["python", "tools/make_tiny_model.py", "--size", "demo"] in calls
        assert not [call for call in calls if "tools/make_toy_data.py" in call]  # the config does not read it
        train = flags(calls, "python", "-m", "finetuning.train")
        assert train["--learning_rate"] == "1e-3" and train["--coord_sigma"] == "3"  # the demo recipe
        assert train.get("--model_name_or_path") == passed
        banner = [line for line in out.splitlines() if line.startswith("[sft] no GPU:")]
        assert len(banner) == 1 and "demo model work_dirs/models/rex-omni-demo" in banner[0]
        assert f"trains on the train_dataset of {config}; evaluates on the val_dataset of {config}" in banner[0]
        assert "toy" not in banner[0]
