"""The import layers: dataset/ at the bottom, modeling/ on it, the two stages apart, the demo on top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("dataset", "modeling", "finetuning", "verl", "evaluation", "demo")

# package -> packages of this repository it must never import (directly, lazily inside a function too)
FORBIDDEN = {
    "dataset": {"modeling", "finetuning", "verl", "evaluation", "demo"},
    "modeling": {"finetuning", "verl", "evaluation", "demo"},
    "finetuning": {"verl", "evaluation", "demo"},
    "verl": {"finetuning", "evaluation", "demo"},
    "evaluation": {"finetuning", "demo"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every ``import``/``from ... import`` in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_scanner_sees_lazy_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from verl.rewards import x\n    import demo.tiny_model\n")
    assert imported_packages(source) == {"os", "verl", "demo"}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_breaks_the_layers(package: str) -> None:
    offenders = []
    for path in sorted((REPO / package).rglob("*.py")):
        bad = imported_packages(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_rewards_depend_only_on_dataset() -> None:
    offenders = []
    for path in sorted((REPO / "verl" / "rewards").rglob("*.py")):
        inside = {name for name in imported_packages(path) if name in PACKAGES}
        if inside - {"dataset", "verl"}:
            offenders.append(f"{path.relative_to(REPO)} imports {sorted(inside)}")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("verl.") \
                    and not node.module.startswith("verl.rewards"):
                offenders.append(f"{path.relative_to(REPO)} imports {node.module}")
    assert not offenders, "\n".join(offenders)


def verl_modules_imported(path: Path) -> set[str]:
    """Dotted ``verl.*`` modules a file imports (at any depth), e.g. ``verl.trainer.config``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("verl"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("verl"):
            names.add(node.module)
            if node.module == "verl":
                names.update(f"verl.{alias.name}" for alias in node.names)
    return names


def test_the_verl_scanner_sees_from_verl_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from verl import trainer\n\ndef f():\n    import verl.trainer.config\n")
    assert verl_modules_imported(source) == {"verl", "verl.trainer", "verl.trainer.config"}


# GRPO's own layers: the algorithm maths and the config schema at the bottom, the workers on them, the
# trainer (driver) on top. A worker never imports the trainer; the bottom imports neither.
VERL_FORBIDDEN = {
    "verl/workers": ("verl.trainer",),
    "verl/single_controller": ("verl.trainer",),
    "verl/core_algos.py": ("verl.trainer", "verl.workers"),
    "verl/config_schema.py": ("verl.trainer", "verl.workers"),
}


@pytest.mark.parametrize("where", sorted(VERL_FORBIDDEN))
def test_workers_never_import_the_trainer(where: str) -> None:
    root = REPO / where
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    offenders = [f"{path.relative_to(REPO)} imports {name}"
                 for path in files for name in sorted(verl_modules_imported(path))
                 if any(name == bad or name.startswith(bad + ".") for bad in VERL_FORBIDDEN[where])]
    assert files and not offenders, "\n".join(offenders)
