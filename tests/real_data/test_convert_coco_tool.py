"""tools/convert_coco_to_tsv.py: one command per format, user mistakes are one-line errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dataset.tsv import TsvReader
from tools.convert_coco_to_tsv import main


def test_each_format_from_the_command_line(real_sources: dict[str, Any], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    root, images = real_sources["root"], str(real_sources["images"])
    commands = {
        "coco": ["--ann_file", str(root / "coco.json")],
        "lvis": ["--ann_file", str(root / "lvis.json")],
        "refcoco": ["--ann_file", str(root / "coco.json"), "--refs_file", str(root / "refs.json")],
        "odvg": ["--ann_file", str(root / "odvg_det.jsonl"), "--label_map", str(root / "label_map.json")],
    }
    n = len(real_sources["expected"])
    expected_counts = {"coco": n, "lvis": n + 1, "refcoco": 2 * n, "odvg": n}
    for fmt, flags in commands.items():
        prefix = str(tmp_path / fmt)
        assert main(["--format", fmt, *flags, "--image_root", images, "--output_prefix", prefix,
                     "--output_jsonl", prefix + ".jsonl", "--no_progress"]) == 0
        reader = TsvReader(f"{prefix}.images.tsv", f"{prefix}.annotations.tsv", f"{prefix}.annotations.tsv.lineidx")
        assert len(reader) == expected_counts[fmt], fmt
        lines = Path(prefix + ".jsonl").read_text().splitlines()
        assert [json.loads(x)["annotation"] for x in lines] == [reader.read(i)[1] for i in range(len(reader))]
    assert f"wrote {n} samples, skipped 0 bad record(s) and 1 image(s) without objects" in capsys.readouterr().out


@pytest.mark.parametrize(("flags", "message"), [
    (["--format", "coco", "--ann_file", "nope.json"], "file not found: nope.json"),
    (["--format", "refcoco", "--ann_file", "{coco}"], "--format refcoco needs --refs_file"),
    (["--format", "coco", "--ann_file", "{coco}", "--max_samples", "0"], "--max_samples must be >= 1"),
    (["--format", "coco", "--ann_file", "{refs}"], "not a COCO instances file"),
])
def test_user_mistakes_exit_2_with_one_line(real_sources: dict[str, Any], tmp_path: Path, flags: list[str],
                                            message: str, capsys: pytest.CaptureFixture[str]) -> None:
    flags = [f.format(coco=real_sources["root"] / "coco.json", refs=real_sources["root"] / "refs.json") for f in flags]
    code = main([*flags, "--image_root", str(real_sources["images"]), "--output_prefix", str(tmp_path / "x"),
                 "--no_progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_missing_output_is_a_user_mistake(real_sources: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--format", "coco", "--ann_file", str(real_sources["root"] / "coco.json"),
                 "--image_root", str(real_sources["images"])])
    assert code == 2 and "give --output_prefix, --output_jsonl or both" in capsys.readouterr().err
