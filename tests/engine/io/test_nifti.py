"""NIfTI and other nibabel volumes: 3-D/4-D, canonical display orientation, spacing, bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medadv_desktop.engine.io import open_path, open_study
from medadv_desktop.engine.io.nifti import canonical_to_display, display_to_canonical
from medadv_desktop.errors import CorruptStudyError, UnsupportedStudyError

from .conftest import NIBABEL_DATA


def test_example4d_volumes_spacing_and_description():
    path = NIBABEL_DATA / "example4d.nii.gz"
    img = nib.load(str(path))
    assert img.shape == (128, 96, 24, 2)
    s0 = open_study(path)
    s1 = open_study(path, volume_index=1)
    assert s0.source_format == "nifti" and s0.modality == "MR"
    assert s0.pixels.shape == (24, 96, 128)                 # (slices, rows, cols)
    zooms = img.header.get_zooms()[:3]
    assert s0.spacing == pytest.approx((zooms[2], zooms[1], zooms[0]), rel=1e-4)
    assert "volume 1 of 2" in s0.description and "volume 2 of 2" in s1.description
    assert not np.array_equal(s0.pixels, s1.pixels)
    canonical = nib.as_closest_canonical(img)
    expected = canonical_to_display(np.asarray(canonical.dataobj[..., 1], dtype=np.float32))
    np.testing.assert_allclose(s1.pixels, expected, rtol=1e-6)
    assert s0.orientation == ("R", "L", "A", "P")


def test_volume_index_out_of_range_is_explained():
    with pytest.raises(UnsupportedStudyError, match="holds 2 volume"):
        open_study(NIBABEL_DATA / "example4d.nii.gz", volume_index=5)


def test_reoriented_volume_matches_as_closest_canonical():
    path = NIBABEL_DATA / "reoriented_anat_moved.nii"
    img = nib.load(str(path))
    canonical = nib.as_closest_canonical(img)
    study = open_study(path)
    np.testing.assert_allclose(study.pixels, canonical_to_display(canonical.get_fdata(dtype=np.float32)))


def test_display_convention_anterior_top_patient_right_left(tmp_path: Path):
    """A voxel at the patient's right-anterior corner shows at the top-left of the display."""
    data = np.zeros((4, 5, 3), dtype=np.float32)
    data[3, 4, 1] = 1.0             # i max = most Right, j max = most Anterior, slice k = 1
    path = tmp_path / "corner.nii"
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 3.0, 4.0, 1.0])), str(path))
    study = open_study(path)
    assert study.pixels.shape == (3, 5, 4)
    assert study.pixels[1, 0, 0] == 1.0
    assert study.spacing == pytest.approx((4.0, 3.0, 2.0))
    np.testing.assert_array_equal(display_to_canonical(study.pixels), data)


def test_scaling_is_applied_and_nan_voxels_are_zeroed(tmp_path: Path):
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(2.0, -5.0)
    path = tmp_path / "scaled.nii.gz"
    nib.save(img, str(path))
    study = open_study(path)
    assert study.pixels.min() == -5.0 and study.pixels.max() == 2.0 * 23 - 5
    nan = np.zeros((3, 3, 2), dtype=np.float32)
    nan[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(nan, np.eye(4)), str(tmp_path / "nan.nii"))
    s = open_study(tmp_path / "nan.nii")
    assert np.all(np.isfinite(s.pixels)) and "non-finite" in s.description


def test_truncated_nii_gz_is_corrupt(tmp_path: Path):
    data = (NIBABEL_DATA / "example4d.nii.gz").read_bytes()
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptStudyError) as info:
        open_study(path)
    assert "cut.nii.gz" in str(info.value) and info.value.reason


def test_header_pair_without_data_file_names_it():
    with pytest.raises(CorruptStudyError, match="nifti1.img"):
        open_study(NIBABEL_DATA / "nifti1.hdr")


def test_cifti_is_not_an_image():
    with pytest.raises(UnsupportedStudyError, match="not an image volume"):
        open_study(NIBABEL_DATA / "row_major.dconn.nii")


def test_header_fields_mark_free_text_as_phi(tmp_path: Path):
    img = nib.Nifti1Image(np.zeros((2, 2, 2), dtype=np.float32), np.eye(4))
    img.header["descrip"] = b"Jane Doe 1970"
    nib.save(img, str(tmp_path / "d.nii"))
    study = open_study(tmp_path / "d.nii")
    fields = {e.keyword: e for e in study.header}
    assert fields["descrip"].is_phi and "Jane" in fields["descrip"].value
    assert not fields["dim"].is_phi
    assert "Jane" not in study.description and "Jane" not in repr(study.summary())


def test_gzip_that_is_not_nifti_is_explained(tmp_path: Path):
    path = tmp_path / "notes.gz"
    path.write_bytes(gzip.compress(b"hello"))
    with pytest.raises(UnsupportedStudyError, match="gzip"):
        open_study(path)


def test_folder_of_nibabel_data_loads_pairs_once():
    report = open_path(NIBABEL_DATA)
    names = [s.source_paths[0].name for s in report.studies]
    assert "example4d.nii.gz" in names and "anatomical.nii" in names
    assert len(names) == len(set(names))
    assert not {"example4d+orig.BRIK.gz", "phantom_EPI_asc_CLEAR_2_1.REC"} & set(names)
    assert any(p.name == "simple.trk" for p, _ in report.failures)
