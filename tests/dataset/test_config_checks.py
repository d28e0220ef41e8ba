"""dataset.config_checks: which keys a config sets, ``_base_`` files included, and its command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataset.config_checks import has_key, main


@pytest.fixture
def child(tmp_path: Path) -> Path:
    """A config that inherits val_dataset from its base and sets test_dataset to None itself."""
    (tmp_path / "base.py").write_text('val_dataset = dict(type="X")\n')
    path = tmp_path / "child.py"
    path.write_text('_base_ = ["./base.py"]\ntrain_dataset = dict(type="Y")\ntest_dataset = None\n')
    return path


def test_has_key_sees_keys_of_the_base_file(child: Path) -> None:
    assert has_key(child, "val_dataset") and has_key(child, "train_dataset")
    assert not has_key(child, "test_dataset") and not has_key(child, "no_such_key")


def test_main_prints_yes_or_no_and_one_line_for_a_config_it_cannot_read(child: Path, tmp_path: Path, capsys) -> None:
    assert main(["--has", "val_dataset", str(child)]) == 0 and capsys.readouterr().out == "yes\n"
    assert main(["--has", "test_dataset", str(child)]) == 0 and capsys.readouterr().out == "no\n"
    missing = tmp_path / "missing.py"
    assert main(["--has", "val_dataset", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{missing}: no such file" in err


def test_main_answers_several_queries_in_order(tmp_path: Path, capsys) -> None:
    (tmp_path / "toy").mkdir()
    config = tmp_path / "c.py"
    config.write_text(f'model_name_or_path = "models/m"\nval_dataset = None\n'
                      f'train_dataset = dict(type="X", datasets=[dict(img_tsv_file="{tmp_path}/toy/a.images.tsv")])\n')
    argv = ["--get", "model_name_or_path", "--get", "val_dataset", "--has", "train_dataset",
            "--reads", str(tmp_path / "toy"), "--reads", str(tmp_path / "to"), str(config)]
    assert main(argv) == 0
    # "to" is a prefix of "toy" as a string, not a folder holding it.
    assert capsys.readouterr().out == "models/m\n\nyes\nyes\nno\n"
    assert main(["--get", "model_name_or_path", "--size", "x", str(config)]) == 2  # an unknown query
    assert "usage:" in capsys.readouterr().err


def test_reads_folder_resolves_relative_paths_against_the_current_directory(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from dataset.config_checks import reads_folder

    monkeypatch.chdir(tmp_path)
    cfg = {"val_dataset": dict(ann_tsv_file="work_dirs/toy_data/../toy_data/v.annotations.tsv")}
    assert reads_folder(cfg, f"{tmp_path}/work_dirs/toy_data") and reads_folder(cfg, "./work_dirs/toy_data")
    assert not reads_folder(cfg, "work_dirs/other") and not reads_folder({"train_dataset": None}, "work_dirs")
