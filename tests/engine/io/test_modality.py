"""Modality of a study (issue 13): NIfTI modality from its data and header, the user's modality on
open, and the burned-in annotation flag (BurnedInAnnotation, modality and SOP class as cues)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from medadv_desktop.engine.io import CT_DEFAULT_PRESETS, normalize_modality, open_path, open_study
from medadv_desktop.engine.io.nifti import infer_modality
from medadv_desktop.errors import MedAdvError

from .conftest import NIBABEL_DATA, pydicom_file


@pytest.fixture(scope="module")
def real_ct_hu() -> np.ndarray:
    """One real CT slice in HU (pydicom-data 693_UNCR.dcm: air, soft tissue, bone, -3024 padding)."""
    study = open_study(pydicom_file("693_UNCR.dcm"))
    assert study.modality == "CT" and study.units == "HU"
    return study.pixels[0]


def _ct_nifti(folder: Path, hu: np.ndarray, *, descrip: bytes = b"", name: str = "ct.nii.gz") -> Path:
    """A CT volume as NIfTI (int16 HU, 3 slices), the way converters write it: no modality field."""
    vol = np.stack([hu, hu, hu], axis=-1).transpose(1, 0, 2)[:, ::-1].astype(np.int16)   # (I, J, K)
    img = nib.Nifti1Image(vol, np.diag([0.7, 0.7, 2.0, 1.0]))
    img.header["descrip"] = descrip
    path = folder / name
    nib.save(img, path)
    return path


def test_ct_nifti_is_recognised_from_its_values_and_gets_hu_and_ct_presets(tmp_path, real_ct_hu):
    study = open_study(_ct_nifti(tmp_path, real_ct_hu))
    ev = study.modality_evidence
    assert study.modality == "CT" and ev.source == "data" and ev.level == "high"
    assert study.units == "HU"
    assert [p.name for p in study.presets] == [p.name for p in CT_DEFAULT_PRESETS]
    assert any("air" in r for r in ev.reasons)
    assert "inferred from the data" in ev.describe()
    assert study.display_info().modality_note.startswith("inferred")


def test_real_mr_niftis_are_not_called_ct():
    for name in ("anatomical.nii", "example4d.nii.gz", "functional.nii", "standard.nii.gz"):
        study = open_study(NIBABEL_DATA / name)
        assert study.modality == "MR" and study.units == "" and not study.presets, name
    # a time series counts as MR evidence
    assert open_study(NIBABEL_DATA / "functional.nii").modality_evidence.confidence > \
        open_study(NIBABEL_DATA / "anatomical.nii").modality_evidence.confidence


def test_header_cues_description_intent_and_ct_storage_offset(tmp_path, real_ct_hu):
    # a description naming the modality wins over values that alone look like MR
    mr_values = np.abs(real_ct_hu) + 10.0
    hdr = nib.Nifti1Header()
    hdr["descrip"] = b"CTA head"
    assert infer_modality(hdr, mr_values).modality == "CT"
    hdr["descrip"] = b"T2 FLAIR"
    assert infer_modality(hdr, mr_values).modality == "MR"
    # scl_inter = -1024 with slope 1 is the usual unsigned storage of CT numbers
    hdr = nib.Nifti1Header()
    hdr.set_slope_inter(1.0, -1024.0)
    ev = infer_modality(hdr, np.zeros(10))
    assert ev.modality == "CT" and any("scl_inter" in r for r in ev.reasons)
    # a statistical map (intent code) is not an image of a modality
    hdr = nib.Nifti1Header()
    hdr.set_intent("z score")
    assert infer_modality(hdr, real_ct_hu).modality == "OT"
    # no cue at all: MR assumed, low confidence, said so
    ev = infer_modality(nib.Nifti1Header(), np.zeros(10))
    assert (ev.modality, ev.source, ev.level) == ("MR", "default", "low")
    # a description naming CT on disk, even with values that alone say nothing
    path = _ct_nifti(tmp_path, np.full_like(real_ct_hu, 40.0), descrip=b"CT abdomen")
    assert open_study(path).modality == "CT"


def test_user_modality_overrides_the_inferred_one(tmp_path, real_ct_hu):
    path = _ct_nifti(tmp_path, real_ct_hu)
    as_mr = open_study(path, modality="mri")
    assert as_mr.modality == "MR" and as_mr.units == "" and not as_mr.presets
    assert as_mr.modality_evidence.source == "user" and as_mr.display_info().modality_note == "set by the user"
    mr_as_ct = open_study(NIBABEL_DATA / "anatomical.nii", modality="CT")
    assert mr_as_ct.modality == "CT" and mr_as_ct.units == "HU" and mr_as_ct.presets
    assert mr_as_ct.description.startswith("CT")
    # the user's modality also holds for every study of a folder, and for another volume of a 4-D file
    report = open_path(tmp_path, modality="PT")
    assert [s.modality for s in report.studies] == ["PT"]
    four_d = open_study(NIBABEL_DATA / "example4d.nii.gz", modality="CT")
    assert four_d.volume(1).modality == "CT" and four_d.volume(1).units == "HU"


def test_user_modality_on_a_dicom_and_on_a_png(tmp_path):
    ct = open_study(pydicom_file("CT_small.dcm"), modality="MR")
    assert ct.modality == "MR" and ct.units == "" and not any(p in ct.presets for p in CT_DEFAULT_PRESETS)
    png = tmp_path / "slice.png"
    Image.fromarray(np.arange(4096, dtype=np.uint16).reshape(64, 64).astype(np.uint8)).save(png)
    as_ct = open_study(png, modality="CT")
    assert as_ct.modality == "CT" and as_ct.units == ""      # 8-bit grey values are not HU


def test_bad_modality_codes_are_one_clear_error():
    assert normalize_modality(" ct ") == "CT" and normalize_modality("PET") == "PT"
    for bad in ("", "brain", "C T", "x" * 500):
        with pytest.raises(MedAdvError, match="not a DICOM modality code") as info:
            normalize_modality(bad)
        assert len(str(info.value)) < 200
    with pytest.raises(MedAdvError):
        open_study(pydicom_file("CT_small.dcm"), modality="XYZ")


# --------------------------------------------------------------------------- burned-in annotation

def test_ultrasound_is_flagged_for_burned_in_text():
    study = open_study(pydicom_file("US1_J2KR.dcm"))       # shows "BAPTIST MED CTR" burned into the pixels
    assert study.modality == "US" and study.burned_in_annotation
    assert "ultrasound" in study.burned_in_reason
    assert study.summary()["burned_in_annotation"] is True


def test_burned_in_annotation_tag_decides(tmp_path):
    ds = pydicom.dcmread(pydicom_file("US1_UNCR.dcm"))
    ds.BurnedInAnnotation = "NO"
    no = tmp_path / "us_no.dcm"
    ds.save_as(no, enforce_file_format=True)
    assert not open_study(no).burned_in_annotation
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    assert not open_study(pydicom_file("CT_small.dcm")).burned_in_annotation
    ds.BurnedInAnnotation = "YES"
    yes = tmp_path / "ct_yes.dcm"
    ds.save_as(yes, enforce_file_format=True)
    flagged = open_study(yes)
    assert flagged.burned_in_annotation and "BurnedInAnnotation = YES" in flagged.burned_in_reason


def test_secondary_capture_and_colour_images_are_flagged_grey_images_are_not(tmp_path):
    assert open_study(pydicom_file("SC_rgb.dcm")).burned_in_annotation           # Secondary Capture SOP class
    rgb = tmp_path / "capture.png"
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(rgb)
    grey = tmp_path / "xray.png"
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(grey)
    assert open_study(rgb).burned_in_annotation
    assert not open_study(grey).burned_in_annotation
