"""scripts/task_demo.sh: the commands it starts, with ``python`` replaced by a recorder (tests/test_scripts.py)."""

from __future__ import annotations

from pathlib import Path

from tests.test_scripts import flags, launch, stubs  # noqa: F401  (stubs is a fixture)

TASKS = {"visual_prompt": "visual_prompt", "keypoint": "keypoint", "ocr_box": "ocr_box",
         "ocr_polygon": "ocr_polygon", "gui_grounding": "gui", "gui_pointing": "gui"}


def test_task_demo_evaluates_every_task_before_and_after_sft_on_the_mixed_config(stubs: Path,  # noqa: F811
                                                                                 tmp_path: Path) -> None:
    work = tmp_path / "work"
    calls = launch("task_demo.sh", stubs, tmp_path, WORK_DIRS=str(work), TASK_DEMO_DIR=str(tmp_path / "demo"))
    toy = work / "toy_data"
    for task, stem in TASKS.items():
        for model, stage in ((work / "models" / "rex-omni-demo", "untrained"), (tmp_path / "demo" / "sft", "trained")):
            args = flags(calls, "python", "tools/evaluate.py", "--model", str(model), "--split",
                         f"{toy}/toy_{stem}_val", "--task", task)
            assert args["--config"] == "configs/sft_tasks.py" and args["--max_samples"] == "64"
            assert args["--output_dir"] == f"{tmp_path}/demo/eval/{stage}/{task}"
        blind = flags(calls, "python", "-m", "demo.task_blind_guess", "--task", task)
        assert blind["--train"] == f"{toy}/toy_{stem}_train" and blind["--split"] == f"{toy}/toy_{stem}_val"
        assert blind["--output_dir"] == f"{tmp_path}/demo/eval/blind/{task}"
    # the starting model: the grounding quickstart's SFT of the demo model, with the CPU demo's recipe
    base = flags(calls, "python", "-m", "finetuning.train", "--config", "configs/sft.py")
    assert base["--output_dir"] == f"{tmp_path}/demo/base" and base["--max_steps"] == "600"
    assert base["--model_name_or_path"] == str(work / "models" / "rex-omni-demo")
    assert base["--learning_rate"] == "1e-3" and base["--use_soft_ce_for_coords"] == "True"
    # then the mixed config from it, with the same recipe spelled out
    train = flags(calls, "python", "-m", "finetuning.train", "--config", "configs/sft_tasks.py")
    assert train["--output_dir"] == f"{tmp_path}/demo/sft" and train["--model_name_or_path"] == f"{tmp_path}/demo/base"
    assert train["--max_steps"] == "1500" and train["--data_flatten"] == "True"
    assert train["--learning_rate"] == "1e-3" and train["--use_soft_ce_for_coords"] == "True"
    assert train["--coord_sigma"] == "3" and train["--per_device_train_batch_size"] == "8"
    # the recipe comes from demo/sft_demo_recipe.sh under DEMO_RECIPE=1: the same values as for the demo model
    assert train["--mm_projector_lr"] == train["--vision_tower_lr"] == "1e-3" and train["--warmup_ratio"] == "0.05"
    order = [call[4] for call in calls if call[:3] == ["python", "-m", "finetuning.train"]]
    assert order == ["configs/sft.py", "configs/sft_tasks.py"]
    assert ["python", "-m", "demo.task_demo_report", "--eval_root", f"{tmp_path}/demo/eval",
            "--output", f"{tmp_path}/demo/report.md"] in calls
    assert ["python", "-m", "demo.task_demo_diagnosis", "--eval_root", f"{tmp_path}/demo/eval", "--toy_dir", str(toy),
            "--output", f"{tmp_path}/demo/diagnosis.md"] in calls


def test_task_demo_steps_and_stages_are_set_from_the_environment(stubs: Path, tmp_path: Path) -> None:  # noqa: F811
    calls = launch("task_demo.sh", stubs, tmp_path, WORK_DIRS=str(tmp_path / "work"),
                   TASK_DEMO_DIR=str(tmp_path / "demo"), TASK_DEMO_STAGES="sft", TASK_DEMO_STEPS="7")
    assert flags(calls, "python", "-m", "finetuning.train")["--max_steps"] == "7"
    assert not any("tools/evaluate.py" in call for call in calls)


def test_task_demo_without_base_steps_trains_the_mixed_config_from_the_untrained_demo_model(
        stubs: Path, tmp_path: Path) -> None:  # noqa: F811
    work = tmp_path / "work"
    calls = launch("task_demo.sh", stubs, tmp_path, WORK_DIRS=str(work), TASK_DEMO_DIR=str(tmp_path / "demo"),
                   TASK_DEMO_STAGES="base,sft", TASK_DEMO_BASE_STEPS="0")
    train = flags(calls, "python", "-m", "finetuning.train")  # the one training: no grounding SFT first
    assert train["--config"] == "configs/sft_tasks.py"
    assert train["--model_name_or_path"] == str(work / "models" / "rex-omni-demo")


def test_task_demo_tasks_picks_the_evaluated_tasks(stubs: Path, tmp_path: Path) -> None:  # noqa: F811
    calls = launch("task_demo.sh", stubs, tmp_path, WORK_DIRS=str(tmp_path / "work"),
                   TASK_DEMO_DIR=str(tmp_path / "demo"), TASK_DEMO_STAGES="eval_before,blind",
                   TASK_DEMO_TASKS="gui_pointing ocr_box")
    evaluated = [call[call.index("--task") + 1] for call in calls if "tools/evaluate.py" in call]
    blind = [call[call.index("--task") + 1] for call in calls if "demo.task_blind_guess" in call]
    assert evaluated == blind == ["ocr_box", "gui_pointing"]  # in the script's order
