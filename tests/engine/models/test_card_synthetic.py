"""ModelCard.synthetic: the demo model says it is synthetic; nothing guesses it from text."""

from __future__ import annotations

import json

import pytest

from medadv_desktop.engine.models import ModelCard
from medadv_desktop.errors import ModelCardError
from medadv_desktop.paths import resources_dir

CARD = {"name": "Synthetic-sounding name, not for clinical use", "format": "timm", "architecture": "resnet18",
        "weights": "w.safetensors", "num_classes": 2, "class_names": ["a", "b"], "input_size": [64, 64]}


def test_demo_card_is_marked_synthetic():
    assert ModelCard.load(resources_dir() / "demo_model").synthetic is True


def test_flag_not_text_decides_and_round_trips(tmp_path):
    card = ModelCard.from_dict(CARD)
    assert card.synthetic is False and "synthetic" not in card.to_dict()     # the words in the name do not count
    marked = ModelCard.from_dict({**CARD, "synthetic": True})
    assert marked.synthetic and ModelCard.from_dict(json.loads(json.dumps(marked.to_dict()))).synthetic


@pytest.mark.parametrize("value", ["yes", 1, [True]])
def test_flag_must_be_a_boolean(value):
    with pytest.raises(ModelCardError, match="synthetic"):
        ModelCard.from_dict({**CARD, "synthetic": value})
