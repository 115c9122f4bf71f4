"""DICOM reading: single files, multi-frame, colour, MONOCHROME1, series folders, bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

from medadv_desktop.engine.io import open_path, open_study
from medadv_desktop.engine.io.dicom import CT_DEFAULT_PRESETS
from medadv_desktop.errors import CorruptStudyError, StudyError, UnsupportedStudyError

from .conftest import pydicom_file


def test_ct_small_is_ct_in_hu_with_spacing_presets_and_labels():
    study = open_study(pydicom_file("CT_small.dcm"))
    assert study.source_format == "dicom"
    assert study.modality == "CT" and study.units == "HU"
    assert study.pixels.shape == (1, 128, 128) and study.pixels.dtype == np.float32
    assert study.spacing == pytest.approx((5.0, 0.661468, 0.661468))
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(study.pixels[0], expected.astype(np.float32))
    assert -1100 < study.pixels.min() < -800 and 500 < study.pixels.max() < 3000   # air .. bone
    names = {p.name: (p.center, p.width) for p in study.presets}
    assert names["Brain"] == (40, 80) and names["Soft tissue"] == (40, 400)
    assert names["Lung"] == (-600, 1500) and names["Bone"] == (480, 2500)
    assert study.orientation == ("R", "L", "A", "P")
    assert study.pseudonym.startswith("STUDY-") and "CT_small" not in study.description


def test_header_marks_phi_and_summary_has_none():
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    study = open_study(pydicom_file("CT_small.dcm"))
    by_keyword = {e.keyword: e for e in study.header}
    for key in ("PatientName", "PatientID", "StudyInstanceUID", "SOPInstanceUID", "InstitutionName"):
        assert by_keyword[key].is_phi, key
    assert not by_keyword["Modality"].is_phi and not by_keyword["SOPClassUID"].is_phi
    assert by_keyword["PixelData"].value.startswith("<pixel data")
    text = repr(study.summary()) + study.description + study.pseudonym
    for secret in (str(ds.PatientName), str(ds.PatientID), str(ds.StudyInstanceUID)):
        assert secret and secret not in text


def test_multi_valued_window_presets_with_explanations():
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    study = open_study(pydicom_file("MR_small.dcm"))
    assert study.presets[0].center == pytest.approx(float(ds.WindowCenter))
    assert not any(p in study.presets for p in CT_DEFAULT_PRESETS)


def test_emri_small_has_ten_frames():
    study = open_study(pydicom_file("emri_small.dcm"))
    assert study.pixels.shape == (10, 64, 64)
    assert study.modality == "MR"


def test_enhanced_multiframe_ct_uses_functional_groups():
    study = open_study(pydicom_file("eCT_Supplemental.dcm"))
    assert study.pixels.shape == (2, 512, 512)
    assert study.units == "HU" and study.pixels.min() >= -1100
    assert study.spacing[1] == pytest.approx(0.388672, rel=1e-4)


def test_monochrome1_is_inverted_so_bright_means_dense():
    path = pydicom_file("RG1_UNCI.dcm")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    raw = ds.pixel_array.astype(np.float64)[::8, ::8]
    study = open_study(path)
    px = study.pixels[0].astype(np.float64)[::8, ::8]
    assert np.corrcoef(raw.ravel(), px.ravel())[0, 1] == pytest.approx(-1.0, abs=1e-6)
    bits = int(ds.BitsStored)
    np.testing.assert_allclose(px, (2 ** bits - 1) - raw)


def test_ybr_is_converted_to_rgb():
    ybr = open_study(pydicom_file("SC_ybr_full_uncompressed.dcm"))
    rgb = open_study(pydicom_file("SC_rgb.dcm"))
    assert ybr.pixels.shape == rgb.pixels.shape == (1, 100, 100, 3)
    diff = np.abs(ybr.pixels - rgb.pixels)
    assert diff.max() <= 8 and diff.mean() < 1.0            # colour conversion rounding only


def test_palette_colour_is_expanded():
    study = open_study(pydicom_file("OBXXXX1A.dcm"))
    assert study.pixels.shape == (1, 600, 800, 3)
    assert 0 <= study.pixels.min() and study.pixels.max() <= 255
    assert study.is_color and study.channels == 3


def test_compressed_transfer_syntaxes_match_uncompressed():
    ref = open_study(pydicom_file("MR_small.dcm")).pixels
    for name in ("MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
                 "MR_small_bigendian.dcm", "MR_small_implicit.dcm"):
        np.testing.assert_array_equal(open_study(pydicom_file(name)).pixels, ref, err_msg=name)


def test_undecodable_compression_names_the_transfer_syntax(tmp_path: Path):
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"   # MPEG2 video: no decoder
    path = tmp_path / "video.dcm"
    ds.save_as(path)
    with pytest.raises(UnsupportedStudyError) as info:
        open_study(path)
    assert "MPEG2" in info.value.reason and "1.2.840.10008.1.2.4.100" in info.value.reason


def test_truncated_ct_small_says_pixel_data_is_incomplete(tmp_path: Path):
    data = pydicom_file("CT_small.dcm").read_bytes()
    path = tmp_path / "half.dcm"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptStudyError) as info:
        open_study(path)
    assert "ends before its pixel data is complete" in info.value.reason
    assert "half.dcm" in str(info.value) and info.value.hint


def test_random_bytes_and_empty_file_are_refused(tmp_path: Path):
    rnd = tmp_path / "random.dcm"
    rnd.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(StudyError) as info:
        open_study(rnd)
    assert "not a DICOM file" in info.value.reason
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(CorruptStudyError) as info:
        open_study(empty)
    assert "empty" in info.value.reason
    with pytest.raises(StudyError, match="does not exist"):
        open_study(tmp_path / "missing.dcm")


def test_no_pixel_data_is_unsupported_with_reason():
    with pytest.raises(UnsupportedStudyError) as info:
        open_study(pydicom_file("rtplan.dcm"))
    assert "contains no image" in info.value.reason


def test_file_without_meta_header_still_loads():
    study = open_study(pydicom_file("OT-PAL-8-face.dcm"))
    assert study.pixels.shape == (1, 480, 640, 3)


def test_series_folder_groups_sorts_and_lists_failures(series_folder):
    report = open_path(series_folder["folder"])
    assert len(report.studies) == 2
    axial, sagittal = report.studies
    raw = series_folder["raw"]
    # axial: 5 slices sorted by position (instance numbers are reversed, file names shuffled)
    assert axial.pixels.shape == (5, 128, 128)
    assert axial.spacing == pytest.approx((2.5, 0.661468, 0.661468))
    assert axial.units == "HU"
    for k in range(5):   # slice k holds raw + 10*k stored, intercept -1024
        np.testing.assert_array_equal(axial.pixels[k], raw + 10 * k - 1024)
    assert [p.name for p in axial.source_paths] == [d["path"].name for d in series_folder["axial"]]
    # sagittal: normal (-1, 0, 0); positions x = 0, -3, -6, -9 -> d = 0, 3, 6, 9
    assert sagittal.pixels.shape == (4, 128, 128)
    assert sagittal.spacing[0] == pytest.approx(3.0)
    for k in range(4):
        np.testing.assert_array_equal(sagittal.pixels[k], raw + 10 * k - 1024)
    assert sagittal.orientation == ("A", "P", "H", "F")
    assert axial.pseudonym != sagittal.pseudonym
    reasons = {p.name: r for p, r in report.failures}
    assert set(reasons) == {"img999.dcm", "notes.dat"}
    assert "pixel data is complete" in reasons["img999.dcm"]
    assert "not a DICOM file" in reasons["notes.dat"]


def test_open_study_on_a_folder_returns_the_first_series(series_folder):
    study = open_study(series_folder["folder"])
    assert study.n_slices == 5


def test_folder_with_only_bad_files_raises(tmp_path: Path):
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(UnsupportedStudyError):
        open_study(tmp_path)
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(UnsupportedStudyError, match="no image files"):
        open_study(empty)
    assert open_path(empty).studies == []


def test_duplicate_instances_are_skipped(series_folder):
    folder = series_folder["folder"]
    src = series_folder["axial"][0]["path"]
    shutil.copyfile(src, folder / "copy_of_first.dcm")
    report = open_path(folder)
    assert report.studies[0].n_slices == 5
    assert any("copy" in r for _, r in report.failures)


def test_open_path_job_reports_progress_and_cancels(series_folder):
    from medadv_desktop.engine.io import open_path_job
    from medadv_desktop.engine.jobs import CancelToken, run_job
    from medadv_desktop.errors import JobCancelled

    events = []
    report = run_job(open_path_job(series_folder["folder"]), events.append)
    assert len(report.studies) == 2 and events
    assert all(e.stage == "open" and "img" not in e.message for e in events)
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        run_job(open_path_job(series_folder["folder"], cancel=token))


def test_header_listing_and_data_set_reading_leave_no_garbage_cycles():
    """The tag list of a file is freed by reference counting alone, and a labelled data set keeps no
    header elements or pydicom objects: with the GUI's collector paused during a job, cycles per file
    (the old recursive closure in header_elements) piled up to ~700 000 objects and a 200-360 ms
    collection after a training run."""
    import gc
    import shutil
    import tempfile
    from pathlib import Path

    from pydicom.data import get_testdata_file

    from medadv_desktop.engine.datasets import LabelledDataset
    from medadv_desktop.engine.io.dicom import header_elements, read_dataset

    ds = read_dataset(Path(get_testdata_file("CT_small.dcm")))
    was = gc.isenabled()
    gc.disable()
    try:
        assert header_elements(ds)
        gc.collect()
        before = len(gc.get_objects())
        for _ in range(20):
            header_elements(ds)
        assert len(gc.get_objects()) - before < 20           # nothing left behind for the collector
    finally:
        if was:
            gc.enable()
    root = Path(tempfile.mkdtemp())
    try:
        for cls in ("a", "b"):
            (root / cls).mkdir()
            shutil.copy(get_testdata_file("CT_small.dcm"), root / cls / "x.dcm")
        data = LabelledDataset.from_folder(root, ["a", "b"])
        assert all(s.header == [] and s.native is None for s in data.studies)
        assert all(s.modality == "CT" and s.units == "HU" for s in data.studies)
    finally:
        shutil.rmtree(root)
