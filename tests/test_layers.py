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
    # Both stages may use evaluation/ (it imports no trainer): their in-training validation scores with
    # the code of tools/evaluate.py instead of a copy.
    "finetuning": {"verl", "demo"},
    "verl": {"finetuning", "demo"},
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
