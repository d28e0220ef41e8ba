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
