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
