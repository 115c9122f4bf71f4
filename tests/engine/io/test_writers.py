"""Writers: derived images round-trip through the readers; nothing is ever overwritten."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from medadv_desktop.engine.io import open_path, open_study
from medadv_desktop.engine.io.writers import (read_float_map_png, write_float_map, write_png_preview,
                                              write_study_like)
from medadv_desktop.errors import OutputExistsError

from .conftest import NIBABEL_DATA, pydicom_file


def _perturb(study, amplitude: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    return study.pixels + rng.uniform(-amplitude, amplitude, study.pixels.shape).astype(np.float32)


def test_dicom_derived_has_new_uids_and_values_within_quantisation(tmp_path: Path):
    src = pydicom_file("CT_small.dcm")
    study = open_study(src)
    adv = _perturb(study, 8.0)
    out = write_study_like(study, adv, tmp_path, stem=f"{study.pseudonym}_fgsm", description="FGSM eps 8 HU")
    assert [p.name for p in out] == [f"{study.pseudonym}_fgsm.dcm"]
    back = open_study(out[0])
    assert back.pixels.shape == study.pixels.shape and back.units == "HU"
    assert np.abs(back.pixels - adv).max() <= 0.5 + 1e-4      # slope 1: rounding to integers
    a, b = pydicom.dcmread(src), pydicom.dcmread(out[0])
    assert b.SOPInstanceUID != a.SOPInstanceUID and b.SeriesInstanceUID != a.SeriesInstanceUID
    assert b.file_meta.MediaStorageSOPInstanceUID == b.SOPInstanceUID
    assert b.StudyInstanceUID == a.StudyInstanceUID
    assert list(b.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert b.SeriesDescription == "FGSM eps 8 HU"
    assert b.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert str(a.PatientName) not in out[0].name


def test_dicom_values_are_clipped_to_the_stored_type(tmp_path: Path):
    study = open_study(pydicom_file("CT_small.dcm"))
    extreme = study.pixels.copy()
    extreme[..., ::2] += 1e6                         # every other column far above the stored range,
    extreme[..., 1::2] -= 1e6                        # the others far below it
    out = write_study_like(study, extreme, tmp_path, stem="clip", description="clip test")
    ds = pydicom.dcmread(out[0])
    bits, signed = int(ds.BitsStored), int(ds.PixelRepresentation) == 1
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    stored = ds.pixel_array
    assert (stored[..., ::2] == high).all() and (stored[..., 1::2] == low).all()


def test_dicom_series_and_monochrome1_round_trip(tmp_path: Path, series_folder):
    report = open_path(series_folder["folder"])
    series = report.studies[0]
    adv = _perturb(series, 5.0)
    out = write_study_like(series, adv, tmp_path / "out", stem="SERIES", description="PGD")
    assert len(out) == 5 and len({pydicom.dcmread(p).SeriesInstanceUID for p in out}) == 1
    back = open_study(tmp_path / "out")
    assert np.abs(back.pixels - adv).max() <= 0.5 + 1e-4

    mono1 = open_study(pydicom_file("RG1_UNCI.dcm"))
    adv1 = mono1.pixels.copy()
    adv1[0, :10, :10] += 100
    out1 = write_study_like(mono1, adv1, tmp_path, stem="cr", description="test")
    back1 = open_study(out1[0])
    assert pydicom.dcmread(out1[0], stop_before_pixels=True).PhotometricInterpretation == "MONOCHROME1"
    np.testing.assert_allclose(back1.pixels, adv1, atol=0.5)


def test_multiframe_and_colour_round_trip(tmp_path: Path):
    mf = open_study(pydicom_file("emri_small.dcm"))
    out = write_study_like(mf, mf.pixels, tmp_path, stem="mf", description="identity")
    np.testing.assert_allclose(open_study(out[0]).pixels, mf.pixels, atol=0.5)
    pal = open_study(pydicom_file("OBXXXX1A.dcm"))
    out = write_study_like(pal, pal.pixels, tmp_path, stem="pal", description="identity")
    back = open_study(out[0])
    assert back.pixels.shape == pal.pixels.shape
    np.testing.assert_allclose(back.pixels, pal.pixels, atol=0.5)


def test_nifti_round_trip_keeps_affine(tmp_path: Path):
    import nibabel as nib

    for name in ("example4d.nii.gz", "reoriented_anat_moved.nii"):
        study = open_study(NIBABEL_DATA / name)
        adv = _perturb(study, 3.0)
        out = write_study_like(study, adv, tmp_path, stem=name.split(".")[0], description="attack")
        assert out[0].name.endswith(".nii.gz")
        back = open_study(out[0])
        np.testing.assert_allclose(back.pixels, adv, rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(nib.load(str(out[0])).affine, nib.load(str(NIBABEL_DATA / name)).affine,
                                   atol=1e-4)


def test_png_round_trip_8_and_16_bit(tmp_path: Path):
    Image.fromarray((np.arange(100, dtype=np.uint16).reshape(10, 10) * 600)).save(tmp_path / "g16.png")
    Image.fromarray(np.arange(100, dtype=np.uint8).reshape(10, 10)).save(tmp_path / "g8.jpg")
    for name in ("g16.png", "g8.jpg"):
        study = open_study(tmp_path / name)
        adv = _perturb(study, 2.0)
        out = write_study_like(study, adv, tmp_path / "out", stem=name.replace(".", "_"), description="x")
        assert out[0].suffix == ".png"
        back = open_study(out[0])
        top = 65535 if name == "g16.png" else 255
        np.testing.assert_allclose(back.pixels, np.clip(adv, 0, top), atol=0.5 + 1e-4)
        assert back.native.bit_depth == study.native.bit_depth


def test_writers_refuse_to_overwrite(tmp_path: Path):
    study = open_study(pydicom_file("CT_small.dcm"))
    write_study_like(study, study.pixels, tmp_path, stem="same", description="x")
    before = (tmp_path / "same.dcm").read_bytes()
    with pytest.raises(OutputExistsError):
        write_study_like(study, study.pixels + 1, tmp_path, stem="same", description="x")
    assert (tmp_path / "same.dcm").read_bytes() == before
    write_png_preview(np.zeros((4, 4)), tmp_path / "p.png")
    with pytest.raises(OutputExistsError):
        write_png_preview(np.zeros((4, 4)), tmp_path / "p.png")
    with pytest.raises(ValueError):
        write_study_like(study, study.pixels[:, :10], tmp_path, stem="bad", description="x")


def test_png_preview_and_float_maps(tmp_path: Path):
    img = np.linspace(0, 1, 30, dtype=np.float32).reshape(5, 6)
    p = write_png_preview(img, tmp_path / "prev.png")
    arr = np.asarray(Image.open(p))
    assert arr.dtype == np.uint8 and arr[0, 0] == 0 and arr[-1, -1] == 255
    rgb = write_png_preview(np.ones((3, 5, 6)) * 0.5, tmp_path / "rgb.png")
    assert np.asarray(Image.open(rgb)).shape == (5, 6, 3)

    delta = np.random.default_rng(1).normal(0, 3, (5, 6)).astype(np.float32)
    png, side = write_float_map(delta, tmp_path / "delta.png", units="HU")
    assert side.name == "delta.json"
    back = read_float_map_png(png)
    scale = (delta.max() - delta.min()) / 65535
    assert np.abs(back - delta).max() <= scale / 2 + 1e-6

    vol = np.random.default_rng(2).normal(0, 1, (3, 5, 6)).astype(np.float32)
    (nii,) = write_float_map(vol, tmp_path / "delta.nii.gz", spacing=(2.0, 0.5, 0.7))
    s = open_study(nii)
    np.testing.assert_allclose(s.pixels, vol, rtol=1e-6)
    assert s.spacing == pytest.approx((2.0, 0.5, 0.7))
    with pytest.raises(OutputExistsError):
        write_float_map(vol, tmp_path / "delta.nii.gz")


def test_synthetic_demo_flag_is_read_and_kept_by_the_writer(tmp_path: Path):
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ds.SeriesDescription = "MedAdv synthetic demo data - not for clinical use"
    ds.save_as(tmp_path / "demo.dcm")
    study = open_study(tmp_path / "demo.dcm")
    assert study.synthetic and not open_study(pydicom_file("CT_small.dcm")).synthetic
    out = write_study_like(study, study.pixels, tmp_path / "out", stem="d", description="FGSM")
    assert open_study(out[0]).synthetic
