"""Real inputs for the corruption tests (pydicom's CT_small / MR_small, nibabel's anatomical.nii,
the labelled synthetic demo study) and flat phantoms where a statistic must be measured exactly."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest
from pydicom.data import get_testdata_file

from medadv_desktop.engine.corruptions import ImageContext
from medadv_desktop.engine.io import open_path

ROOT = Path(__file__).resolve().parents[3]
NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"


def _open(path) -> object:
    report = open_path(path)
    assert report.studies, report.failures
    return report.studies[0]


@pytest.fixture(scope="session")
def ct_study():
    """pydicom's CT_small.dcm: 128 x 128 CT in HU, 0.66 mm pixels."""
    return _open(get_testdata_file("CT_small.dcm"))


@pytest.fixture(scope="session")
def mr_study():
    """pydicom's MR_small.dcm: 64 x 64 MR, 0.31 mm pixels."""
    return _open(get_testdata_file("MR_small.dcm"))


@pytest.fixture(scope="session")
def mr_volume():
    """nibabel's anatomical.nii: a 25 x 41 x 33 T1 volume, 2 mm voxels."""
    return _open(NIBABEL_DATA / "anatomical.nii")


@pytest.fixture(scope="session")
def demo_study():
    """MedAdv's bundled demo study: 14 CT slices of 64 x 64 (synthetic lesions in real CT patches)."""
    study = _open(ROOT / "resources" / "demo_study")
    assert study.synthetic
    return study


CT = ImageContext("CT", (1.0, 0.7, 0.7), "HU")
MR = ImageContext("MR", (1.0, 1.0, 1.0))


def disc_phantom(size: int = 128, radius: float = 20.0, value: float = 1000.0) -> np.ndarray:
    """(1, size, size) flat disc of ``value`` on a zero background, centred."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    return (value * (np.hypot(yy, xx) <= radius)).astype(np.float32)[None]
