"""Real test inputs for the study reader: files shipped by pydicom, pydicom-data and nibabel,
and a DICOM series folder written with pydicom into tmp_path."""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"


def pydicom_file(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom test file {name} is missing"
    return Path(path)


def write_series(folder: Path, *, n: int, series_uid: str, study_uid: str, orientation, position,
                 z0: float, dz: float, name_prefix: str, rng: random.Random,
                 reverse_instance_numbers: bool = False) -> list[dict]:
    """Write ``n`` slices made from CT_small.dcm; slice k holds stored values raw + 10*k.

    Returns, per slice in anatomical order, {"path", "offset_hu"}.
    """
    src = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    raw = src.pixel_array.astype(np.int16)
    out = []
    order = list(range(n))
    rng.shuffle(order)   # file names do not follow the anatomy
    for k in range(n):
        ds = copy.deepcopy(src)
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImageOrientationPatient = list(orientation)
        ds.ImagePositionPatient = list(position(z0 + dz * k))
        ds.InstanceNumber = (n - k) if reverse_instance_numbers else (k + 1)
        ds.SliceThickness = abs(dz)
        ds.PixelData = (raw + 10 * k).astype(np.int16).tobytes()
        path = folder / f"{name_prefix}{order[k]:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append({"path": path, "offset_hu": 10 * k})
    return out


@pytest.fixture
def series_folder(tmp_path: Path) -> dict:
    """Two mixed series (axial, 5 slices, 2.5 mm; sagittal, 4 slices, 3 mm), one corrupt file."""
    rng = random.Random(0)
    folder = tmp_path / "series"
    (folder / "sub").mkdir(parents=True)
    study_uid = generate_uid()
    axial = write_series(folder, n=5, series_uid=generate_uid(), study_uid=study_uid,
                         orientation=[1, 0, 0, 0, 1, 0], position=lambda z: [0.0, 0.0, z],
                         z0=-20.0, dz=2.5, name_prefix="img", rng=rng, reverse_instance_numbers=True)
    # sagittal: rows along +y (P), columns along -z (F); normal = (0,1,0) x (0,0,-1) = (-1,0,0)
    sagittal = write_series(folder / "sub", n=4, series_uid=generate_uid(), study_uid=study_uid,
                            orientation=[0, 1, 0, 0, 0, -1], position=lambda x: [-x, 0.0, 0.0],
                            z0=0.0, dz=3.0, name_prefix="img", rng=rng)
    extra = pydicom.dcmread(axial[0]["path"])
    extra.SOPInstanceUID = generate_uid()
    extra.file_meta.MediaStorageSOPInstanceUID = extra.SOPInstanceUID
    extra.ImagePositionPatient = [0.0, 0.0, 100.0]
    corrupt = folder / "img999.dcm"
    extra.save_as(corrupt, enforce_file_format=True)
    good = corrupt.read_bytes()
    corrupt.write_bytes(good[: len(good) - 5000])   # cut inside the pixel data
    (folder / "notes.dat").write_text("not an image\n")
    (folder / "labels.csv").write_text("path,label\n")  # side-car: skipped silently
    return {"folder": folder, "axial": axial, "sagittal": sagittal, "corrupt": corrupt,
            "raw": pydicom.dcmread(pydicom_file("CT_small.dcm")).pixel_array.astype(np.float32)}


@pytest.fixture(autouse=True)
def _private_config(tmp_path_factory, monkeypatch):
    """Keep the pseudonym salt file (if any test creates one) out of the real home."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    os.environ.setdefault("MEDADV_PSEUDONYM_SALT", "medadv-tests")
