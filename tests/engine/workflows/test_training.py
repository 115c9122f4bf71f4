"""The adversarial training workflow's re-test set rule (its one home)."""

from __future__ import annotations

import numpy as np

from medadv_desktop.engine.datasets import LabelledDataset
from medadv_desktop.engine.training import TrainingConfig
from medadv_desktop.engine.workflows.training import RETEST_TEST_FOLDER, RETEST_TRAINING, RETEST_VALIDATION, retest_set

CLASSES = ["no_finding", "lesion"]


def _arrays(n=12):
    x = np.random.default_rng(0).uniform(0, 1, (n, 1, 8, 8)).astype(np.float32)
    return LabelledDataset.from_arrays(x, [i % 2 for i in range(n)], CLASSES, name="train")


def test_retest_uses_the_test_folder_then_the_validation_split_then_the_training_data(tmp_path):
    from medadv_desktop.engine.demo import write_demo_dataset
    from medadv_desktop.engine.training import stratified_split

    train = _arrays()
    write_demo_dataset(tmp_path / "demo", n_train=2, n_test=4)
    chosen = retest_set(train, tmp_path / "demo" / "test", TrainingConfig(), CLASSES)
    assert chosen.source == RETEST_TEST_FOLDER and len(chosen.dataset) == 4

    config = TrainingConfig(val_split=0.25, seed=3)
    chosen = retest_set(train, None, config, CLASSES)
    _, val_idx = stratified_split(train.labels, 0.25, 3)            # the samples training held out
    assert chosen.source == RETEST_VALIDATION and len(chosen.dataset) == len(val_idx) == 4
    assert [s.sample_id for s in chosen.dataset.samples] == [train.samples[i].sample_id for i in val_idx]

    chosen = retest_set(train, None, TrainingConfig(val_split=0.0), CLASSES)
    assert chosen.source == RETEST_TRAINING and len(chosen.dataset) == len(train)


def test_training_phase_can_limit_the_training_samples(tmp_path, tiny_script_card):
    """``max_train_samples``: a seeded, class-balanced subset of the training folder (the GUI's option)."""
    from medadv_desktop.engine.demo import write_demo_dataset
    from medadv_desktop.engine.jobs import CancelToken, run_job
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.engine.workflows.training import AdversarialTrainingRequest, training_phase
    from medadv_desktop.errors import JobCancelled

    write_demo_dataset(tmp_path / "demo", n_train=12, n_test=2)
    classifier = load_classifier(tiny_script_card, device="cpu")
    events, cancel = [], CancelToken()

    def on_event(event):
        events.append(event)
        if event.data.get("kind") == "data":
            cancel.cancel()                      # the data event is all this test needs

    request = AdversarialTrainingRequest(data=tmp_path / "demo", out_dir=tmp_path / "out",
                                         config=TrainingConfig(epochs=1), max_train_samples=5)
    try:
        run_job(training_phase(classifier, request, cancel=cancel), on_event, cancel=cancel)
    except JobCancelled:
        pass
    data = next(e for e in events if e.data.get("kind") == "data")
    assert data.data["n_samples"] == 5
