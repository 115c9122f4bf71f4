"""Every file shipped by pydicom, pydicom-data and nibabel either loads into a sane Study or
is refused with a StudyError, and it is refused exactly when the library itself cannot decode it."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.data.data_manager import get_external_sources

from medadv_desktop.engine.io import open_path, open_study
from medadv_desktop.errors import StudyError

from .conftest import NIBABEL_DATA


def _pydicom_files() -> list[Path]:
    files = {Path(f).resolve() for f in get_testdata_files() if Path(f).is_file()}
    for source in get_external_sources().values():
        files |= {p.resolve() for p in Path(source.data_path).rglob("*") if p.is_file()}
    return sorted(files)


def _nibabel_files() -> list[Path]:
    return sorted(p for p in NIBABEL_DATA.iterdir() if p.is_file())


PYDICOM_FILES = _pydicom_files()
NIBABEL_FILES = _nibabel_files()


def pydicom_decodes(path: Path) -> bool:
    """Ask pydicom itself: can it read this file and decode an image from it?

    Files without a file meta header get the transfer syntax pydicom detected
    while reading (the fix pydicom's own documentation gives for such files).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, force=True)
            meta = getattr(ds, "file_meta", None)
            if (meta is None or "TransferSyntaxUID" not in meta) and ds.original_encoding[0] is not None:
                implicit, little = ds.original_encoding
                ds.file_meta = pydicom.dataset.FileMetaDataset()
                ds.file_meta.TransferSyntaxUID = (
                    pydicom.uid.ImplicitVRLittleEndian if implicit else
                    pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian)
            arr = ds.pixel_array
            return arr.size > 0
        except Exception:
            return False


def nibabel_decodes(path: Path) -> bool:
    """Ask nibabel itself: is this a spatial image whose voxels it can read?"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = nib.load(str(path))
            if not isinstance(img, nib.spatialimages.SpatialImage):
                return False
            return np.asarray(img.dataobj).size > 0
        except Exception:
            return False


def pillow_decodes(path: Path) -> bool:
    from PIL import Image
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path) as img:
                img.load()
            return True
        except Exception:
            return False


def check_one(path: Path) -> None:
    try:
        study = open_study(path)
    except StudyError as exc:
        assert exc.reason.strip(), f"{path.name}: empty reason"
        assert path.name in str(exc)
        decodable = pydicom_decodes(path) or nibabel_decodes(path) or pillow_decodes(path)
        assert not decodable, f"{path.name} is decodable by its library but was refused: {exc}"
        return
    px = study.pixels
    assert px.dtype == np.float32
    assert px.ndim in (3, 4) and all(s > 0 for s in px.shape), px.shape
    if px.ndim == 4:
        assert px.shape[3] == 3
    assert np.all(np.isfinite(px)), f"{path.name}: non-finite pixels"
    assert all(np.isfinite(s) and s > 0 for s in study.spacing), study.spacing
    assert re.fullmatch(r"STUDY-[0-9A-F]{16}", study.pseudonym)
    assert study.description and study.modality
    assert study.header, "the header is kept for the tag browser"


@pytest.mark.parametrize("path", PYDICOM_FILES, ids=lambda p: p.name)
def test_every_pydicom_file_loads_or_is_refused_clearly(path: Path):
    check_one(path)


@pytest.mark.parametrize("path", NIBABEL_FILES, ids=lambda p: p.name)
def test_every_nibabel_file_loads_or_is_refused_clearly(path: Path):
    check_one(path)


def test_walk_covers_the_shipped_sets():
    assert len(PYDICOM_FILES) > 200          # pydicom (172) + pydicom-data (68)
    assert any(p.name == "RG1_UNCI.dcm" for p in PYDICOM_FILES)
    assert any(p.name == "example4d.nii.gz" for p in NIBABEL_FILES)


def test_dicomdir_folders_load_their_images_and_list_the_dicomdir():
    root = Path([f for f in get_testdata_files() if f.endswith("dicomdirtests")][0])
    report = open_path(root)
    assert len(report.studies) >= 3
    reasons = {p.name: r for p, r in report.failures}
    assert "DICOMDIR" in reasons and "DICOMDIR" in reasons["DICOMDIR"]
    for study in report.studies:
        assert np.all(np.isfinite(study.pixels))
