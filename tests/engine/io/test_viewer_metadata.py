"""What a radiology viewer needs from an opened study (issue 13, engine side): slice positions and
thickness, patient coordinates (checked against the DICOM header and the NIfTI affine, computed
independently here), 4-D NIfTI volumes, de-identified display fields and the slice a viewer opens on."""

from __future__ import annotations

import csv
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from medadv_desktop.engine.io import open_path, open_study
from medadv_desktop.engine.io.nifti import load_volume
from medadv_desktop.engine.io.study import clean_description, display_date
from medadv_desktop.errors import MedAdvError

from .conftest import NIBABEL_DATA, pydicom_file

REPO = Path(__file__).resolve().parents[3]


def _header_position(ds, row: float, col: float) -> np.ndarray:
    """DICOM PS3.3 C.7.6.2.1.1: P = S + col * dc * X + row * dr * Y, from the header's own values."""
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    iop = [float(v) for v in ds.ImageOrientationPatient]
    dr, dc = (float(v) for v in ds.PixelSpacing)
    return ipp + col * dc * np.array(iop[:3]) + row * dr * np.array(iop[3:])


@pytest.mark.parametrize("which", ["axial", "sagittal"])
def test_dicom_series_positions_and_patient_coordinates_match_the_headers(series_folder, which):
    slices = series_folder[which]             # anatomical order, as the reader sorts them
    study = open_study(slices[0]["path"].parent)
    if which == "sagittal":
        study = next(s for s in open_path(series_folder["folder"]).studies if s.n_slices == 4)
    headers = [pydicom.dcmread(s["path"], stop_before_pixels=True) for s in slices]
    assert study.n_slices == len(headers) and study.coordinate_frame == "LPS"
    iop = np.array([float(v) for v in headers[0].ImageOrientationPatient]).reshape(2, 3)
    normal = np.cross(iop[0], iop[1])
    expected = [float(np.dot(normal, [float(v) for v in h.ImagePositionPatient])) for h in headers]
    np.testing.assert_allclose(study.slice_positions(), expected, atol=1e-6)
    # the reader's slice order is the header order along the normal
    assert np.all(np.diff(study.slice_positions()) > 0)
    assert study.slice_thickness == pytest.approx(float(headers[0].SliceThickness))
    for k, (row, col) in [(0, (0, 0)), (1, (10, 37)), (len(headers) - 1, (127, 5.5))]:
        np.testing.assert_allclose(study.patient_position(k, row, col), _header_position(headers[k], row, col),
                                   atol=1e-6)
    # RAS is LPS with x and y negated
    lps = np.array(study.patient_position(1, 3, 4))
    np.testing.assert_allclose(study.patient_position(1, 3, 4, frame="RAS"), lps * [-1, -1, 1])
    with pytest.raises(MedAdvError):
        study.patient_position(0, 0, 0, frame="XYZ")


def test_single_dicom_file_position_and_spacing_from_its_header():
    path = pydicom_file("CT_small.dcm")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    study = open_study(path)
    assert study.spacing_known
    assert study.pixel_spacing == pytest.approx(tuple(float(v) for v in ds.PixelSpacing))
    np.testing.assert_allclose(study.patient_position(0, 20, 30), _header_position(ds, 20, 30), atol=1e-6)
    assert study.slice_position(0) == pytest.approx(float(ds.ImagePositionPatient[2]))
    assert study.slice_position(1) is None


def test_image_without_geometry_measures_in_pixels(tmp_path):
    from PIL import Image

    path = tmp_path / "grey.png"
    Image.fromarray(np.arange(64 * 48, dtype=np.uint16).reshape(48, 64).astype(np.uint8)).save(path)
    study = open_study(path)
    assert study.geometry is None and study.patient_position(0, 1, 1) is None
    assert not study.spacing_known and study.slice_positions() is None


def _index_volume(affine: np.ndarray, shape=(5, 6, 7), n_volumes: int = 1) -> nib.Nifti1Image:
    """A volume whose value at voxel (i, j, k[, t]) encodes its own index, with a given affine."""
    i, j, k = np.meshgrid(*(np.arange(s) for s in shape), indexing="ij")
    code = (i + 10 * j + 100 * k).astype(np.float32)
    data = np.stack([code + 1000 * t for t in range(n_volumes)], axis=-1) if n_volumes > 1 else code
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    return img


@pytest.mark.parametrize("source", ["reoriented_anat_moved.nii", "oblique", "flipped"])
def test_nifti_patient_coordinates_are_the_affine_of_the_voxel_shown(tmp_path, source):
    if source == "reoriented_anat_moved.nii":
        affine = nib.load(str(NIBABEL_DATA / source)).affine            # a real file's permuted affine
    elif source == "oblique":
        c, s = np.cos(0.3), np.sin(0.3)
        affine = np.array([[0.9 * c, -1.1 * s, 0, 12], [0.9 * s, 1.1 * c, 0, -40], [0, 0, 2.5, 7], [0, 0, 0, 1]])
    else:
        affine = np.array([[-1.2, 0, 0, 60], [0, 0, 2.0, -30], [0, -0.8, 0, 20], [0, 0, 0, 1]])
    path = tmp_path / "index.nii.gz"
    nib.save(_index_volume(affine), path)
    study = open_study(path, modality="MR")
    assert study.coordinate_frame == "RAS"
    rng = np.random.default_rng(0)
    for _ in range(20):
        k, r, c = (int(rng.integers(0, n)) for n in study.pixels.shape)
        code = int(study.pixels[k, r, c])
        voxel = (code % 10, (code // 10) % 10, code // 100)      # the source voxel shown at (k, r, c)
        np.testing.assert_allclose(study.patient_position(k, r, c), nib.affines.apply_affine(affine, voxel),
                                   atol=1e-4)
    # slice positions are along the slice normal and grow with the slice index
    pos = study.slice_positions()
    assert len(pos) == study.n_slices and np.all(np.diff(pos) > 0)


def test_4d_nifti_keeps_every_volume_and_reads_one_again_when_memory_is_short(tmp_path):
    path = tmp_path / "four_d.nii.gz"
    img = _index_volume(np.diag([2.0, 2.0, 3.0, 1.0]), n_volumes=4)
    img.header.set_zooms((2.0, 2.0, 3.0, 1.5))
    nib.save(img, path)
    study = open_study(path, modality="MR")
    assert study.n_volumes == 4 and study.volume_index == 0 and study.all_volumes is not None
    assert study.volume_axis is not None and study.volume_axis.is_time
    assert study.volume_axis.step == pytest.approx(1.5) and study.volume_axis.units == "s"
    v2 = study.volume(2)
    assert v2.volume_index == 2 and v2.n_volumes == 4
    np.testing.assert_array_equal(v2.pixels, study.pixels + 2000)       # volume t holds code + 1000 t
    np.testing.assert_array_equal(v2.pixels, open_study(path, volume_index=2).pixels)
    assert np.shares_memory(v2.pixels, study.all_volumes)                # a view, not a copy
    assert study.volume(0) is study
    with pytest.raises(MedAdvError, match="volumes 0 to 3"):
        study.volume(4)
    # a budget that holds one volume but not all four: only the chosen one is in memory
    one = 5 * 6 * 7
    small = load_volume(path, memory_budget=(2 * 4 * one + 8 * one) + 100, modality="MR")
    assert small.all_volumes is None and small.n_volumes == 4
    np.testing.assert_array_equal(small.volume(3).pixels, study.pixels + 3000)
    assert study.summary()["volume_axis"] == {"n": 4, "step": 1.5, "units": "s", "time": True}


def test_real_4d_nifti_volumes_match_nibabel():
    path = NIBABEL_DATA / "functional.nii"
    study = open_study(path)
    assert study.n_volumes == 20
    from medadv_desktop.engine.io.nifti import canonical_to_display

    canonical = nib.as_closest_canonical(nib.load(str(path)))
    for t in (0, 7, 19):
        np.testing.assert_allclose(study.volume(t).pixels,
                                   canonical_to_display(np.asarray(canonical.dataobj[..., t], dtype=np.float32)))


def test_display_fields_are_de_identified_by_default():
    study = open_study(pydicom_file("MR_small.dcm"))
    assert study.study_date == "20040826"
    info = study.display_info()
    assert info.study_date == "2004" and info.modality == "MR" and info.pseudonym.startswith("STUDY-")
    assert study.display_info(show_phi=True).study_date == "2004-08-26"
    assert "2004" in info.title() and "MR" in info.title() and "0826" not in info.title()
    assert "study_date" not in study.summary() and "20040826" not in str(study.summary())
    assert display_date("") == "" and display_date("garbage") == "" and display_date("2004.08.26") == "2004"
    assert clean_description("Scan 1234567 of  Jane\x00") == "Scan ####### of Jane"
    assert len(clean_description("x" * 200)) == 64


def test_nifti_description_is_withheld_unless_phi_is_shown(tmp_path):
    img = _index_volume(np.eye(4))
    img.header["descrip"] = b"T1 MPRAGE Jane Doe 19700101"
    path = tmp_path / "named.nii"
    nib.save(img, path)
    study = open_study(path)
    assert study.modality == "MR" and study.modality_evidence.source == "data"   # the description names T1
    assert study.display_info().series_description == ""
    assert "Jane" in study.display_info(show_phi=True).series_description
    assert "Jane" not in str(study.summary())


def test_demo_study_opens_on_a_slice_with_a_finding():
    folder = REPO / "resources" / "demo_study"
    study = open_study(folder)
    with (folder / "labels.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_file = {(folder / r["path"]).resolve(): r["label"] for r in rows}
    label = by_file[study.source_paths[study.default_slice].resolve()]
    assert label == "lesion", study.default_slice_reason
    assert "labels.csv" in study.default_slice_reason
    middle = study.source_paths[study.n_slices // 2].resolve()
    assert by_file[middle] != "lesion"          # so the middle slice (the old default) would show no finding


def test_series_without_labels_opens_on_its_middle_slice(series_folder):
    study = open_study(series_folder["axial"][0]["path"].parent)    # its labels.csv has no rows
    assert study.default_slice == study.n_slices // 2 and study.default_slice_reason == "middle slice"
