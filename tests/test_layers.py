"""The import layers: dataset/ at the bottom, rewards/ and modeling/ on it, the two stages apart, the demo on top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("dataset", "rewards", "modeling", "finetuning", "verl", "evaluation", "demo")

# package -> packages of this repository it must never import (directly, lazily inside a function too)
FORBIDDEN = {
    "dataset": {"rewards", "modeling", "finetuning", "verl", "evaluation", "demo"},
    "rewards": {"modeling", "finetuning", "verl", "evaluation", "demo"},
    "modeling": {"finetuning", "verl", "evaluation", "demo"},
    # Both stages may use evaluation/ (it imports neither stage): their in-training validation scores
    # with the code of tools/evaluate.py instead of a copy.
    "finetuning": {"verl", "demo"},
    "verl": {"finetuning", "demo"},
    "evaluation": {"finetuning", "verl", "demo"},
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
    source.write_text("import os\n\ndef f():\n    from verl.utils import x\n    import demo.tiny_model\n")
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
    """rewards/ serves GRPO and evaluation alike, so of this repository it may import dataset/ only."""
    offenders = []
    for path in sorted((REPO / "rewards").rglob("*.py")):
        inside = {name for name in imported_packages(path) if (REPO / name).is_dir() or (REPO / f"{name}.py").is_file()}
        if inside - {"dataset", "rewards"}:
            offenders.append(f"{path.relative_to(REPO)} imports {sorted(inside - {'dataset', 'rewards'})}")
    assert not offenders, "\n".join(offenders)


# Every folder of this repository that holds importable code (tests and mmengine configs are not modules).
SOURCE_DIRS = ("dataset", "rewards", "modeling", "finetuning", "verl", "evaluation", "demo", "tools", "bench")
# Circles another change is removing; an entry here that no longer exists is harmless.
KNOWN_CIRCLES: set = set()


def _module_file(root: Path, dotted: str) -> Path | None:
    """The file of module ``dotted`` under ``root`` (``a/b.py`` or ``a/b/__init__.py``), else None."""
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_files(root: Path, path: Path) -> dict[Path, set[str]]:
    """Files under ``root`` that ``path`` imports (at any depth), each with the names it takes from it.

    ``from a.b import c`` is an arrow to ``a/b/c.py`` when that is a module, else to ``a/b.py`` for
    the name ``c``; relative imports are resolved against ``path``'s package.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).parent.parts)
    arrows: dict[Path, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _module_file(root, alias.name)
                if target is not None:
                    arrows.setdefault(target, set())
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[:len(parts) - (node.level - 1)]
                module = ".".join(parts + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                target = _module_file(root, f"{module}.{alias.name}") if module else None
                if target is not None:
                    arrows.setdefault(target, set())
                    continue
                target = _module_file(root, module) if module else None
                if target is not None:
                    arrows.setdefault(target, set()).add(alias.name)
    arrows.pop(path, None)
    return arrows


def import_graph(root: Path, folders: tuple[str, ...]) -> dict[Path, dict[Path, set[str]]]:
    """file -> {imported file: names}, over every ``.py`` file of ``folders`` under ``root``."""
    files = [p for folder in folders for p in sorted((root / folder).rglob("*.py"))]
    return {path: imported_files(root, path) for path in files}


def circles(graph: dict[Path, dict[Path, set[str]]]) -> list[set[Path]]:
    """Groups of two or more files that reach each other by imports, a package's ``__init__.py`` left out
    (it re-exports its modules by design). Tarjan's strongly connected components."""
    nodes = [n for n in graph if n.name != "__init__.py"]
    edges = {n: [m for m in graph[n] if m.name != "__init__.py" and m in graph] for n in nodes}
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    found: list[set[Path]] = []

    def visit(node: Path) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(group)

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_the_circle_finder_sees_direct_and_longer_loops(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "from pkg.a import A\n",
        "pkg/a.py": "from pkg.b import B\nA = 1\n",
        "pkg/b.py": "def f():\n    from pkg import c\nB = 2\n",
        "pkg/c.py": "import pkg.a\n",
        "pkg/d.py": "from . import e\n",
        "pkg/e.py": "from .d import x\n",
        "pkg/f.py": "from pkg import a\n",
    })
    found = {frozenset(p.name for p in group) for group in circles(import_graph(tmp_path, ("pkg",)))}
    assert found == {frozenset({"a.py", "b.py", "c.py"}), frozenset({"d.py", "e.py"})}


def test_no_two_files_import_each_other() -> None:
    found = circles(import_graph(REPO, SOURCE_DIRS))
    named = {frozenset(str(p.relative_to(REPO)) for p in group) for group in found}
    assert not named - KNOWN_CIRCLES, "import circles:\n" + "\n".join(sorted(" <-> ".join(sorted(g))
                                                                               for g in named - KNOWN_CIRCLES))


def test_no_private_name_is_imported_from_another_file() -> None:
    """``from x import _name`` across files of this repository: the name is part of x's interface, so it
    should not start with an underscore (or should stay in x)."""
    offenders = [f"{path.relative_to(REPO)} takes {sorted(n for n in names if n.startswith('_'))} "
                 f"from {target.relative_to(REPO)}"
                 for path, arrows in import_graph(REPO, SOURCE_DIRS).items()
                 for target, names in arrows.items() if any(n.startswith("_") for n in names)]
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
