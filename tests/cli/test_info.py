"""`medadv info` on a DICOM file, a DICOM series folder and a 4-D NIfTI; no PHI by default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medadv_desktop.cli.main import main

from tests.engine.io.conftest import series_folder  # noqa: F401  (fixture)

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))
EXAMPLE4D = Path(nibabel.__file__).parent / "tests" / "data" / "example4d.nii.gz"


def test_info_ct_small(capsys):
    assert main(["info", str(CT_SMALL)]) == 0
    out = capsys.readouterr().out
    assert "modality:    CT" in out
    assert "1 x 128 x 128" in out
    assert "5 x 0.6615 x 0.6615 mm" in out
    assert "units:       HU" in out
    assert "Brain 40/80" in out and "Lung -600/1500" in out
    assert "STUDY-" in out
    ds = pydicom.dcmread(CT_SMALL)
    for phi in (str(ds.PatientName), str(ds.PatientID), str(ds.StudyInstanceUID), str(ds.InstitutionName)):
        assert phi not in out


def test_info_tags_hide_phi_unless_asked(capsys):
    ds = pydicom.dcmread(CT_SMALL)
    assert main(["info", str(CT_SMALL), "--tags"]) == 0
    hidden = capsys.readouterr().out
    assert "PatientName" in hidden and str(ds.PatientName) not in hidden
    assert str(ds.SOPInstanceUID) not in hidden and "<hidden: identifying>" in hidden
    assert main(["info", str(CT_SMALL), "--tags", "--show-phi"]) == 0
    shown = capsys.readouterr().out
    assert str(ds.PatientName) in shown and str(ds.SOPInstanceUID) in shown


def test_info_series_folder_lists_failures(capsys, series_folder):  # noqa: F811
    assert main(["info", str(series_folder["folder"])]) == 0
    out = capsys.readouterr().out
    assert "2 studies found, 2 file(s) not read" in out
    assert "5 x 128 x 128" in out and "4 x 128 x 128" in out
    assert "2.5 x 0.6615 x 0.6615 mm" in out
    assert "img999.dcm: the file ends before its pixel data is complete" in out
    assert "notes.dat:" in out
    assert "labels.csv" not in out  # side-car files are skipped silently


def test_info_example4d_json_and_volume(capsys):
    assert main(["info", str(EXAMPLE4D), "--json", "--volume", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    (study,) = data["studies"]
    assert study["format"] == "nifti" and study["modality"] == "MR"
    assert study["shape"] == [24, 96, 128]
    assert study["spacing_mm"] == pytest.approx([2.2, 2.0, 2.0], abs=1e-3)
    assert "volume 2 of 2" in study["description"]


def test_info_bad_file_exits_2_with_reason(tmp_path: Path):
    bad = tmp_path / "half.dcm"
    data = CT_SMALL.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    proc = subprocess.run([sys.executable, "-m", "medadv_desktop", "info", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "half.dcm" in proc.stderr and "pixel data is complete" in proc.stderr
    assert "Traceback" not in proc.stderr
