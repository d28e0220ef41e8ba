"""Tests for the data CLIs: convert_json_data_to_tsv, vis_tsv_dataset and make_toy_data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from dataset.tsv import TsvPaths, TsvReader
from tools import convert_json_data_to_tsv, make_toy_data, vis_tsv_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("toy_cli")
    assert make_toy_data.main(["--output_dir", str(out), "--num_train", "4", "--num_val", "2",
                               "--image_size", "56x48", "--seed", "1"]) == 0
    return out


def _triple_args(out: Path, stem: str) -> list[str]:
    paths = TsvPaths.from_prefix(out / stem)
    return ["--img_tsv_file", paths.image_tsv, "--ann_tsv_file", paths.ann_tsv, "--ann_lineidx_file", paths.lineidx]


def test_make_toy_data_cli(toy: Path) -> None:
    manifest = json.loads((toy / "toy_manifest.json").read_text())
    assert manifest["image_size"] == [56, 48] and manifest["num_train"] == 4
    assert TsvReader(*TsvPaths.from_prefix(toy / "toy_pointing_val")).read(1)[0].size == (56, 48)


@pytest.mark.parametrize("stem", ["toy_grounding_train", "toy_pointing_train"])
def test_vis_cli(toy: Path, tmp_path: Path, stem: str) -> None:
    rc = vis_tsv_dataset.main([*_triple_args(toy, stem), "--output_dir", str(tmp_path), "--indices", "1,3"])
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000001.png", "000003.png"]
    assert Image.open(tmp_path / "000001.png").height > 48


def test_vis_cli_rejects_bad_indices(toy: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        vis_tsv_dataset.main([*_triple_args(toy, "toy_grounding_train"), "--indices", "1,x"])
    assert vis_tsv_dataset.main([*_triple_args(toy, "toy_grounding_train"), "--output_dir", str(tmp_path),
                                 "--indices", "99"]) == 1


def _convert_args(jsonl: Path, root: Path, out: Path, *extra: str) -> list[str]:
    return ["--json_file", str(jsonl), "--image_root_path", str(root),
            "--save_image_tsv_path", str(out / "c.images.tsv"), "--save_ann_tsv_path", str(out / "c.annotations.tsv"),
            "--save_ann_lineidx_path", str(out / "c.annotations.tsv.lineidx"), *extra]


def _toy_jsonl(toy: Path) -> tuple[Path, Path]:
    return toy / "jsonl" / "toy_grounding_train.jsonl", toy / "jsonl" / "images"


def test_convert_cli_on_toy_jsonl(toy: Path, tmp_path: Path) -> None:
    assert convert_json_data_to_tsv.main(_convert_args(*_toy_jsonl(toy), tmp_path, "--num_workers", "2")) == 0
    reader = TsvReader(*TsvPaths.from_prefix(tmp_path / "c"))
    original = TsvReader(*TsvPaths.from_prefix(toy / "toy_grounding_train"))
    assert len(reader) == 4
    assert [reader.read_annotation(i)[1] for i in range(4)] == [original.read_annotation(i)[1] for i in range(4)]


def test_convert_cli_strict_exit_code(toy: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"image_name": "missing.png", "annotation": {}}\n')
    root = _toy_jsonl(toy)[1]
    assert convert_json_data_to_tsv.main(_convert_args(jsonl, root, tmp_path / "lenient")) == 0
    assert (tmp_path / "lenient" / "c.images.tsv").read_bytes() == b""  # the bad line was skipped
    assert convert_json_data_to_tsv.main(_convert_args(jsonl, root, tmp_path / "strict", "--strict")) == 1
    assert not (tmp_path / "strict").exists() or not any((tmp_path / "strict").iterdir())


@pytest.mark.parametrize("value", ["0", "101", "high"])
def test_convert_cli_rejects_bad_quality_in_one_line(tmp_path: Path, value: str) -> None:
    args = _convert_args(tmp_path / "x.jsonl", tmp_path, tmp_path / "out", "--jpeg_quality", value)
    result = subprocess.run([sys.executable, str(REPO / "tools" / "convert_json_data_to_tsv.py"), *args],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"convert_json_data_to_tsv.py: error: argument --jpeg_quality: must be an integer in 1..100, got '{value}' "
        "(see --help)"]


def test_make_toy_data_presets_fill_only_the_flags_not_given() -> None:
    demo = make_toy_data.resolve_arguments(make_toy_data.build_parser().parse_args([]))
    assert demo == make_toy_data.PRESETS["demo"] and demo["background"] == "coded"
    args = make_toy_data.build_parser().parse_args(
        ["--preset", "varied", "--max_objects", "2", "--size_range", "0.2", "0.3", "--image_size", "64"])
    varied = make_toy_data.resolve_arguments(args)
    assert varied["max_objects"] == 2 and varied["size_range"] == (0.2, 0.3) and varied["image_size"] == (64, 64)
    assert varied["background"] == "random" and varied["negative_rate"] == make_toy_data.PRESETS["varied"]["negative_rate"]


@pytest.mark.parametrize("script", ["convert_json_data_to_tsv.py", "vis_tsv_dataset.py", "make_toy_data.py"])
def test_help_runs_as_script(script: str) -> None:
    result = subprocess.run([sys.executable, str(REPO / "tools" / script), "--help"], capture_output=True,
                            text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    for flag in {"convert_json_data_to_tsv.py": ["--json_file", "--num_workers", "--jpeg_quality", "--strict"],
                 "vis_tsv_dataset.py": ["--img_tsv_file", "--indices", "--box_format", "default: xyxy"],
                 "make_toy_data.py": ["--output_dir", "--num_train", "--image_size", "--force", "--preset",
                                      "coded"]}[script]:
        assert flag in " ".join(result.stdout.split())  # argparse wraps help lines
