"""The README stays short, and every repository file the README and docs/ name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# A backticked repository path: a known top-level folder, then a file with an extension.
PATH = re.compile(r"`((?:docs|scripts|configs|tools|bench|dataset|finetuning|verl|evaluation|demo|modeling|tests)"
                  r"/[A-Za-z0-9_./-]+\.(?:md|py|sh|json|yaml|jinja))`")
EXTERNAL = {"evaluation/metrics/other_metric.py"}  # a file of the original Rex-Omni repository
# Files the docs tell the user to write (tests/test_doc_examples.py writes and runs it).
USER_WRITTEN = {"configs/my_data.py"}


def test_readme_is_at_most_200_lines():
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_named_files_exist(doc: Path):
    missing = [name for name in PATH.findall(doc.read_text())
               if "*" not in name and "<" not in name and not (REPO / name).exists()
               and name not in EXTERNAL | USER_WRITTEN]
    assert not missing, f"{doc.name} names files that do not exist: {missing}"


def test_the_path_pattern_finds_names():
    assert PATH.findall("see `docs/demo.md` and `scripts/grpo.sh`, not `work_dirs/x.py`") == [
        "docs/demo.md", "scripts/grpo.sh"]


def test_no_file_points_outside_the_repository():
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    banned = ("REFERENCE" + ".md", "DESIGN" + ".md", "../" + "shared", "shared/" + "seed")  # split: not found here
    hits = []
    for name in files:
        path = REPO / name
        if path.suffix in {".py", ".md", ".sh", ".yaml", ".toml", ".txt", ".jinja", ".json"} and path.is_file():
            text = path.read_text(errors="replace")
            hits += [f"{name}: {word}" for word in banned if word in text]
    assert not hits, hits
