"""The CLI side of issue 13: ``--modality``, ``--strict-modality``, ``--volume`` of attack, and what
``medadv info`` shows a radiologist (modality and how it was found, slice positions and thickness,
4-D time axis, the slice it opens on, burned-in warning)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel
import numpy as np
import pytest
from pydicom.data import get_testdata_file

from medadv_desktop.cli.main import main

from tests.conftest import make_tiny_card

REPO = Path(__file__).resolve().parents[2]
NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"
MR_SMALL = Path(get_testdata_file("MR_small.dcm"))


@pytest.fixture(scope="module")
def ct_card(tmp_path_factory) -> Path:
    return make_tiny_card(tmp_path_factory.mktemp("ct_card"), format="torchscript", modality="CT")


def test_info_shows_how_the_modality_was_found_and_the_user_can_set_it(capsys):
    path = NIBABEL_DATA / "anatomical.nii"
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "modality:    MR (inferred from the data" in out and "units:       (unspecified)" in out
    assert main(["info", str(path), "--modality", "CT", "--json"]) == 0
    study = json.loads(capsys.readouterr().out)["studies"][0]
    assert study["modality"] == "CT" and study["units"] == "HU" and study["modality_source"] == "user"
    assert {"Soft tissue", "Lung"} <= {p["name"] for p in study["presets"]}


def test_bad_modality_is_one_line_and_exit_2(capsys):
    assert main(["info", str(MR_SMALL), "--modality", "brain"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medadv: error:") and "not a DICOM modality code" in err
    assert len(err.strip().splitlines()) <= 2          # the message and its hint


def test_info_positions_thickness_and_opening_slice_of_the_demo(capsys):
    assert main(["info", str(REPO / "resources" / "demo_study"), "--json"]) == 0
    study = json.loads(capsys.readouterr().out)["studies"][0]
    assert study["slice_thickness_mm"] == 5.0 and study["coordinate_frame"] == "LPS"
    assert len(study["slice_positions_mm"]) == study["slices"] == 14
    assert np.allclose(np.diff(study["slice_positions_mm"]), 5.0)
    assert "lesion" in study["default_slice_reason"]
    assert main(["info", str(REPO / "resources" / "demo_study")]) == 0
    out = capsys.readouterr().out
    assert "thickness:   5 mm" in out and f"opens on:    slice {study['default_slice']}" in out


def test_info_4d_time_axis_and_volume(capsys):
    assert main(["info", str(NIBABEL_DATA / "functional.nii"), "--volume", "7"]) == 0
    out = capsys.readouterr().out
    assert "20 volumes along the time axis" in out and "showing volume 7" in out


def test_info_warns_about_burned_in_text(capsys):
    assert main(["info", get_testdata_file("US1_J2KR.dcm")]) == 0
    out = capsys.readouterr().out
    assert "WARNING:     burned-in annotation possible" in out and "ultrasound" in out


def test_attack_warns_on_a_modality_mismatch_and_records_it(ct_card, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["attack", "--model", str(ct_card), "--attack", "fgsm", "--eps", "4/255", "--device", "cpu",
                 "--out", str(out), str(MR_SMALL)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("medadv: warning: ")]
    assert any("Modality mismatch" in w and "trained on CT" in w for w in warnings)
    summary = json.loads(next(out.glob("*_summary.json")).read_text())
    assert "modality_mismatch" in [w["code"] for w in summary["warnings"]]


def test_strict_modality_refuses_and_writes_nothing(ct_card, tmp_path, capsys):
    out = tmp_path / "strict"
    assert main(["attack", "--model", str(ct_card), "--attack", "fgsm", "--eps", "4/255", "--device", "cpu",
                 "--out", str(out), "--strict-modality", str(MR_SMALL)]) == 2
    err = capsys.readouterr().err
    assert "medadv: error: Modality mismatch" in err and not out.exists()
    # the user states the modality (here wrongly, on purpose): the guard then has nothing to say
    assert main(["attack", "--model", str(ct_card), "--attack", "fgsm", "--eps", "4/255", "--device", "cpu",
                 "--out", str(out), "--strict-modality", "--modality", "CT", str(MR_SMALL)]) == 0


def test_attack_a_chosen_volume_of_a_4d_nifti(ct_card, tmp_path, capsys):
    out = tmp_path / "vol"
    assert main(["attack", "--model", str(ct_card), "--attack", "fgsm", "--eps", "4/255", "--device", "cpu",
                 "--slices", "1", "--volume", "3", "--modality", "CT", "--out", str(out),
                 str(NIBABEL_DATA / "functional.nii")]) == 0
    written = next(out.glob("*_adv.nii.gz"))
    adv = np.asarray(nibabel.load(str(written)).dataobj, dtype=np.float32)
    src = np.asarray(nibabel.load(str(NIBABEL_DATA / "functional.nii")).dataobj, dtype=np.float32)
    assert adv.shape == src.shape[:3]
    # the untouched slices are volume 3's, not volume 0's
    diff3 = np.abs(adv - src[..., 3]).reshape(-1, src.shape[2]).max(axis=0)
    diff0 = np.abs(adv - src[..., 0]).reshape(-1, src.shape[2]).max(axis=0)
    assert np.count_nonzero(diff3 > 1e-3) <= 1 and np.count_nonzero(diff0 > 1e-3) >= 2


def test_evaluate_refuses_a_bad_modality_before_any_work(ct_card, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["evaluate", "--model", str(tmp_path / "no_such_card.json"), "--data", str(tmp_path),
                 "--json", str(out), "--modality", "brain"]) == 2
    err = capsys.readouterr().err
    assert "not a DICOM modality code" in err and not out.exists()     # before even loading the model
