"""GRPO on the mixed-task config (configs/grpo_tasks.py): every dataset is scored by the reward it names.

Two CPU steps in one process (LocalWorkerGroup, hf rollout, the test-size model) over one toy image per
dataset, with the real reward entry point (verl/configs/reward_func.py). The reward lookup is spied on, so
the test sees which registered function scored each sample's dataset; the spy also gives every reward a
score of its own, so the logged reward/by_dataset and reward/by_reward means tell which reward each
dataset's samples went through. A dataset naming an
unregistered reward fails when the datasets are built, in one line naming it, and so does the launcher's
up-front check (`--check`), before Ray starts.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.test_task_configs import EXPECTED
from tests.verl.conftest import fit_in_process
from verl.trainer.main import build_trainer

REPO = Path(__file__).resolve().parents[2]
GRPO_TASKS = REPO / "configs" / "grpo_tasks.py"
NUM_DATASETS = len(EXPECTED)


@pytest.fixture(scope="module")
def launch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """work_dirs/toy_data with one training and one validation image per toy set, as the config expects."""
    from demo.task_toy_data import TASK_SCENES, make_task_toy_dataset
    from demo.toy_data import make_toy_datasets

    root = tmp_path_factory.mktemp("grpo_tasks")
    data = root / "work_dirs" / "toy_data"
    make_toy_datasets(str(data), num_train=1, num_val=1, image_size=(112, 112), seed=0)
    for task in TASK_SCENES:
        make_task_toy_dataset(str(data), task, num_train=1, num_val=1, seed=0, progress=False)
    return root


def _spy_on_rewards(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Record ``(dataset_name, reward function)`` for every sample the reward dispatcher scores, and
    replace the score by :func:`_mark` of that function (its result is computed all the same), so that
    every logged mean tells which reward produced it."""
    import dataclasses

    import rewards.scoring

    calls: list[tuple[str, Any]] = []
    real_get_reward = rewards.scoring.get_reward

    def spying_get_reward(name: str) -> Any:
        fn = real_get_reward(name)

        def recorded(answer: Any, gt: Any, **options: Any) -> Any:
            result = fn(answer, gt, **options)
            calls.append((gt.dataset_name, fn))
            return dataclasses.replace(result, score=_mark(fn))

        recorded.reads_text = getattr(fn, "reads_text", False)  # type: ignore[attr-defined]
        return recorded

    monkeypatch.setattr(rewards.scoring, "get_reward", spying_get_reward)
    return calls


def _mark(fn: Any) -> float:
    """A score in (0, 1) of its own for each registered reward function: (its rank + 1) / 64."""
    from rewards import get_reward, known_rewards

    return ([get_reward(name) for name in known_rewards()].index(fn) + 1) / 64


@pytest.mark.slow
def test_grpo_on_the_mixed_config_uses_each_datasets_reward(make_config, launch_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from rewards import get_reward

    monkeypatch.chdir(launch_dir)
    calls = _spy_on_rewards(monkeypatch)
    config = make_config(
        1, f"data.config_path={GRPO_TASKS}", f"data.rollout_batch_size={NUM_DATASETS}",
        f"worker.actor.global_batch_size={NUM_DATASETS}", "worker.rollout.n=2",
        f"worker.actor.micro_batch_size_per_device_for_update={2 * NUM_DATASETS}",
        f"worker.actor.micro_batch_size_per_device_for_experience={2 * NUM_DATASETS}",
        "trainer.val_before_train=true", f"data.val_batch_size={NUM_DATASETS}", "trainer.val_generations_to_log=0",
        f"worker.reward.reward_function={REPO / 'verl/configs/reward_func.py'}:compute_score",
    )
    history = fit_in_process(config)

    # Every sample of a dataset, in validation and in both steps, was scored by the reward its config names.
    used: dict[str, set[Any]] = defaultdict(set)
    for dataset_name, fn in calls:
        used[dataset_name].add(fn)
    expected_fns = {name: {get_reward(reward)} for name, (_, _, reward) in EXPECTED.items()}
    assert dict(used) == {**expected_fns, **{f"{name}_val": fns for name, fns in expected_fns.items()}}
    assert sum(1 for name, _ in calls if name in EXPECTED) == 2 * 2 * NUM_DATASETS  # 2 steps x 2 answers each

    # The logged means per dataset and per reward are the marks of the rewards the config names.
    assert len(history) == 2
    marks = {name: _mark(get_reward(reward)) for name, (_, _, reward) in EXPECTED.items()}
    assert len(set(marks.values())) == len({reward for _, _, reward in EXPECTED.values()})
    for metrics in history:
        logged = {key.split("/")[2]: value for key, value in metrics.items()
                  if key.startswith("reward/by_dataset/") and key.endswith("/mean")}
        assert logged == pytest.approx(marks)
        logged = {key.split("/")[2]: value for key, value in metrics.items()
                  if key.startswith("reward/by_reward/") and key.endswith("/mean")}
        assert logged == pytest.approx({reward: marks[name] for name, (_, _, reward) in EXPECTED.items()})
        for _, _, reward in EXPECTED.values():
            assert f"reward/{reward}" in metrics  # the row key the reward entry point names after the reward used
    rows = [json.loads(line) for line in (tmp_path / "ckpt" / "metrics.jsonl").read_text().splitlines()]
    before = next(row for row in rows if row["step"] == 0)  # validation before training
    logged = {key.split("/")[3]: value for key, value in before.items()
              if key.startswith("val/reward/by_dataset/") and key.endswith("/mean")}
    assert logged == pytest.approx({f"{name}_val": mark for name, mark in marks.items()})


def _config_with_unknown_reward(folder: Path) -> Path:
    """configs/grpo_tasks.py whose keypoint training set names a reward that does not exist."""
    from dataset.config_checks import load_data_config

    bad = folder / "grpo_tasks_typo.py"
    bad.write_text(GRPO_TASKS.read_text().replace("./_base_/", f"{REPO}/configs/_base_/")
                   + 'train_dataset[3]["reward_name"] = "keypoint_okz"\n')
    assert [(d["dataset_name"], d["reward_name"]) for d in load_data_config(bad)["train_dataset"]][3] == (
        "toy_keypoint", "keypoint_okz")
    return bad


def test_a_dataset_naming_an_unknown_reward_fails_at_build_time(make_config, launch_dir: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(launch_dir)
    config = make_config(1, f"data.config_path={_config_with_unknown_reward(tmp_path)}")
    with pytest.raises(ValueError) as raised:
        build_trainer(config, workers=object())  # the datasets fail before any worker is used
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("toy_keypoint: unknown reward_name 'keypoint_okz'")


def test_the_launcher_check_names_the_unknown_reward_in_one_line(tiny_model: Path, launch_dir: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from verl.trainer.main import main

    monkeypatch.chdir(launch_dir)
    bad = _config_with_unknown_reward(tmp_path)
    code = main(["--check", "--skip_model_check", f"config={REPO / 'verl/configs/config.yaml'}",
                 f"data.config_path={bad}", f"worker.actor.model.model_path={tiny_model}", "trainer.device=cpu", "data.format_prompt=null",
                 f"data.rollout_batch_size={NUM_DATASETS}", f"worker.actor.global_batch_size={NUM_DATASETS}",
                 f"worker.reward.reward_function={REPO / 'verl/configs/reward_func.py'}:compute_score"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert err.startswith(f"error: data.config_path {bad}: train_dataset toy_keypoint: unknown reward_name "
                          "'keypoint_okz'; known: box_iou, "), err
    good = main(["--check", "--skip_model_check", f"config={REPO / 'verl/configs/config.yaml'}",
                 f"data.config_path={GRPO_TASKS}", f"worker.actor.model.model_path={tiny_model}", "trainer.device=cpu", "data.format_prompt=null",
                 f"data.rollout_batch_size={NUM_DATASETS}", f"worker.actor.global_batch_size={NUM_DATASETS}",
                 f"worker.reward.reward_function={REPO / 'verl/configs/reward_func.py'}:compute_score"])
    assert good == 0, capsys.readouterr().err
