"""The bundled demo study (resources/demo_study): one CT series, labels beside it, reproducible."""

from __future__ import annotations

import csv

import numpy as np
import pydicom
from pydicom.pixels import apply_rescale

from medadv_desktop.engine.demo.study import N_SLICES, demo_study_slices, write_demo_study
from medadv_desktop.engine.io import open_path
from medadv_desktop.paths import resources_dir

STUDY_DIR = resources_dir() / "demo_study"


def _labels() -> list[dict[str, str]]:
    with open(STUDY_DIR / "labels.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_bundled_study_is_small_and_labelled():
    files = sorted(STUDY_DIR.glob("*.dcm"))
    assert len(files) == N_SLICES
    assert sum(f.stat().st_size for f in STUDY_DIR.iterdir()) < 1_000_000
    rows = _labels()
    assert [r["path"] for r in rows] == [f.name for f in files]
    labels = [r["label"] for r in rows]
    assert set(labels) == {"no_finding", "lesion"} and 4 <= labels.count("lesion") <= 10


def test_bundled_study_opens_as_one_synthetic_ct_series():
    report = open_path(STUDY_DIR)
    assert len(report.studies) == 1
    assert all(p.suffix != ".dcm" for p, _ in report.failures)   # only labels.csv may be listed
    study = report.studies[0]
    assert study.modality == "CT" and study.units == "HU" and study.synthetic
    assert study.pixels.shape == (N_SLICES, 64, 64)
    assert study.spacing[0] == 5.0
    # slices come back in the order of labels.csv (sorted along the normal)
    assert [p.name for p in study.source_paths] == [r["path"] for r in _labels()]
    expected = np.stack([px for px, _, _ in demo_study_slices()]).astype(np.float32)
    assert np.array_equal(study.pixels, expected)


def test_series_geometry_and_uids():
    datasets = [pydicom.dcmread(p) for p in sorted(STUDY_DIR.glob("*.dcm"))]
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    assert len({ds.SOPInstanceUID for ds in datasets}) == N_SLICES
    z = [float(ds.ImagePositionPatient[2]) for ds in datasets]
    assert np.allclose(np.diff(z), 5.0)
    assert all("not for clinical use" in ds.SeriesDescription for ds in datasets)


def test_lesion_slices_hold_the_finding():
    rows = _labels()
    for (_, info, _), row in zip(demo_study_slices(), rows):
        assert info.label == row["label"]
        if info.label == "lesion":
            assert float(row["lesion_radius_px"]) >= 4 and abs(float(row["lesion_delta_hu"])) >= 40


def test_study_regenerates_identically(tmp_path):
    info = write_demo_study(tmp_path / "study")
    assert (tmp_path / "study" / "labels.csv").read_bytes() == (STUDY_DIR / "labels.csv").read_bytes()
    for sl in info.slices:
        new, old = pydicom.dcmread(tmp_path / "study" / sl.path), pydicom.dcmread(STUDY_DIR / sl.path)
        assert np.array_equal(apply_rescale(new.pixel_array, new), apply_rescale(old.pixel_array, old))
        assert new.SOPInstanceUID == old.SOPInstanceUID
