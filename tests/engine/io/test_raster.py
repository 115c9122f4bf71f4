"""PNG / JPEG / TIFF through Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medadv_desktop.engine.io import open_study
from medadv_desktop.errors import CorruptStudyError


def test_grayscale_png_8_and_16_bit(tmp_path: Path):
    g8 = (np.arange(60, dtype=np.uint8).reshape(6, 10) * 4)
    Image.fromarray(g8).save(tmp_path / "g8.png")
    s = open_study(tmp_path / "g8.png")
    assert s.pixels.shape == (1, 6, 10) and s.modality == "OT" and s.source_format == "image"
    np.testing.assert_array_equal(s.pixels[0], g8)
    g16 = (np.arange(60, dtype=np.uint16).reshape(6, 10) * 1000)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    s16 = open_study(tmp_path / "g16.png")
    np.testing.assert_array_equal(s16.pixels[0], g16)
    assert s16.native.bit_depth == 16 and "16-bit" in s16.description


def test_colour_jpeg_and_rgba_png(tmp_path: Path):
    rgb = np.zeros((8, 12, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=95)
    s = open_study(tmp_path / "c.jpg")
    assert s.pixels.shape == (1, 8, 12, 3) and s.pixels.dtype == np.float32
    assert abs(float(s.pixels[..., 0].mean()) - 200) < 3
    Image.fromarray(np.dstack([rgb, np.full((8, 12), 255, np.uint8)])).save(tmp_path / "a.png")
    assert open_study(tmp_path / "a.png").pixels.shape == (1, 8, 12, 3)


def test_multipage_tiff_becomes_slices(tmp_path: Path):
    pages = [Image.fromarray(np.full((5, 7), v, np.uint8)) for v in (10, 20, 30)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    s = open_study(tmp_path / "stack.tif")
    assert s.pixels.shape == (3, 5, 7)
    assert [float(s.pixels[i, 0, 0]) for i in range(3)] == [10, 20, 30]


def test_truncated_png_is_corrupt(tmp_path: Path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / "x.png")
    data = (tmp_path / "x.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptStudyError) as info:
        open_study(tmp_path / "cut.png")
    assert "cut.png" in str(info.value)
