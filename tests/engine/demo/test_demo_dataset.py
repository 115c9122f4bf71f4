"""The synthetic demo data set: determinism, layout, DICOM validity, lesions, split disjointness."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_rescale

from medadv_desktop.engine.demo import (
    CLASS_NAMES, SYNTHETIC_NOTICE, demo_dataset_job, make_patch, make_split_arrays, write_demo_dataset,
)
from medadv_desktop.engine.demo.sources import load_source_scans
from medadv_desktop.engine.demo.synthesis import PATCH_SIZE, source_indices, split_column
from medadv_desktop.engine.jobs import CancelToken, Progress, run_job
from medadv_desktop.errors import DatasetError, JobCancelled

N_TRAIN, N_TEST = 10, 6


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("demo") / "data"
    return out, write_demo_dataset(out, seed=7, n_train=N_TRAIN, n_test=N_TEST)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_labels_and_readme(dataset):
    out, info = dataset
    assert info.counts == {"train": {"no_finding": 5, "lesion": 5}, "test": {"no_finding": 3, "lesion": 3}}
    for split in ("train", "test"):
        for c in CLASS_NAMES:
            assert (out / split / c).is_dir()
    with open(out / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == N_TRAIN + N_TEST
    for row in rows:
        path = out / row["path"]
        assert path.is_file()
        assert path.parent.name == row["label"] and path.parent.parent.name == row["split"]
    dcm = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.dcm"))
    assert dcm == sorted(r["path"] for r in rows)
    readme = (out / "README.txt").read_text(encoding="utf-8")
    assert "not for clinical use" in readme and "seed" in readme.lower()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "staging folder left behind"


def test_same_seed_gives_byte_identical_files(dataset, tmp_path):
    out, _ = dataset
    write_demo_dataset(tmp_path / "again", seed=7, n_train=N_TRAIN, n_test=N_TEST)
    assert _files(out) == _files(tmp_path / "again")
    other, _ = make_split_arrays(8, "train", 4)
    same, _ = make_split_arrays(7, "train", 4)
    assert not np.array_equal(other, same)


def test_patches_do_not_depend_on_dataset_size():
    small, ys = make_split_arrays(0, "test", 4)
    large, yl = make_split_arrays(0, "test", 8)
    assert np.array_equal(small, large[:4]) and np.array_equal(ys, yl[:4])
    assert list(yl) == [0, 1] * 4


def test_dicom_files_are_valid_ct_in_hu_without_phi(dataset):
    out, _ = dataset
    uids = set()
    for path in sorted(out.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        assert ds.Modality == "CT" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
        assert (ds.Rows, ds.Columns) == (PATCH_SIZE, PATCH_SIZE)
        assert float(ds.RescaleSlope) == 1 and float(ds.RescaleIntercept) == -1024
        assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (40, 400)
        assert str(ds.PatientName) == "SYNTHETIC^DEMO" and ds.PatientID == "MEDADV-DEMO"
        assert SYNTHETIC_NOTICE in ds.SeriesDescription and ds.ImageComments == SYNTHETIC_NOTICE
        assert not ds.get("PatientBirthDate") and not ds.get("StudyDate") and not ds.get("InstitutionName")
        uids.add(ds.SOPInstanceUID)
        split, label = path.parent.parent.name, path.parent.name
        index = int(path.stem.rsplit("_", 1)[1])
        patch = make_patch(7, split, index)
        assert patch.label == label
        hu = apply_rescale(ds.pixel_array, ds)
        assert np.array_equal(hu, patch.hu.astype(np.float64))
        assert -1024 <= hu.min() and hu.max() <= 3071
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx(patch.pixel_spacing, rel=1e-5)
    assert len(uids) == N_TRAIN + N_TEST


def test_lesion_is_inserted_only_in_lesion_patches():
    for index in range(0, 24):
        patch = make_patch(3, "train", index)
        diff = patch.hu.astype(np.int32) - patch.background.astype(np.int32)
        if patch.label == "no_finding":
            assert patch.lesion is None and not diff.any()
            continue
        lesion = patch.lesion
        assert 4 <= lesion.semi_axes_px[0] <= 9 and 50 <= abs(lesion.delta_hu) <= 100
        core = patch.lesion_weight > 0.5          # inside the ellipse
        outside = patch.lesion_weight < 1e-3
        a, b = lesion.semi_axes_px
        assert abs(core.sum() - np.pi * a * b) <= 0.35 * np.pi * a * b + 4
        # the finding changes its inside by about delta (soft edge, texture +-25 %), in the right direction
        assert np.sign(diff[core].mean()) == np.sign(lesion.delta_hu)
        assert 0.45 * abs(lesion.delta_hu) <= abs(diff[core].mean()) <= 1.3 * abs(lesion.delta_hu)
        assert np.abs(diff[outside]).max() <= 1
        # centred on soft tissue, away from the patch edge
        r, c = lesion.center_rc
        assert 10 <= r <= PATCH_SIZE - 10 and 10 <= c <= PATCH_SIZE - 10
        assert -200 <= np.median(patch.background[core]) <= 250


def test_patches_are_mostly_tissue():
    for index in range(16):
        patch = make_patch(0, "test", index)
        assert (patch.background > -500).mean() > 0.45  # > 50 % before the mild jitter


def test_held_out_crops_come_from_disjoint_columns():
    scans = {s.name: s for s in load_source_scans()}
    for split in ("train", "test"):
        for index in range(30):
            patch = make_patch(0, split, index)
            split_col = split_column(scans[patch.source].shape[1])
            c0 = patch.crop_rc[1]
            if split == "train":
                assert c0 + PATCH_SIZE <= split_col
            else:
                assert c0 >= split_col
    assert all(len(ix.positions["test"]) > 0 for ix in source_indices())


def test_refuses_non_empty_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not empty"):
        write_demo_dataset(tmp_path, n_train=2, n_test=2)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_empty_existing_folder_is_accepted_and_bad_sizes_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    info = write_demo_dataset(tmp_path / "empty", n_train=2, n_test=2)
    assert info.counts["test"] == {"no_finding": 1, "lesion": 1}
    with pytest.raises(DatasetError, match="n_train"):
        write_demo_dataset(tmp_path / "bad", n_train=1, n_test=2)
    assert not (tmp_path / "bad").exists()


def test_job_reports_progress_and_cancels_cleanly(tmp_path):
    events: list[Progress] = []
    run_job(demo_dataset_job(tmp_path / "a", n_train=100, n_test=4), events.append)
    assert events[0].done == 0 and events[-1].done == events[-1].total == 104
    assert all("SYNTHETIC" not in e.message for e in events)
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        run_job(demo_dataset_job(tmp_path / "b", n_train=4, n_test=4, cancel=token))
    assert not (tmp_path / "b").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
