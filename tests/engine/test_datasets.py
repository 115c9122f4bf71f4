"""LabelledDataset from class sub-folders and labels.csv, with real DICOM files."""
import shutil

import numpy as np
import pytest

from medadv_desktop.engine.datasets import LabelledDataset
from medadv_desktop.engine.models import ModelCard
from medadv_desktop.errors import DatasetError

CLASSES = ["no_finding", "lesion"]


def _card(size=(32, 32), intensity=None):
    return ModelCard.from_dict({"name": "t", "format": "torchscript", "weights": "m.pt", "num_classes": 2,
                                "class_names": CLASSES, "input_size": list(size),
                                "intensity": intensity or {"mode": "window", "center": 40, "width": 400}})


def _real(name):
    from pydicom.data import get_testdata_file
    return get_testdata_file(name)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "Doe^John data"             # a name with PHI must never reach sample ids
    (root / "no_finding").mkdir(parents=True)
    (root / "lesion").mkdir()
    shutil.copy(_real("CT_small.dcm"), root / "no_finding" / "Doe_John_ct.dcm")
    shutil.copy(_real("MR_small.dcm"), root / "lesion" / "mr.dcm")
    shutil.copy(_real("emri_small.dcm"), root / "lesion" / "emri.dcm")      # 10 frames -> 10 samples
    (root / "lesion" / "broken.dcm").write_bytes(b"DICM" + b"\x00" * 50)     # unreadable: listed, not fatal
    (root / ".hidden").mkdir()
    return root


def test_from_class_folders(folder):
    ds = LabelledDataset.from_folder(folder, CLASSES)
    assert len(ds) == 12
    assert ds.class_counts() == {"no_finding": 1, "lesion": 11}
    assert len(ds.failures) == 1 and ds.failures[0][0].name == "broken.dcm"
    ids = [s.sample_id for s in ds.samples]
    assert len(set(ids)) == 12
    assert sum("/slice-" in i for i in ids) == 10
    assert not any("Doe" in i or "ct" in i.lower() or "mr" in i.lower() for i in ids)
    assert "Doe" not in ds.name and "Doe" not in str(ds.summary())
    x, y, sids, npu = ds.to_tensors(_card())
    # sizes differ (128 vs 64): every sample is resized to the card's input size
    assert tuple(x.shape) == (12, 1, 32, 32) and x.dtype.is_floating_point
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert sorted(y.tolist()) == [0] + [1] * 11 and sids == ids
    assert np.allclose(npu, 400.0)


def test_same_size_keeps_native_resolution_and_per_image_scale(tmp_path):
    root = tmp_path / "d"
    (root / "lesion").mkdir(parents=True)
    shutil.copy(_real("emri_small.dcm"), root / "lesion" / "a.dcm")
    ds = LabelledDataset.from_folder(root, CLASSES)
    x, y, ids, npu = ds.to_tensors(_card(intensity={"mode": "minmax"}))
    assert tuple(x.shape[2:]) == (64, 64) and y.tolist() == [1] * 10
    assert np.all(npu > 0) and len(set(np.round(npu, 3))) > 1   # per-slice range


def test_labels_csv_names_and_indices(tmp_path):
    root = tmp_path / "csv"
    root.mkdir()
    shutil.copy(_real("CT_small.dcm"), root / "a.dcm")
    shutil.copy(_real("MR_small.dcm"), root / "b.dcm")
    (root / "labels.csv").write_text("path,label\na.dcm,lesion\nb.dcm,0\nmissing.dcm,1\n")
    ds = LabelledDataset.from_folder(root, CLASSES)
    assert ds.labels == [1, 0]
    assert len(ds.failures) == 1
    (root / "labels.csv").write_text("path,label\na.dcm,tumour\n")
    with pytest.raises(DatasetError, match="tumour.*'no_finding', 'lesion'"):
        LabelledDataset.from_folder(root, CLASSES)


def test_unknown_folder_names_and_empty(tmp_path):
    root = tmp_path / "bad"
    (root / "normal").mkdir(parents=True)
    (root / "lesion").mkdir()
    with pytest.raises(DatasetError) as info:
        LabelledDataset.from_folder(root, CLASSES)
    assert "'normal'" in str(info.value) and "'no_finding', 'lesion'" in str(info.value)
    with pytest.raises(DatasetError):
        LabelledDataset.from_folder(tmp_path / "nowhere", CLASSES)
    (root / "normal").rmdir()
    with pytest.raises(DatasetError, match="No readable images"):
        LabelledDataset.from_folder(root, CLASSES)


def test_head_is_balanced_and_from_arrays():
    x = np.random.default_rng(0).random((10, 1, 8, 8)).astype(np.float32)
    ds = LabelledDataset.from_arrays(x, [0] * 7 + [1] * 3, CLASSES, native_per_unit=2.0)
    sub = ds.head(4)
    assert sub.class_counts() == {"no_finding": 2, "lesion": 2}
    xs, ys, ids, npu = sub.to_tensors()
    assert xs.shape == (4, 1, 8, 8) and np.all(npu == 2.0)


def test_slice_sample_ids_count_from_one_like_the_viewer():
    from medadv_desktop.engine.datasets import slice_sample_id

    assert slice_sample_id("STUDY-1A", 0) == "STUDY-1A/slice-001"
    assert slice_sample_id("STUDY-1A", 7) == "STUDY-1A/slice-008"
