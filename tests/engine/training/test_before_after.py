"""Before/after table: the original and the hardened model against the same attacks."""

import json

import pytest

from medadv_desktop.engine.evaluation import WORST_CASE
from medadv_desktop.engine.jobs import run_job
from medadv_desktop.engine.training import (
    BeforeAfterResult, TrainingConfig, adversarial_training_job, before_after_job, format_table, merge_eps_grid)
from medadv_desktop.errors import OutputExistsError

EPS = 4 / 255


def test_merge_eps_grid_adds_the_training_eps_once():
    assert merge_eps_grid(2 / 255, [4 / 255, 1 / 255, 2 / 255]) == [1 / 255, 2 / 255, 4 / 255]
    assert merge_eps_grid(0.01, None) == [0.01]


def test_before_after_table_and_json_round_trip(pretrained_card, demo_train, tmp_path):
    config = TrainingConfig(method="fgsm", eps=EPS, epochs=2, lr=1e-3, batch_size=16, val_split=0.0, device="cpu")
    training = run_job(adversarial_training_job(pretrained_card, demo_train, config, tmp_path / "hardened"))
    events = []
    result = run_job(before_after_job(pretrained_card, training.model_card_path, demo_train.head(24),
                                      ["fgsm", ("pgd", {"steps": 5})], EPS, [2 / 255], training=training,
                                      device="cpu"), events.append)
    assert result.eps_grid == [2 / 255, EPS] and result.attacks == ["fgsm", "pgd"] and result.n_samples == 24
    assert [(r.attack, r.eps) for r in result.rows] == [
        ("clean", 0.0), ("fgsm", 2 / 255), ("fgsm", EPS), ("pgd", 2 / 255), ("pgd", EPS),
        (WORST_CASE, 2 / 255), (WORST_CASE, EPS)]
    assert result.clean.accuracy_before == result.before.clean_accuracy
    assert result.row("pgd", EPS).accuracy_after == result.after.row("pgd", EPS).robust_accuracy
    assert result.row("pgd", EPS).at_training_eps and not result.row("pgd", 2 / 255).at_training_eps
    assert result.row(WORST_CASE, EPS).accuracy_after <= result.row("pgd", EPS).accuracy_after
    # each attack's own robust accuracy (full_rows), not the cumulative rows of the attack cascade
    assert not any(r.cumulative for ev in (result.before, result.after) for r in ev.rows)
    assert result.before.provenance.full_rows and result.after.provenance.full_rows
    # the hardened model resists PGD at the training eps better than the original
    assert result.row("pgd", EPS).accuracy_after > result.row("pgd", EPS).accuracy_before
    assert result.training.method == "fgsm" and result.training.parent.sha256
    assert {e.data["model"] for e in events} == {"before", "after"}
    assert all(0 <= e.done <= e.total == 2 for e in events)

    text = format_table(result)
    assert "worst-case" in text and "4/255*" in text
    again = BeforeAfterResult.from_json(result.to_json())
    assert again.rows == result.rows and again.after.clean_accuracy == result.after.clean_accuracy
    path = result.save_table(tmp_path / "before_after.json")
    table = json.loads(path.read_text())
    assert {"attack", "eps", "accuracy_before", "accuracy_after"} <= set(table["rows"][0])
    assert BeforeAfterResult.from_data(table).rows == result.rows
    with pytest.raises(OutputExistsError):
        result.save_table(path)          # never overwrites
