"""The config example of README and docs/sft.md, and docs/sft.md's "Your own COCO JSON, end to end", as written.

The example and the commands are read from the docs themselves, so a doc change that breaks them fails here.
The end-to-end test is a fresh copy of the repository (its tracked and untracked, not ignored, files) in which
a user's two COCO JSON files (train and held-out, drawn with PIL) go through exactly the documented lines; the
only variable it adds is ``MAX_STEPS`` (documented) to keep training short.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SFT_DOC = REPO / "docs" / "sft.md"
END_TO_END = "## Your own COCO JSON, end to end"
CATEGORIES = ("square", "circle")


def code_blocks(text: str, language: str) -> list[str]:
    """The fenced ```language blocks of a Markdown text, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.S | re.M)


def config_example(doc: Path) -> tuple[str, str]:
    """The doc's config example: its path (the first word of its first comment line) and its text."""
    blocks = [block for block in code_blocks(doc.read_text(), "python") if block.startswith("# configs/")]
    assert len(blocks) == 1, f"{doc.name}: expected one python block starting with '# configs/'"
    return blocks[0].split()[1].rstrip(":"), blocks[0]


def section(text: str, heading: str) -> str:
    """From ``heading`` to the next heading of the same level."""
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + len(heading))
    return text[start: end if end >= 0 else len(text)]


def shell_commands(block: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", block)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_readme_and_the_sft_doc_show_the_same_config() -> None:
    assert config_example(REPO / "README.md") == config_example(SFT_DOC)


def test_the_shell_command_reader() -> None:
    block = "# a comment\nA=1 bash x.sh\npython t.py --a 1 \\\n    --b 2\n\n"
    assert shell_commands(block) == ["A=1 bash x.sh", "python t.py --a 1 --b 2"]


def write_coco(root: Path, name: str, first_id: int, count: int) -> list[str]:
    """``root/name``: a COCO instances JSON of ``count`` drawn images (one square or circle each, 112 x 112)
    stored in ``root/my_images``; returns their file names."""
    from PIL import Image, ImageDraw

    images, annotations = [], []
    (root / "my_images").mkdir(exist_ok=True)
    for i in range(first_id, first_id + count):
        x0, y0, size = 8 + (i * 13) % 50, 10 + (i * 29) % 50, 30 + (i * 7) % 20
        picture = Image.new("RGB", (112, 112), (230, 230, 230))
        draw = ImageDraw.Draw(picture)
        category = i % 2 + 1
        (draw.rectangle if category == 1 else draw.ellipse)([x0, y0, x0 + size, y0 + size], fill=(200, 40, 40))
        file_name = f"img_{i:03d}.jpg"
        picture.save(root / "my_images" / file_name)
        images.append({"id": i, "file_name": file_name, "width": 112, "height": 112})
        annotations.append({"id": i, "image_id": i, "category_id": category, "bbox": [x0, y0, size, size],
                            "area": size * size, "iscrowd": 0})
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(CATEGORIES)]
    (root / name).write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return [image["file_name"] for image in images]


def test_the_config_example_builds_its_datasets(tmp_path: Path, tiny_model_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The example, with the test model on the line whose comment says what to change, passes sft.sh's
    pre-flight check and builds both datasets from converted COCO files."""
    from transformers import AutoProcessor

    from dataset.config_checks import load_data_config
    from dataset.registry import build
    from finetuning import check_args
    from tools import convert_coco_to_tsv

    monkeypatch.chdir(tmp_path)
    config_path, text = config_example(SFT_DOC)
    model_line = [line for line in text.splitlines() if line.startswith("model_name_or_path") and "#" in line]
    assert len(model_line) == 1 and "real runs" in model_line[0]
    (tmp_path / config_path).parent.mkdir(parents=True)
    (tmp_path / config_path).write_text(text.replace(model_line[0], f'model_name_or_path = "{tiny_model_dir}"'))
    for name, prefix, first in (("my_train.json", "data/my_train", 0), ("my_val.json", "data/my_val", 100)):
        write_coco(tmp_path, name, first, 4)
        assert convert_coco_to_tsv.main(["--format", "coco", "--ann_file", name, "--image_root", "my_images/",
                                         "--output_prefix", prefix, "--no_progress"]) == 0
    assert check_args.main(["--config", config_path, "--output_dir", str(tmp_path / "out"), "--tune_mm_llm", "True"]) == 0
    cfg = load_data_config(config_path)
    processor = AutoProcessor.from_pretrained(str(tiny_model_dir))
    for key in ("train_dataset", "val_dataset"):
        built = build(cfg[key], processor=processor, tokenizer=processor.tokenizer, seed=0)
        sample = built[0]
        assert len(built) == 4 and (sample["labels"] != -100).any(), key


def fresh_copy(destination: Path) -> Path:
    """The repository's tracked and untracked (not ignored) files, as a clone of this work tree would hold."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@pytest.mark.slow
def test_a_fresh_copy_trains_on_a_coco_json_and_evaluates_on_its_held_out_one(tmp_path: Path) -> None:
    clone = fresh_copy(tmp_path / "clone")
    held_out = write_coco(clone, "my_val.json", 100, 4)
    write_coco(clone, "my_train.json", 0, 16)
    config_path, text = config_example(SFT_DOC)
    (clone / config_path).write_text(text)  # "save the config above as configs/my_data.py, as written"
    commands = shell_commands(code_blocks(section(SFT_DOC.read_text(), END_TO_END), "bash")[0])
    assert [c.split()[1] if c.startswith("python") else c.split()[-1] for c in commands] == [
        "tools/convert_coco_to_tsv.py", "tools/convert_coco_to_tsv.py", "scripts/sft.sh", "tools/evaluate.py"]
    # The clone's code, not the installed one; this Python's environment stands in for the clone's .venv.
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(clone), "REX_SKIP_INSTALL": "1",
           "HOME": os.environ.get("HOME", str(tmp_path)), "MAX_STEPS": "2"}
    for command in commands:
        result = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        if "scripts/sft.sh" in command:
            assert "evaluates on the val_dataset of configs/my_data.py" in result.stdout
            assert "train samples: 16, val samples: 4" in result.stdout + result.stderr  # the converted files
    assert json.loads((clone / "work_dirs/my_sft/trainer_state.json").read_text())["global_step"] == 2
    # sft.sh evaluated on the config's val_dataset (the converted held-out file) ...
    after_training = json.loads((clone / "work_dirs/my_sft/eval/metrics.json").read_text())
    assert after_training["split"] == "data/my_val"
    # ... and evaluate.py on the held-out COCO JSON itself, every one of its images and no other.
    metrics = json.loads((clone / "work_dirs/my_sft/eval_my_val/metrics.json").read_text())
    assert metrics["split"] == "my_val.json"
    assert {"protocol_box_f1@0.5", "protocol_box_f1@0.95", "protocol_box_mean_f1"} <= metrics.keys()
    lines = (clone / "work_dirs/my_sft/eval_my_val/predictions.jsonl").read_text().splitlines()
    assert sorted(Path(json.loads(line)["image_path"]).name for line in lines) == held_out
