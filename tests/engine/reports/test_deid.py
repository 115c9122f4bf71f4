"""De-identification: no patient identifiers or UIDs in reports, logs or file names."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pypdf import PdfReader

from medadv_desktop.engine.jobs import run_job
from medadv_desktop.engine.reports import export_reports_job, scrub, scrub_text
from medadv_desktop.engine.reports.deid import UID_REPLACEMENT, check_output_name
from medadv_desktop.engine.results import ExamplePanel
from medadv_desktop.errors import ReportError
from tests.engine.reports.fixtures import make_before_after, make_result, study_pseudonym

MARKER_NAME = "MARKER^PHI^12345"
MARKER_ID = "PHI-ID-98765"
MARKER_ACCESSION = "ACC-55501"
MARKER_INSTITUTION = "St Marker Hospital"
MARKER_BIRTH = "19420101"


@pytest.fixture
def marked_dicom(tmp_path):
    """pydicom's CT_small.dcm with identifying fields set to known markers."""
    folder = tmp_path / "MARKER^PHI^12345" / "lesion"      # patient name in the folder name too
    folder.mkdir(parents=True)
    path = folder / "ct.dcm"
    shutil.copy(get_testdata_file("CT_small.dcm"), path)
    ds = pydicom.dcmread(path)
    ds.PatientName = MARKER_NAME
    ds.PatientID = MARKER_ID
    ds.AccessionNumber = MARKER_ACCESSION
    ds.InstitutionName = MARKER_INSTITUTION
    ds.PatientBirthDate = MARKER_BIRTH
    ds.save_as(path)
    uids = [str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)]
    return path, ds, uids


def forbidden(uids):
    return [MARKER_NAME, "MARKER PHI", MARKER_ID, MARKER_ACCESSION, MARKER_INSTITUTION, MARKER_BIRTH, *uids]


def study_view(path, ds):
    """(pseudonym, [0, 1] pixels) via the io reader when present, else pydicom."""
    try:
        from medadv_desktop.engine.io import open_study
    except ImportError:
        hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        return study_pseudonym(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)), hu
    study = open_study(path)
    return study.pseudonym, study.pixels[0]


def test_scrub_text_removes_uids():
    text = "series 1.2.840.113619.2.55.3.604688119 of study 1.3.6.1.4.1.9590.100.1.2.1"
    out = scrub_text(text)
    assert "1.2.840" not in out and "1.3.6.1" not in out and out.count(UID_REPLACEMENT) == 2
    assert scrub_text("eps 0.0078, torch 2.13.0, 87.5 %") == "eps 0.0078, torch 2.13.0, 87.5 %"
    assert "DOE" not in scrub_text("reader DOE JOHN", phi_values=["DOE^JOHN"])


def test_scrub_drops_identifying_keys_and_paths():
    obj = {"PatientName": "X", "patient_id": "Y", "study_uid": "1.2.3.4.5", "AccessionNumber": "A",
           "nested": [{"InstitutionName": "H", "ok": "note 1.2.3.4.5.6"}], "data_dir": "/data/DOE_JOHN",
           "n": 3}
    out = scrub(obj)
    assert out == {"nested": [{"ok": f"note {UID_REPLACEMENT}"}], "data_dir": "[path withheld]", "n": 3}
    assert scrub(obj, include_phi=True) is obj


def test_output_name_with_uid_refused(tmp_path):
    with pytest.raises(ReportError):
        check_output_name(tmp_path / "report-1.2.840.113619.2.55.3.pdf")
    check_output_name(tmp_path / "report-1.2.840.113619.2.55.3.pdf", include_phi=True)


def test_marked_dicom_leaves_no_trace(marked_dicom, tmp_path, caplog):
    path, ds, uids = marked_dicom
    pseudonym, pixels = study_view(path, ds)
    for value in forbidden(uids):
        assert value not in pseudonym
    result = make_result(sample_prefix=pseudonym)
    # the study's real pixels as example panels
    unit = np.clip((np.asarray(pixels, dtype=np.float64) + 160) / 400, 0, 1)[::2, ::2]
    adv = np.clip(unit + 2 / 255 * np.sign(np.sin(np.arange(unit.shape[1])))[None, :], 0, 1)
    result.examples = [ExamplePanel(f"{pseudonym}/slice-000", "fgsm", 2 / 255, 1, 1, 0, 0.9, 0.7,
                                    unit.tolist(), adv.tolist(), 400.0)]
    # identifiers leaking in through careless upstream code: defence in depth must remove them
    # (the typed summaries hold no free keys; attack parameters and every text field can)
    result.attack_info[0].params.update({"PatientName": MARKER_NAME, "StudyInstanceUID": uids[0],
                                         "source_paths": [str(path)], "data_dir": str(path.parent.parent),
                                         "note": f"series {uids[1]} image {uids[2]}"})
    result.attack_info[1].params.update({"AccessionNumber": MARKER_ACCESSION, "institution": MARKER_INSTITUTION,
                                         "PatientBirthDate": MARKER_BIRTH, "PatientID": MARKER_ID})
    result.provenance.threat_model += f" (series {uids[1]} image {uids[2]})"
    result.dataset.name += f" {uids[0]}"
    result.flags[0].explanation += f" (seen on {uids[2]})"
    result.model.name += f" {uids[0]}"

    out = tmp_path / "out"
    caplog.set_level(logging.DEBUG)
    written = run_job(export_reports_job(
        result, pdf=out / "report.pdf", csv=out / "samples.csv", summary_csv=out / "summary.csv",
        json=out / "report.json", before_after=make_before_after(result)))
    assert len(written) == 4
    texts = {p.name: p.read_bytes().decode("latin-1") for p in written}
    texts["report.pdf (text)"] = "\n".join(pg.extract_text() for pg in PdfReader(str(out / "report.pdf")).pages)
    texts["log"] = "\n".join(r.getMessage() for r in caplog.records)
    texts["file names"] = " ".join(p.name for p in written)
    assert pseudonym in texts["samples.csv"] and pseudonym in texts["report.pdf (text)"]
    for where, text in texts.items():
        for value in forbidden(uids):
            assert value not in text, (value, where)
        assert "1.2.840" not in text, where
    assert "[path withheld]" in texts["report.json"]


def test_include_phi_opt_in_keeps_values(marked_dicom, tmp_path):
    path, ds, uids = marked_dicom
    result = make_result()
    result.attack_info[0].params["StudyInstanceUID"] = uids[0]
    written = run_job(export_reports_job(result, json=tmp_path / "r.json", include_phi=True))
    assert uids[0] in written[0].read_text()


def test_one_phi_vocabulary_for_headers_and_reports():
    """The reports' key check and the viewer's tag check read the same vocabulary (engine/io/deid.py)."""
    from medadv_desktop.engine.io import deid as io_deid
    from medadv_desktop.engine.reports import deid as report_deid

    assert report_deid.is_phi_key is io_deid.is_phi_key
    for keyword in io_deid.PHI_KEYWORDS:                  # every DICOM/NIfTI keyword, in any spelling
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in keyword).lstrip("_")
        assert io_deid.is_phi_key(keyword) and io_deid.is_phi_key(snake), keyword
    for key in ("dob", "date_of_birth", "accession", "institution", "study_uid", "SeriesInstanceUID", "uids"):
        assert io_deid.is_phi_key(key), key
    for key in ("fluid", "name", "n_samples", "sha256", "attack", "description"):
        assert not io_deid.is_phi_key(key), key
    # sex and age: shown in the viewer's tag browser, withheld from reports
    assert not io_deid.is_phi("PatientSex", 0x00100040)
    assert io_deid.is_phi_key("PatientSex") and io_deid.is_phi_key("patient_age")
    assert scrub({"PatientSex": "F", "patient_age": "042Y", "n": 3}) == {"n": 3}
