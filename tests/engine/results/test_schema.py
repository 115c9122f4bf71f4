"""The typed result schema: summaries, attack metadata, training results, versions."""

from __future__ import annotations

import json

from medadv_desktop.engine.results import (
    SCHEMA_VERSION, AttackInfo, EpochRecord, ParentModel, TrainingDataSummary, TrainingResult,
    complete_attack_info)


class _FakeAttack:
    name = "pgd"
    label = "PGD"
    description = "iterated gradient steps"


def test_attack_info_from_the_class_and_numbered_runs():
    info = AttackInfo.from_attack(_FakeAttack, "pgd", {"eps": 0.1, "steps": 5}, black_box=False)
    assert (info.label, info.access, info.description, info.params) == ("PGD", "white-box",
                                                                        "iterated gradient steps", {"steps": 5})
    assert info.title == "PGD" and not info.black_box
    second = AttackInfo.from_attack(_FakeAttack, "pgd-2", {}, black_box=True)
    assert second.title == "PGD (2)" and second.black_box
    assert AttackInfo(attack="mystery").title == "mystery"


def test_complete_attack_info_fills_only_what_is_missing():
    infos = [AttackInfo(attack="pgd", name="pgd"), AttackInfo(attack="own", name="own", label="Mine", description="d"),
             AttackInfo(attack="gone", name="gone")]
    complete_attack_info(infos, lambda name: ("PGD", "steps") if name == "pgd" else None)
    assert [(a.label, a.description) for a in infos] == [("PGD", "steps"), ("Mine", "d"), ("", "")]


def test_training_result_round_trip_with_schema_version():
    result = TrainingResult(
        out_dir="out", model_card_path="out/model_card.json", weights_path="out/model.safetensors",
        config={"method": "fgsm", "eps": 2 / 255, "epochs": 1, "lr": 1e-3, "seed": 0},
        history=[EpochRecord(0, None, None, 0.9, 0.4, 1.0), EpochRecord(1, 0.5, 0.8, 0.9, 0.6, 2.0, "c.json")],
        parent=ParentModel("demo", "resnet18", "ab" * 32), data=TrainingDataSummary("DATASET-1", 8, 2, {"a": 5}),
        weights_sha256="cd" * 32)
    doc = json.loads(result.to_json())
    assert doc["schema_version"] == SCHEMA_VERSION
    assert TrainingResult.from_json(result.to_json()) == result
    del doc["schema_version"]                                  # a file of the first release
    assert TrainingResult.from_data(doc) == result
    summary = result.summary()
    assert summary.method == "fgsm" and summary.final.epoch == 1 and summary.baseline.epoch == 0
    assert summary.parent.sha256 == "ab" * 32 and summary.model_card == "model_card.json"


def test_the_model_summary_keeps_every_field_of_the_model_card():
    """A result records the whole card (less its free-form provenance): a field added to the card
    must be added to ModelSummary too, or from_jsonable would drop it from every result silently."""
    import dataclasses
    from pathlib import Path

    from medadv_desktop.engine.evaluation.common import model_summary
    from medadv_desktop.engine.models import load_classifier
    from medadv_desktop.engine.models.card import ModelCard
    from medadv_desktop.engine.results import ModelSummary

    card_path = Path(__file__).resolve().parents[3] / "resources" / "demo_model" / "model_card.json"
    card = ModelCard.load(card_path)
    summary_fields = {f.name for f in dataclasses.fields(ModelSummary)}
    assert set(card.to_dict()) - {"provenance"} <= summary_fields
    summary = model_summary(load_classifier(card, "cpu"))
    assert summary.synthetic and summary.sha256 and summary.intensity.native_per_unit() == card.intensity.width
    assert summary.class_names == card.class_names and summary.intensity_description == card.intensity.describe()
    assert summary.modality == card.modality == "CT"
