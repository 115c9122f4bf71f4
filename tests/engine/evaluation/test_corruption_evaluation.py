"""The corruption evaluation on real DICOM data (the synthetic demo generator, nibabel's MR volume) and
tiny real models: measures checked against the per-sample records, seeds, chunking, 3-D corruptions per
volume, corruption then attack, the result schema, refusals."""
import json
from pathlib import Path

import nibabel
import numpy as np
import pytest
import torch

from medadv_desktop.engine.corruptions import CorruptionConfigError, create_corruption
from medadv_desktop.engine.datasets import LabelledDataset
from medadv_desktop.engine.evaluation.corruption import corrupt_chunk, corruption_evaluation_job
from medadv_desktop.engine.jobs import CancelToken, run_job
from medadv_desktop.engine.models import load_classifier
from medadv_desktop.engine.results.corruption import CLEAN, CorruptionEvaluationResult
from medadv_desktop.engine.workflows.corruption import parse_severities, resolve_corruptions
from medadv_desktop.errors import DatasetError, JobCancelled, MedAdvError
from tests.conftest import make_tiny_card

NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """16 demo CT patches (8 per class) and a tiny TorchScript classifier (window 40/400 HU)."""
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("cdemo") / "data"
    write_demo_dataset(root, n_train=2, n_test=16)
    clf = load_classifier(make_tiny_card(tmp_path_factory.mktemp("cmodel"), format="torchscript"), device="cpu")
    ds = LabelledDataset.from_folder(root / "test", clf.class_names)
    return clf, ds


def _run(clf, ds, corruptions, severities, **kw):
    return run_job(corruption_evaluation_job(clf, ds, corruptions, severities, **kw))


def test_rows_agree_with_the_per_sample_records(demo):
    clf, ds = demo
    res = _run(clf, ds, [("ct_dose", {}), ("jpeg2000", {})], [1, 5])
    n = len(ds)
    assert res.n_samples == n and res.corruptions == ["ct_dose", "jpeg2000"] and res.severities == [1, 5]
    assert [(r.corruption, r.severity) for r in res.rows] == [("ct_dose", 1), ("ct_dose", 5), ("jpeg2000", 1),
                                                              ("jpeg2000", 5)]
    x, y, _, _ = ds.to_tensors(clf.card)                # the clean row is the model on the clean data set
    with torch.no_grad():
        clean_pred = clf(x).argmax(1).tolist()
    clean = [s for s in res.samples if s.corruption == CLEAN]
    assert [s.pred for s in clean] == clean_pred
    assert res.clean.accuracy.k == sum(p == t for p, t in zip(clean_pred, y.tolist(), strict=True))
    assert res.clean.flips.k == 0 and res.clean.mean_conf_change == 0.0
    for row in res.rows:
        recs = [s for s in res.samples if s.corruption == row.corruption and s.severity == row.severity]
        assert len(recs) == n
        assert row.accuracy.k == sum(s.pred == s.true_label for s in recs) and row.accuracy.n == n
        assert row.accuracy.low <= row.accuracy.value <= row.accuracy.high
        assert row.error == pytest.approx(1 - row.accuracy.value)
        assert row.flips.k == sum(s.pred != c.pred for s, c in zip(recs, clean, strict=True))
        assert row.newly_wrong == sum(c.pred == c.true_label and s.pred != s.true_label
                                      for s, c in zip(recs, clean, strict=True))
        assert row.mean_conf_change == pytest.approx(np.mean([s.conf_true - c.conf_true
                                                              for s, c in zip(recs, clean, strict=True)]))
        for ci, cls in enumerate(row.per_class):
            of_class = [s for s in recs if s.true_label == ci]
            assert cls.sensitivity.n == len(of_class)
            assert cls.sensitivity.k == sum(s.pred == ci for s in of_class)
            others = [s for s in recs if s.true_label != ci]
            assert cls.specificity.k == sum(s.pred != ci for s in others)
    # physical levels and what the codec measured
    assert res.row("ct_dose", 5).level == pytest.approx(3.125) and res.row("jpeg2000", 1).level == 10
    assert res.row("jpeg2000", 1).measured["compression_ratio"] == pytest.approx(10, rel=0.15)
    assert res.row("ct_dose", 5).measured["added_noise_sd_measured_hu"] > res.row("ct_dose", 1).measured[
        "added_noise_sd_measured_hu"]
    # corruption error relative to the model's own clean error
    clean_err = res.clean.error
    for s in res.summaries:
        errs = [r.error for r in res.rows if r.corruption == s.corruption]
        assert s.ce == pytest.approx(np.mean(errs))
        assert s.added_error == pytest.approx(s.ce - clean_err)
        assert s.relative_ce == (pytest.approx(s.ce / clean_err) if clean_err else None)
    assert res.mce == pytest.approx(np.mean([s.ce for s in res.summaries]))
    assert res.dataset.synthetic is True and res.modality == "CT"


def test_deterministic_and_independent_of_chunks(demo):
    clf, ds = demo
    a = _run(clf, ds, [("ct_dose", {}), ("blur", {})], [3], seed=7, chunk_samples=5)
    b = _run(clf, ds, [("ct_dose", {}), ("blur", {})], [3], seed=7, chunk_samples=1000)
    c = _run(clf, ds, [("ct_dose", {})], [3], seed=8)
    key = [(s.sample_id, s.corruption, s.pred, round(s.conf_true, 6)) for s in a.samples]
    assert key == [(s.sample_id, s.corruption, s.pred, round(s.conf_true, 6)) for s in b.samples]
    conf_a = [s.conf_true for s in a.samples if s.corruption == "ct_dose"]
    conf_c = [s.conf_true for s in c.samples if s.corruption == "ct_dose"]
    assert conf_a != conf_c                             # another seed, other noise


def test_severity_zero_reproduces_the_clean_input_exactly(demo):
    clf, ds = demo
    chunk = list(range(len(ds)))
    replaced, records, _ = corrupt_chunk(ds, chunk, create_corruption("jpeg2000", severity=0), seed=0)
    x0, *_ = ds.to_tensors(clf.card)
    x1, *_ = ds.to_tensors(clf.card, studies=replaced)
    assert torch.equal(x0, x1) and len(records) == len(ds)
    replaced, _, _ = corrupt_chunk(ds, chunk, create_corruption("ct_dose", severity=2), seed=0)
    x2, *_ = ds.to_tensors(clf.card, studies=replaced)
    assert not torch.equal(x0, x2)
    assert all(ds.studies[i].pixels is not replaced[i].pixels for i in replaced)   # originals untouched


def test_corruption_then_attack_never_beats_the_corruption_alone(demo):
    clf, ds = demo
    res = _run(clf, ds, [("blur", {})], [2, 5], attack=("fgsm", {"eps": 8 / 255}))
    assert res.attack["name"] == "fgsm" and res.attack["eps"] == pytest.approx(8 / 255)
    assert res.attack["eps_native"] == pytest.approx(8 / 255 * 400)
    for row in [res.clean, *res.rows]:
        assert row.robust_accuracy is not None and row.robust_accuracy.k <= row.accuracy.k
        recs = [s for s in res.samples if s.corruption == row.corruption and s.severity == row.severity]
        assert row.robust_accuracy.k == sum(s.pred == s.true_label == s.robust_pred for s in recs)


def test_volume_corruption_is_one_event_per_volume(tmp_path):
    """Motion is 3-D: a volume's slices come from one corrupted volume, whichever slices are evaluated."""
    clf = load_classifier(make_tiny_card(tmp_path / "m", format="torchscript",
                                         intensity={"mode": "minmax"}), device="cpu")
    from medadv_desktop.engine.io import open_path

    vol = open_path(NIBABEL_DATA / "anatomical.nii").studies[0]
    ds = LabelledDataset.from_studies([vol], [0], clf.class_names)
    motion = create_corruption("motion", severity=4, seed=3)
    whole, _, _ = corrupt_chunk(ds, list(range(len(ds))), motion, seed=3)
    part, _, _ = corrupt_chunk(ds, [2, 9, 20], motion, seed=3)
    np.testing.assert_array_equal(whole[0].pixels[[2, 9, 20]], part[0].pixels[[2, 9, 20]])
    blur = create_corruption("blur", severity=4, seed=3)   # 2-D: each slice with its own generator
    whole, _, _ = corrupt_chunk(ds, list(range(len(ds))), blur, seed=3)
    part, _, _ = corrupt_chunk(ds, [9], blur, seed=3)
    np.testing.assert_array_equal(whole[0].pixels[9], part[0].pixels[9])
    res = _run(clf, ds.head(6), [("motion", {}), ("ghosting", {})], [1])
    assert res.modality == "MR" and res.row("motion", 1).n_samples == 6


def test_refusals_before_any_work(demo):
    clf, ds = demo
    from medadv_desktop.engine.io import open_path
    from pydicom.data import get_testdata_file

    mr = open_path(get_testdata_file("MR_small.dcm")).studies[0]
    mr_ds = LabelledDataset.from_studies([mr], [0], clf.class_names)
    with pytest.raises(CorruptionConfigError, match="Hounsfield"):
        _run(clf, mr_ds, [("ct_dose", {})], [1])
    with pytest.raises(CorruptionConfigError, match="volume"):
        _run(clf, ds, [("slice_thickness", {})], [1])
    with pytest.raises(CorruptionConfigError, match="no corruption named"):
        _run(clf, ds, [("nope", {})], [1])
    with pytest.raises(CorruptionConfigError, match="severities"):
        _run(clf, ds, [("blur", {})], [0])
    arrays = LabelledDataset.from_arrays(np.zeros((2, 1, 8, 8), np.float32), [0, 1], clf.class_names)
    with pytest.raises(DatasetError, match="native pixels"):
        _run(clf, arrays, [("blur", {})], [1])
    cancel = CancelToken()
    job = corruption_evaluation_job(clf, ds, [("blur", {})], [1, 2], cancel=cancel)
    next(job)
    cancel.cancel()
    with pytest.raises(JobCancelled):
        run_job(job)


def test_default_and_all_choices_fit_the_data(demo):
    _, ds = demo
    default, skipped = resolve_corruptions("default", ds)
    assert [n for n, _ in default] == ["ct_dose", "blur", "resolution", "jpeg2000", "quantize"] and not skipped
    every, skipped = resolve_corruptions("all", ds)
    assert "slice_thickness" not in [n for n, _ in every]
    assert [n for n, _ in skipped] == ["slice_thickness"] and "volume" in skipped[0][1]
    assert resolve_corruptions("Blur, jpeg2000", ds)[0] == [("blur", {}), ("jpeg2000", {})]


def test_parse_severities():
    assert parse_severities("1-5") == [1, 2, 3, 4, 5]
    assert parse_severities("5,1, 3") == [1, 3, 5] and parse_severities(2) == [2] and parse_severities([4, 4]) == [4]
    for bad in ("0", "6", "1-6", "5-1", "x", ""):
        with pytest.raises(CorruptionConfigError):
            parse_severities(bad)


def test_json_round_trip_and_schema_checks(demo, tmp_path):
    clf, ds = demo
    res = _run(clf, ds, [("quantize", {})], [2], max_samples=6)
    path = res.save(tmp_path / "c.json")
    doc = json.loads(path.read_text())
    assert doc["kind"] == "corruption_evaluation" and doc["schema_version"] == 1 and doc["n_samples"] == 6
    again = CorruptionEvaluationResult.load(path)
    assert again.to_json() == res.to_json()
    with pytest.raises(MedAdvError, match="not a MedAdv corruption"):
        CorruptionEvaluationResult.from_dict({**doc, "kind": "evaluation"})
    with pytest.raises(MedAdvError, match="schema version 99"):
        CorruptionEvaluationResult.from_dict({**doc, "schema_version": 99})
    with pytest.raises(MedAdvError):
        res.save(path)                                  # never overwritten


@pytest.mark.slow
def test_demo_model_loses_its_lesions_in_lossy_jpeg2000(tmp_path):
    """The issue's check on the demo model: the JPEG 2000 row shows its known weakness. Mild
    compression (10:1) barely moves it; at 340:1 (as the dropped 693_UNCI.dcm) accuracy falls towards
    chance because the synthetic lesions are lost (lesion sensitivity collapses)."""
    from medadv_desktop.engine.demo import write_demo_dataset
    from medadv_desktop.paths import demo_model_card

    card = demo_model_card()
    if not card.is_file():
        pytest.skip(f"the demo model is not built yet ({card} missing)")
    write_demo_dataset(tmp_path / "demo", n_train=2, n_test=40)
    clf = load_classifier(card, device="cpu")
    ds = LabelledDataset.from_folder(tmp_path / "demo" / "test", clf.class_names)
    res = _run(clf, ds, [("jpeg2000", {})], [1, 5])
    clean, mild, severe = res.clean, res.row("jpeg2000", 1), res.row("jpeg2000", 5)
    assert clean.accuracy.value > 0.8
    assert mild.accuracy.value >= clean.accuracy.value - 0.1
    assert severe.accuracy.value <= clean.accuracy.value - 0.25
    lesion = clf.class_names.index("lesion")
    assert severe.per_class[lesion].sensitivity.k <= clean.per_class[lesion].sensitivity.k / 2
    assert res.summary("jpeg2000").relative_ce > 1.5
