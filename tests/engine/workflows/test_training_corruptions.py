"""Adversarial training's before/after re-tests corruptions: the choice of corruptions (small default set
fitting the modality, off switch, misfits left out with the reason), checks before training, and the
paired before/after rows on real demo CT patches with two tiny real models."""
import numpy as np
import pytest

from medadv_desktop.engine.corruptions import CorruptionConfigError
from medadv_desktop.engine.datasets import LabelledDataset
from medadv_desktop.engine.evaluation.corruption import corruption_evaluation_job
from medadv_desktop.engine.jobs import run_job
from medadv_desktop.engine.metrics.intervals import paired_comparison
from medadv_desktop.engine.models import load_classifier
from medadv_desktop.engine.results.before_after import BeforeAfterResult
from medadv_desktop.engine.training import TrainingConfig, format_table
from medadv_desktop.engine.training.before_after import pair_corruption_results
from medadv_desktop.engine.workflows.training import (
    AdversarialTrainingRequest,
    check_corruption_request,
    retest_corruptions,
)
from tests.conftest import make_tiny_card

CLASSES = ["no_finding", "lesion"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("tcdemo") / "data"
    write_demo_dataset(root, n_train=2, n_test=12)
    return LabelledDataset.from_folder(root / "test", CLASSES)


def test_the_small_default_set_fits_the_modality_and_can_be_switched_off(demo):
    chosen, note = retest_corruptions("small", demo)
    assert [n for n, _ in chosen] == ["ct_dose", "blur", "jpeg2000"] and note == ""   # CT: no MR Rician noise
    for off in (None, "none", "off", ""):
        chosen, note = retest_corruptions(off, demo)
        assert chosen == [] and "switched off" in note
    chosen, note = retest_corruptions("slice_thickness", demo)        # needs volumes: left out, with the reason
    assert chosen == [] and note.startswith("Corruptions not re-tested:") and "slice" in note
    chosen, note = retest_corruptions("blur,slice_thickness", demo)      # the ones that fit are kept
    assert chosen == [("blur", {})] and note.startswith("Not re-tested: slice_thickness:")
    arrays = LabelledDataset.from_arrays(np.zeros((4, 1, 8, 8), np.float32), [0, 1, 0, 1], CLASSES)
    chosen, note = retest_corruptions("small", arrays)
    assert chosen == [] and "native pixels" in note


@pytest.mark.parametrize("corruptions, severities, needle", [
    ("small", "7", "severity 7 is outside 1..5"),
    ("blur,nosuch", "3", "no corruption named 'nosuch'"),
    ("blur", "x", "is not a severity list"),
])
def test_bad_corruption_options_fail_before_training(corruptions, severities, needle):
    request = AdversarialTrainingRequest(data="d", out_dir="o", config=TrainingConfig(), corruptions=corruptions,
                                         corruption_severities=severities)
    with pytest.raises(CorruptionConfigError, match=needle):
        check_corruption_request(request)
    check_corruption_request(AdversarialTrainingRequest(data="d", out_dir="o", config=TrainingConfig(),
                                                        corruptions="none", corruption_severities="7"))


def test_paired_rows_come_from_the_per_sample_records(demo, tmp_path):
    a = load_classifier(make_tiny_card(tmp_path / "a", format="torchscript", seed=1), device="cpu")
    b = load_classifier(make_tiny_card(tmp_path / "b", format="torchscript", seed=2), device="cpu")
    corruptions = [("ct_dose", {}), ("jpeg2000", {})]
    before = run_job(corruption_evaluation_job(a, demo, corruptions, [3]))
    after = run_job(corruption_evaluation_job(b, demo, corruptions, [3]))
    rows = pair_corruption_results(before, after)
    assert [(r.corruption, r.severity) for r in rows] == [("ct_dose", 3), ("jpeg2000", 3)]
    for r in rows:
        rb, ra = before.row(r.corruption, 3), after.row(r.corruption, 3)
        assert (r.accuracy_before, r.accuracy_after) == (rb.accuracy.value, ra.accuracy.value)
        assert r.change == pytest.approx(ra.accuracy.value - rb.accuracy.value) and r.n == len(demo)
        right_b = [s.pred == s.true_label for s in before.samples if (s.corruption, s.severity) == (r.corruption, 3)]
        right_a = [s.pred == s.true_label for s in after.samples if (s.corruption, s.severity) == (r.corruption, 3)]
        cmp = paired_comparison(right_b, right_a)
        assert (r.change_low, r.change_high, r.p_value) == (cmp.low, cmp.high, cmp.p_value)
        assert r.change_low <= r.change <= r.change_high
        assert r.level == rb.level
    same = pair_corruption_results(before, before)
    assert all(r.change == 0 and r.p_value == 1.0 for r in same)

    table = BeforeAfterResult(rows=[], train_eps=2 / 255, eps_grid=[2 / 255], attacks=["fgsm"], n_samples=len(demo),
                              corruption_rows=rows, corruption_severities=[3], corruption_before=before,
                              corruption_after=after)
    text = format_table(table)
    assert "Natural robustness" in text and "jpeg2000" in text and "95 % CI" in text
    again = BeforeAfterResult.from_json(table.to_json())
    assert again.corruption_rows == rows and again.corruption_after.rows == after.rows
    assert BeforeAfterResult.from_data(table.table_dict()).corruption_rows == rows
