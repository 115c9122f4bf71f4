"""`medadv corrupt` and `medadv evaluate-corruptions` on real DICOM (the bundled demo study, pydicom's MR,
the synthetic demo generator) with a tiny real model: files written de-identified and marked, lossy
compression recorded in the DICOM header, the table, JSON and CSV, and one-line errors (exit 2)."""
import csv
import json
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from medadv_desktop.cli.main import main
from tests.conftest import make_tiny_card

ROOT = Path(__file__).resolve().parents[2]
DEMO_STUDY = ROOT / "resources" / "demo_study"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("cdemo") / "data"
    write_demo_dataset(root, n_train=2, n_test=6)
    card = make_tiny_card(tmp_path_factory.mktemp("cmodel"), format="torchscript")
    return root / "test", card


def _source_names() -> set[str]:
    names = set()
    for f in DEMO_STUDY.glob("*.dcm"):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        names.add(str(ds.get("PatientName", "")))
        names.add(str(ds.get("PatientID", "")))
    return {n for n in names if n}


def test_corrupt_writes_a_deidentified_lossy_marked_series(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["corrupt", "--corruption", "jpeg2000", "--severity", "4", str(DEMO_STUDY), "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    files = sorted(out.glob("*.dcm"))
    assert len(files) == 14 and all("_jpeg2000_s4_" in f.name for f in files)
    record = json.loads(next(out.glob("*_record.json")).read_text())
    assert record["corruption"] == "jpeg2000" and record["severity"] == 4 and record["de_identified"] is True
    assert record["measured"]["compression_ratio"] == pytest.approx(120, rel=0.1)
    assert record["synthetic"] is True and len(record["files"]) == 14
    source = _source_names()
    for f in files[:3]:
        ds = pydicom.dcmread(f)
        assert ds.LossyImageCompression == "01"
        assert list(ds.LossyImageCompressionMethod if ds["LossyImageCompressionMethod"].VM > 1
                    else [ds.LossyImageCompressionMethod])[-1] == "ISO_15444_1"
        ratio = ds.LossyImageCompressionRatio
        last = float(ratio[-1] if ds["LossyImageCompressionRatio"].VM > 1 else ratio)
        assert last == pytest.approx(record["measured"]["compression_ratio"], rel=1e-3)
        assert ds.PatientIdentityRemoved == "YES" and str(ds.PatientName).startswith("STUDY-")
        assert str(ds.PatientName) not in source or not source
        assert "SIMULATED ARTEFACT - NOT FOR DIAGNOSIS" in ds.SeriesDescription
        assert "ADVERSARIAL" not in ds.SeriesDescription
    assert "compression_ratio" in cap.out and "Wrote 15 file(s)" in cap.out
    # the same output again: refused, nothing overwritten
    before = {f: f.stat().st_mtime_ns for f in out.iterdir()}
    rc = main(["corrupt", "--corruption", "jpeg2000", "--severity", "4", str(DEMO_STUDY), "--out", str(out)])
    assert rc == 2 and "exists" in capsys.readouterr().err
    assert {f: f.stat().st_mtime_ns for f in out.iterdir()} == before
    # a lossy copy compressed again: still lossy, both compressions listed in order (PS3.3 C.7.6.1.1.5)
    again = tmp_path / "again"
    rc = main(["corrupt", "--corruption", "jpeg2000", "--severity", "1", str(files[0]), "--out", str(again)])
    assert rc == 0, capsys.readouterr().err
    ds = pydicom.dcmread(next(again.glob("*.dcm")))
    assert ds.LossyImageCompression == "01"
    assert list(ds.LossyImageCompressionMethod) == ["ISO_15444_1", "ISO_15444_1"]
    assert float(ds.LossyImageCompressionRatio[0]) == pytest.approx(last, rel=1e-3)
    second = json.loads(next(again.glob("*_record.json")).read_text())["measured"]["compression_ratio"]
    assert float(ds.LossyImageCompressionRatio[1]) == pytest.approx(second, rel=1e-3) and second >= 8.5


def test_corrupt_not_lossy_and_param_override(tmp_path, capsys):
    out = tmp_path / "blur"
    rc = main(["corrupt", "--corruption", "blur", "--param", "fwhm_mm=2.5", "--seed", "3", str(DEMO_STUDY),
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    ds = pydicom.dcmread(sorted(out.glob("*.dcm"))[0])
    assert ds.get("LossyImageCompression", "00") != "01"
    record = json.loads(next(out.glob("*_record.json")).read_text())
    assert record["parameters"]["fwhm_mm"] == pytest.approx(2.5) and record["seed"] == 3


@pytest.mark.parametrize("argv, needle", [
    (["--corruption", "ct_dose", get_testdata_file("MR_small.dcm")], "Hounsfield"),
    (["--corruption", "nope", str(DEMO_STUDY)], "no corruption named"),
    (["--corruption", "blur", "--severity", "9", str(DEMO_STUDY)], "severity"),
    (["--corruption", "blur", "--param", "fwhm", str(DEMO_STUDY)], "NAME=VALUE"),
    (["--corruption", "blur", "--param", "nope=1", str(DEMO_STUDY)], "unknown parameter"),
    (["--corruption", "blur"], "PATH"),
])
def test_corrupt_errors_are_one_line_exit_2(tmp_path, capsys, argv, needle):
    out = tmp_path / "o"
    rc = main(["corrupt", *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and err.count("medadv: error:") == 1 and "%]" not in err, err
    assert not out.exists() or not any(out.iterdir())


def test_corrupt_list(capsys):
    assert main(["corrupt", "--list"]) == 0
    out = capsys.readouterr().out
    assert "ct_dose" in out and "50 / 25 / 12.5 / 6.25 / 3.125 % dose" in out and "jpeg2000" in out


def test_evaluate_corruptions_table_json_csv(demo, tmp_path, capsys):
    data, card = demo
    j, c, s = tmp_path / "c.json", tmp_path / "c.csv", tmp_path / "s.csv"
    rc = main(["evaluate-corruptions", "--model", str(card), "--data", str(data), "--corruptions",
               "ct_dose,jpeg2000", "--severities", "1,5", "--json", str(j), "--csv", str(c),
               "--samples-csv", str(s), "--device", "cpu"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    doc = json.loads(j.read_text())
    assert doc["kind"] == "corruption_evaluation" and doc["n_samples"] == 6
    rows = list(csv.DictReader(c.open()))
    assert [(r["corruption"], r["severity"]) for r in rows] == [
        ("clean", "0"), ("ct_dose", "1"), ("ct_dose", "5"), ("jpeg2000", "1"), ("jpeg2000", "5")]
    for r, d in zip(rows[1:], doc["rows"], strict=True):
        assert float(r["accuracy"]) == pytest.approx(d["accuracy"]["value"])
        assert float(r["accuracy_low"]) <= float(r["accuracy"]) <= float(r["accuracy_high"])
        assert {"sens_lesion", "spec_no_finding_low", "flip_rate", "mean_conf_change", "ce"} <= set(r)
    assert rows[3]["compression_ratio"] and not rows[1]["compression_ratio"]
    samples = list(csv.DictReader(s.open()))
    assert len(samples) == 6 * 5 and samples[0]["corruption"] == "clean"
    assert "clean" in cap.out and "3.125 % dose" in cap.out and "Corruption error" in cap.out
    assert "mean (mCE)" in cap.out and "SYNTHETIC" in cap.out and "Caution: 6 samples" in cap.out
    # never overwrite
    rc = main(["evaluate-corruptions", "--model", str(card), "--data", str(data), "--json", str(j)])
    assert rc == 2 and "exists" in capsys.readouterr().err


def test_evaluate_corruptions_then_attack(demo, tmp_path, capsys):
    data, card = demo
    j = tmp_path / "a.json"
    rc = main(["evaluate-corruptions", "--model", str(card), "--data", str(data), "--corruptions", "blur",
               "--severities", "3", "--attack", "pgd", "--eps", "4HU", "--steps", "2", "--json", str(j)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    doc = json.loads(j.read_text())
    assert doc["attack"]["name"] == "pgd" and doc["attack"]["eps"] == pytest.approx(4 / 400)
    assert doc["attack"]["params"]["steps"] == 2
    for row in [doc["clean"], *doc["rows"]]:
        assert row["robust_accuracy"]["k"] <= row["accuracy"]["k"]
    assert "robust acc" in cap.out and "Then attack: pgd linf eps 0.01 = 4 HU" in cap.out


@pytest.mark.parametrize("extra, needle", [
    (["--severities", "0-2"], "severity 0"),
    (["--corruptions", "ct_dose,slice_thickness"], "volume"),
    (["--corruptions", "blur", "--attack", "pgd", "--steps", "x"], "steps"),
    (["--corruptions", "blur", "--attack", "nope"], "nope"),
    (["--corruptions", "blur", "--steps", "3"], "only with --attack"),
    (["--corruptions", "blur,nope"], "no corruption named"),
])
def test_evaluate_corruptions_errors(demo, tmp_path, capsys, extra, needle):
    data, card = demo
    j = tmp_path / "e.json"
    rc = main(["evaluate-corruptions", "--model", str(card), "--data", str(data), *extra, "--json", str(j)])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err, err
    assert not j.exists()
