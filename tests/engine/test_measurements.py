"""Viewer measurements (issue 13): ROI mean/SD/area in native units and ruler lengths in mm,
checked against numpy on the same pixels and against the file's pixel spacing."""

from __future__ import annotations

import math

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medadv_desktop.engine.io import open_study
from medadv_desktop.engine.measurements import (
    Roi, roi_mask, roi_statistics, ruler_length, study_roi_statistics, study_ruler,
)
from medadv_desktop.errors import MedAdvError


@pytest.fixture(scope="module")
def ct():
    return open_study(get_testdata_file("CT_small.dcm"))


def _inside_by_loop(shape, kind, top, left, bottom, right):
    """The pixels whose centres lie in the shape, decided one pixel at a time (independent of roi_mask)."""
    out = []
    cy, cx, ay, ax = (top + bottom) / 2, (left + right) / 2, (bottom - top) / 2, (right - left) / 2
    for r in range(shape[0]):
        for c in range(shape[1]):
            y, x = r + 0.5, c + 0.5
            if kind == "rectangle":
                inside = top <= y <= bottom and left <= x <= right
            else:
                inside = ((y - cy) / ay) ** 2 + ((x - cx) / ax) ** 2 <= 1.0 + 1e-9
            if inside:
                out.append((r, c))
    return out


@pytest.mark.parametrize("kind,box", [("ellipse", (20.3, 30.0, 61.7, 90.5)), ("rectangle", (5, 7, 40, 19)),
                                      ("ellipse", (64.0, 64.0, 65.0, 65.0))])
def test_roi_statistics_equal_numpy_on_the_same_pixels(ct, kind, box):
    roi = Roi(kind, *box)
    stats = study_roi_statistics(ct, 0, roi)
    pixels = _inside_by_loop(ct.pixels.shape[1:], kind, *box)
    values = np.array([ct.pixels[0, r, c] for r, c in pixels], dtype=np.float64)
    assert stats.pixel_count == len(pixels) > 0
    assert stats.mean == pytest.approx(values.mean(), rel=1e-9)
    assert stats.sd == pytest.approx(values.std(ddof=0), rel=1e-9)
    assert (stats.min, stats.max) == (values.min(), values.max())
    assert stats.units == "HU" and stats.units_area == "mm²"
    dr, dc = (float(v) for v in pydicom.dcmread(get_testdata_file("CT_small.dcm")).PixelSpacing)
    h, w = box[2] - box[0], box[3] - box[1]
    expected_area = math.pi * h * w / 4 * dr * dc if kind == "ellipse" else h * w * dr * dc
    assert stats.area_mm2 == pytest.approx(expected_area)
    assert stats.pixel_area_mm2 == pytest.approx(len(pixels) * dr * dc)


def test_roi_corners_in_any_order_and_on_the_adversarial_pixels(ct):
    a = study_roi_statistics(ct, 0, Roi("rectangle", 40, 50, 10, 20))
    b = study_roi_statistics(ct, 0, Roi("rectangle", 10, 20, 40, 50))
    assert a == b
    adv = ct.pixels + 6.0
    shifted = study_roi_statistics(ct, 0, Roi("rectangle", 10, 20, 40, 50), pixels=adv)
    assert shifted.mean == pytest.approx(b.mean + 6.0) and shifted.sd == pytest.approx(b.sd, abs=1e-6)


def test_empty_and_degenerate_rois_and_bad_input(ct):
    empty = roi_statistics(ct.pixels[0], Roi("ellipse", 10.1, 10.1, 10.2, 10.2))
    assert empty.pixel_count == 0 and empty.mean is None and empty.sd is None
    assert not roi_mask((8, 8), Roi("ellipse", 3, 3, 3, 6)).any()        # zero height
    with pytest.raises(MedAdvError):
        Roi("polygon", 0, 0, 1, 1)
    with pytest.raises(MedAdvError):
        Roi("ellipse", 0, float("nan"), 1, 1)
    with pytest.raises(MedAdvError, match="slices 0 to 0"):
        study_roi_statistics(ct, 3, Roi("ellipse", 0, 0, 4, 4))


def test_colour_roi_is_measured_on_luminance():
    rgb = np.zeros((10, 10, 3), dtype=np.float32)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 100, 50, 10
    stats = roi_statistics(rgb, Roi("rectangle", 0, 0, 10, 10))
    assert stats.mean == pytest.approx(0.299 * 100 + 0.587 * 50 + 0.114 * 10)


def test_ruler_length_follows_the_pixel_spacing(ct):
    _, dc = ct.pixel_spacing
    horizontal = study_ruler(ct, (10.5, 10.5), (10.5, 110.5))
    assert horizontal.units == "mm" and horizontal.length == pytest.approx(100 * dc)
    assert horizontal.length_px == pytest.approx(100)
    diagonal = ruler_length((0, 0), (30, 40), pixel_spacing=(0.5, 2.0))   # rows and columns scaled apart
    assert diagonal.length == pytest.approx(math.hypot(30 * 0.5, 40 * 2.0)) and diagonal.length_px == 50
    with pytest.raises(MedAdvError):
        ruler_length((0, 0), (float("inf"), 1))


def test_without_pixel_spacing_lengths_and_areas_are_in_pixels(tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(np.full((20, 30), 7, dtype=np.uint8)).save(path)
    study = open_study(path)
    length = study_ruler(study, (0, 0), (3, 4))
    assert (length.length, length.units) == (5.0, "px")
    stats = study_roi_statistics(study, 0, Roi("rectangle", 0, 0, 10, 10))
    assert stats.units_area == "px²" and stats.area_mm2 == 100 and stats.mean == 7
