"""The bundled demo model (resources/demo_model): card, hash, and the held-out accuracy it records."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medadv_desktop.engine.demo import CLASS_NAMES, make_split_arrays
from medadv_desktop.engine.demo.study import demo_study_slices
from medadv_desktop.engine.models import ModelCard, load_classifier, sha256_file
from medadv_desktop.paths import demo_model_card


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return ModelCard.load(demo_model_card())


@pytest.fixture(scope="module")
def classifier(card):
    return load_classifier(card, device="cpu")


def _unit(card: ModelCard, hu: np.ndarray) -> torch.Tensor:
    unit, _ = card.intensity.to_unit(hu.astype(np.float32))
    return torch.from_numpy(unit)[:, None]


def test_card_describes_the_demo_task(card):
    assert card.format == "timm" and card.architecture == "efficientnet_b0"
    assert card.in_chans == 1 and card.num_classes == 2 and card.class_names == list(CLASS_NAMES)
    assert list(card.input_size) == [64, 64]
    assert card.intensity.to_dict() == {"mode": "window", "center": 40.0, "width": 400.0}
    assert card.mean == [0.5] and card.std == [0.5]
    for text in (card.name, card.intended_use):
        assert "synthetic demo task, not for clinical use" in text.lower()
    prov = card.provenance
    assert prov["held_out_accuracy"] >= 0.90
    assert {"seed", "n_train", "n_test"} <= set(prov["data"]) and prov["training"]["epochs"] >= 1


def test_weights_match_the_card_hash_and_size_limit(card):
    assert card.weights_path.suffix == ".safetensors"
    assert card.weights_path.stat().st_size < 20_000_000
    assert sha256_file(card.weights_path) == card.sha256


def test_held_out_accuracy_matches_the_card(card, classifier):
    """Regenerate the held-out split the card names and re-measure (fp16 weights reloaded as fp32)."""
    data = card.provenance["data"]
    hu, labels = make_split_arrays(data["seed"], "test", data["n_test"])
    probs = classifier.predict_proba(_unit(card, hu), batch_size=100)
    accuracy = float((probs.argmax(1).numpy() == labels).mean())
    recorded = card.provenance["held_out_accuracy"]
    assert accuracy >= recorded - 1.0 / data["n_test"] - 1e-9   # one borderline sample of numeric slack
    assert accuracy >= 0.90


def test_demo_study_predictions_mostly_right(card, classifier):
    slices = demo_study_slices()
    hu = np.stack([px for px, _, _ in slices])
    truth = np.array([CLASS_NAMES.index(info.label) for _, info, _ in slices])
    pred = classifier.predict_proba(_unit(card, hu)).argmax(1).numpy()
    assert (pred == truth).mean() >= 0.75
