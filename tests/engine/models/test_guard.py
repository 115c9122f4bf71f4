"""The modality guard (issue 13): the card states the modality (and body part) the model was trained
for; a study of another kind is warned about before any attack, the warning is recorded in the
result, and strictness refuses; images that may carry burned-in text stay out of report examples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from medadv_desktop.engine.io import open_study
from medadv_desktop.engine.jobs import run_job
from medadv_desktop.engine.models import ModelCard, dataset_modality_warnings, load_classifier, modality_warnings
from medadv_desktop.engine.models.card import ModelCardError
from medadv_desktop.engine.results.modality import BODY_PART_MISMATCH, MODALITY_MISMATCH, UNITS_MISMATCH
from medadv_desktop.errors import ModalityMismatchError

from ...conftest import make_tiny_card

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def ct_card(tmp_path_factory) -> Path:
    return make_tiny_card(tmp_path_factory.mktemp("ct_card"), format="torchscript", modality="CT")


@pytest.fixture(scope="module")
def ct_classifier(ct_card):
    return load_classifier(ct_card, device="cpu")


def _card(**extra) -> dict:
    return {"name": "m", "format": "torchscript", "weights": "model.pt", "num_classes": 2,
            "class_names": ["a", "b"], "input_size": [32, 32], "in_chans": 1,
            "intensity": {"mode": "window", "center": 40, "width": 400}, "mean": [0.5], "std": [0.5], **extra}


def test_card_modality_and_body_part_are_validated_and_normalised(tmp_path):
    card = ModelCard.from_dict(_card(modality="mri", body_part=" head "), tmp_path / "model_card.json")
    assert (card.modality, card.body_part) == ("MR", "HEAD")
    assert card.to_dict()["modality"] == "MR" and card.to_dict()["body_part"] == "HEAD"
    assert "modality" not in ModelCard.from_dict(_card(), tmp_path / "model_card.json").to_dict()
    for bad in ({"modality": "brain scan"}, {"modality": 3}, {"body_part": "<script>"}, {"body_part": "x" * 65}):
        with pytest.raises(ModelCardError) as info:
            ModelCard.from_dict(_card(**bad), tmp_path / "model_card.json")
        assert next(iter(bad)) in str(info.value) and "\n" not in str(info.value)


def test_demo_card_states_ct():
    card = ModelCard.load(REPO / "resources" / "demo_model" / "model_card.json")
    assert card.modality == "CT"
    demo = open_study(REPO / "resources" / "demo_study")
    assert modality_warnings(card, demo) == []


def test_guard_rules(ct_card, tmp_path):
    card = ModelCard.load(ct_card)
    ct = open_study(get_testdata_file("CT_small.dcm"))
    assert modality_warnings(card, ct) == []
    mr = open_study(get_testdata_file("MR_small.dcm"))
    warnings = modality_warnings(card, mr)
    assert [w.code for w in warnings] == [MODALITY_MISMATCH, UNITS_MISMATCH]
    assert (warnings[0].expected, warnings[0].found) == ("CT", "MR")
    assert "trained on CT" in warnings[0].message and "MR" in warnings[0].message
    assert all(mr.pseudonym not in w.message for w in warnings)
    # a CT whose header states another body part than the card
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.BodyPartExamined = "CHEST"
    chest = tmp_path / "chest.dcm"
    ds.save_as(chest, enforce_file_format=True)
    head_card = ModelCard.from_dict({**card.to_dict(), "body_part": "HEAD"}, ct_card)
    assert [w.code for w in modality_warnings(head_card, open_study(chest))] == [BODY_PART_MISMATCH]
    assert modality_warnings(head_card, ct) == []                 # the study states no body part
    # projection radiography codes are one family; a card without modality is never checked
    cr_card = ModelCard.from_dict({**card.to_dict(), "modality": "CR", "intensity": {"mode": "minmax"}}, ct_card)
    dx = open_study(get_testdata_file("RG1_UNCR.dcm"))
    assert dx.modality in ("RG", "DX", "CR") and modality_warnings(cr_card, dx) == []
    silent = ModelCard.from_dict({**card.to_dict(), "modality": None}, ct_card)
    assert modality_warnings(silent, mr) == []


def test_dataset_warnings_count_the_studies(ct_card):
    card = ModelCard.load(ct_card)
    studies = [open_study(get_testdata_file(n)) for n in ("CT_small.dcm", "MR_small.dcm", "MR_small.dcm")]
    warnings = dataset_modality_warnings(card, studies)
    mismatch = next(w for w in warnings if w.code == MODALITY_MISMATCH)
    assert (mismatch.n_studies, mismatch.n_total) == (2, 3) and "2 of 3 studies" in mismatch.message


def test_study_attack_warns_before_attacking_records_it_and_strict_refuses(ct_classifier, tmp_path):
    from medadv_desktop.engine.workflows import study_attack_workflow

    mr = open_study(get_testdata_file("MR_small.dcm"))
    events = []
    out = tmp_path / "out"
    outcome = run_job(study_attack_workflow(ct_classifier, mr, "fgsm", {"eps": "4/255"}, out_dir=out),
                      events.append)
    kinds = [e.data.get("kind") for e in events]
    first_warning = kinds.index("warning")
    assert all(k != "write" for k in kinds[:first_warning])            # warned before the attack's work
    assert events[first_warning].data["warning"].code == MODALITY_MISMATCH
    assert [w.code for w in outcome.result.warnings] == [MODALITY_MISMATCH, UNITS_MISMATCH]
    summary = json.loads(next(out.glob("*_summary.json")).read_text())
    assert [w["code"] for w in summary["warnings"]] == [MODALITY_MISMATCH, UNITS_MISMATCH]
    strict_out = tmp_path / "strict"
    with pytest.raises(ModalityMismatchError, match="Modality mismatch") as info:
        run_job(study_attack_workflow(ct_classifier, mr, "fgsm", {"eps": "4/255"}, out_dir=strict_out,
                                      strict_modality=True))
    assert info.value.warnings and not strict_out.exists()
    # the CT study: no warning, and strict runs
    ct = open_study(get_testdata_file("CT_small.dcm"))
    assert run_job(study_attack_workflow(ct_classifier, ct, "fgsm", {"eps": "4/255"},
                                         strict_modality=True)).result.warnings == []


@pytest.fixture(scope="module")
def demo_split(tmp_path_factory):
    from medadv_desktop.engine.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("demo") / "data"
    write_demo_dataset(root, n_train=2, n_test=8)
    return root / "test"


def _evaluate(card, data, **kw):
    from medadv_desktop.engine.workflows import EvaluationRequest, evaluation_workflow

    request = EvaluationRequest(data=data, attacks=["fgsm"], eps="200HU", n_examples=4, **kw)
    events = []
    outcome = run_job(evaluation_workflow(card, request, device="cpu"), events.append)
    return outcome.result, events


def test_evaluation_records_the_mismatch_and_json_keeps_it(ct_card, demo_split, tmp_path):
    card = ModelCard.load(ct_card)
    mr_card = ModelCard.from_dict({**card.to_dict(), "modality": "MR"}, ct_card)
    result, events = _evaluate(card, demo_split)
    assert result.warnings == [] and not any(e.data.get("kind") == "warning" for e in events)
    result, events = _evaluate(mr_card, demo_split, json=tmp_path / "r.json")
    assert [w.code for w in result.warnings] == [MODALITY_MISMATCH]
    assert all(e.milestone for e in events if e.data.get("kind") == "warning")   # never throttled away
    assert result.warnings[0].n_studies == result.warnings[0].n_total == result.n_samples
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["warnings"][0]["code"] == MODALITY_MISMATCH
    from medadv_desktop.engine.results import EvaluationResult

    assert EvaluationResult.load(tmp_path / "r.json").warnings[0].code == MODALITY_MISMATCH
    with pytest.raises(ModalityMismatchError):
        _evaluate(mr_card, demo_split, strict_modality=True)


def test_burned_in_images_are_not_report_examples_unless_chosen(demo_split, tmp_path):
    demo = load_classifier(REPO / "resources" / "demo_model" / "model_card.json", device="cpu")  # FGSM fools it
    flagged = tmp_path / "flagged"
    shutil.copytree(demo_split, flagged)
    for f in flagged.rglob("*.dcm"):
        ds = pydicom.dcmread(f)
        ds.BurnedInAnnotation = "YES"
        ds.save_as(f, enforce_file_format=True)
    chosen, _ = _evaluate(demo, flagged, examples_with_burned_in=True)
    assert chosen.examples, "FGSM at 200 HU should fool the demo model on some image"
    default, _ = _evaluate(demo, flagged)
    assert default.examples == []
    assert default.rows[0].robust_accuracy == chosen.rows[0].robust_accuracy   # only the examples differ
