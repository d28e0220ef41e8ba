"""The visualiser skips (and reports) bad indices and bad samples, drawing the rest."""

from __future__ import annotations

from pathlib import Path

from reliability_helpers import ANNOTATIONS, replace_line, rewrite_lineidx_for, write_triple

from dataset.visualize import visualize_tsv
from tools.vis_tsv_dataset import main as vis_cli


def test_bad_index_is_skipped(tmp_path: Path) -> None:
    paths = write_triple(tmp_path)
    stats = visualize_tsv(*paths, str(tmp_path / "vis"), indices=[0, 7, -1])
    assert [Path(p).name for p in stats.written] == ["000000.png"]
    assert [i for i, _ in stats.skipped] == [7, -1]
    assert all("out of range" in reason for _, reason in stats.skipped)


def test_bad_sample_is_skipped_others_drawn(tmp_path: Path) -> None:
    paths = write_triple(tmp_path)
    replace_line(paths.ann_tsv, 1, b'0\t{"boxes": [}')
    rewrite_lineidx_for(paths)
    stats = visualize_tsv(*paths, str(tmp_path / "vis"), indices=[0, 1, 2])
    assert len(stats.written) == 2
    assert stats.skipped[0][0] == 1 and "invalid annotation JSON" in stats.skipped[0][1]
    assert not (tmp_path / "vis" / "000001.png").exists()


def test_bad_annotation_is_skipped(tmp_path: Path) -> None:
    bad = [ANNOTATIONS[0], {"boxes": [{"bbox": [1, 2, 3], "phrase": "x"}]}]
    stats = visualize_tsv(*write_triple(tmp_path, bad), str(tmp_path / "vis"), indices=[0, 1])
    assert [i for i, _ in stats.skipped] == [1]
    assert "boxes[0]" in stats.skipped[0][1]


def test_cli_exits_1_when_nothing_drawn(tmp_path: Path) -> None:
    paths = write_triple(tmp_path)
    argv = ["--img_tsv_file", paths.image_tsv, "--ann_tsv_file", paths.ann_tsv, "--ann_lineidx_file",
            paths.lineidx, "--output_dir", str(tmp_path / "vis"), "--indices", "5,6"]
    assert vis_cli(argv) == 1
    assert list((tmp_path / "vis").glob("*.png")) == []
