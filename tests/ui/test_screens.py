"""scripts/screenshots.py keeps working: two of its cheap scenes run in-process on real files (pydicom-data's
693_UNCI.dcm, nibabel's example4d.nii.gz) and write PNGs of the asked size, listed in index.md; a bad
option is a clear error with exit 2."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshots.py"


@pytest.fixture(scope="module")
def screenshots():
    spec = importlib.util.spec_from_file_location("medadv_screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module            # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_two_scenes_write_their_pngs_and_index(screenshots, qapp, tmp_path):
    out = tmp_path / "shots"
    assert screenshots.main([str(out), "--sizes", "1280x800", "--only", "ct_measure,nifti_4d"]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["ct_measure_1280x800.png", "nifti_4d_1280x800.png"]
    for name in names:
        image = QImage(str(out / name))
        assert (image.width(), image.height()) == (1280, 800)
        assert len({image.pixel(x, y) for x in range(0, 1280, 37) for y in range(0, 800, 29)}) > 20   # not blank
    index = (out / "index.md").read_text(encoding="utf-8")
    assert "`ct_measure_1280x800.png`: 512x512 head CT" in index and "mean" in index and " mm)" in index
    assert "`nifti_4d_1280x800.png`" in index and "volume 2" in index
    assert "did not reach" not in index


def test_a_size_the_window_cannot_take_is_reported_not_shot(screenshots, qapp, tmp_path):
    out = tmp_path / "small"
    assert screenshots.main([str(out), "--sizes", "640x480", "--only", "ct_measure"]) == 1
    assert not list(out.glob("*.png"))
    assert "cannot be 640x480" in (out / "index.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("argv", [["--only", "nope"], ["--sizes", "big"]])
def test_bad_options_exit_2_with_a_message(screenshots, tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        screenshots.main([str(tmp_path / "x"), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "nope" in err or "WxH" in err
