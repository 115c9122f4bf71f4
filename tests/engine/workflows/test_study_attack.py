"""The study attack workflow on a real CT slice with a tiny real TorchScript model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from medadv_desktop.engine.jobs import run_job
from medadv_desktop.engine.workflows import StudyAttackOutcome, study_attack_workflow
from medadv_desktop.errors import AttackConfigError, OutputExistsError


@pytest.fixture(scope="module")
def classifier(tiny_script_card):
    from medadv_desktop.engine.models import load_classifier

    return load_classifier(tiny_script_card, device="cpu")


@pytest.fixture
def ct(tmp_path):
    from pydicom.data import get_testdata_file

    from medadv_desktop.engine.io import open_study

    src = tmp_path / "in" / "ct.dcm"
    src.parent.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), src)
    return open_study(src)


def test_text_budget_in_hu_is_parsed_against_card_and_study_and_nothing_is_written(classifier, ct, tmp_path):
    events = []
    outcome = run_job(study_attack_workflow(classifier, ct, "PGD", {"eps": "6HU", "alpha": "2HU", "steps": "3"}),
                      events.append)
    assert isinstance(outcome, StudyAttackOutcome) and outcome.attack == "pgd" and outcome.written == []
    assert outcome.result.eps == pytest.approx(6 / 400) and outcome.result.params["alpha"] == pytest.approx(2 / 400)
    assert events and all(e.stage == "attack" for e in events)
    adv = outcome.adversarial_pixels()
    assert adv.shape == ct.pixels.shape and np.abs(outcome.perturbation_map(adv)).max() <= 6 + 1e-3
    assert outcome.summary.eps_native == pytest.approx(6.0) and outcome.summary.units == "HU"
    assert len(outcome.summary.slices) == 1 and not list(tmp_path.glob("*_adv*"))
    with pytest.raises(AttackConfigError, match="does not match the study's units"):
        run_job(study_attack_workflow(classifier, ct, "fgsm", {"eps": "6mT"}))


def test_outputs_are_written_once_and_never_overwritten(classifier, ct, tmp_path):
    out = tmp_path / "out"
    outcome = run_job(study_attack_workflow(classifier, ct, "fgsm", {"eps": "4/255"}, out_dir=out))
    names = sorted(p.name for p in outcome.written)
    assert any(n.endswith("_adv.dcm") for n in names) and any(n.endswith("_perturbation.png") for n in names)
    summary = json.loads((out / f"{outcome.stem}_summary.json").read_text())
    assert summary["attack"] == "fgsm" and summary["eps"] == pytest.approx(4 / 255)
    assert set(summary["outputs"]) == set(names) - {f"{outcome.stem}_summary.json"}
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(OutputExistsError):        # refused before the attack runs
        run_job(study_attack_workflow(classifier, ct, "fgsm", {"eps": "4/255"}, out_dir=out))
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_outputs_written_after_the_attack_by_the_workflows_writer(classifier, ct, tmp_path):
    """What the GUI's export does: attack first (nothing written), write later; never over a file."""
    from medadv_desktop.engine.workflows import write_study_attack_outputs

    outcome = run_job(study_attack_workflow(classifier, ct, "fgsm", {"eps": "2/255"}))
    assert outcome.written == [] and not list(tmp_path.glob("out*"))
    written = write_study_attack_outputs(outcome, tmp_path / "out")
    names = sorted(p.name for p in written)
    assert any(n.endswith("_adv.dcm") for n in names) and any(n.endswith("_perturbation.png") for n in names)
    summary = json.loads((tmp_path / "out" / f"{outcome.stem}_summary.json").read_text())
    assert summary["model"] == classifier.card.name and summary["eps"] == pytest.approx(2 / 255)
    with pytest.raises(OutputExistsError):
        write_study_attack_outputs(outcome, tmp_path / "out")
