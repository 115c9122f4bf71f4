"""Model cards, safe model loading and the differentiable classifier wrapper.

Public API (torch is imported only when a torch-side name is first used, so
the GUI can import this package at start-up cheaply)::

    from medadv_desktop.engine.models import (
        ModelCard, IntensityMapping,                       # card.py (no torch)
        load_classifier, sha256_file, resolve_device,      # loading.py
        save_card, create_card_from_weights, load_state_dict_file,
        Classifier, study_to_unit, study_to_unit_volume, unit_to_native,  # wrapper.py
        modality_warnings, dataset_modality_warnings,     # guard.py (no torch)
    )
"""

from __future__ import annotations

from typing import Any

from medadv_desktop.engine._lazy import lazy_attribute
from medadv_desktop.engine.models.card import IntensityMapping, ModelCard

_LAZY = {
    "load_classifier": "loading", "sha256_file": "loading", "resolve_device": "loading",
    "save_card": "loading", "create_card_from_weights": "loading", "load_state_dict_file": "loading",
    "Classifier": "wrapper", "study_to_unit": "wrapper", "study_to_unit_volume": "wrapper",
    "unit_to_native": "wrapper", "BT601_LUMA": "wrapper",
    "modality_warnings": "guard", "dataset_modality_warnings": "guard",
}

__all__ = ["ModelCard", "IntensityMapping", *_LAZY]


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, globals(), name)


def __dir__() -> list[str]:
    return sorted(__all__)
