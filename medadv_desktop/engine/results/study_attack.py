"""The outcome of attacking one study (``medadv attack``, the GUI's slice/volume/all-studies scopes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medadv_desktop.engine.results.evaluation import AttackRow, SampleRecord
from medadv_desktop.engine.results.modality import ModalityWarning


@dataclass
class StudyAttackResult:
    """The outcome of attacking one study.

    Arrays: ``clean_unit``/``adv_unit`` (S, C, H, W) float32 in [0, 1];
    ``clean_native``/``adv_native`` shaped like the study's slices, (S, H, W)
    or (S, H, W, C), float32 in the study's units; ``bounds`` the native
    (low, high) mapped to 0 and 1 per slice; ``clean_probs``/``adv_probs``
    (S, K) softmax probabilities, one row per slice (a 3-D model's single
    prediction of the whole volume is repeated on every slice; ``records``
    then holds one record for the volume). ``eps`` in [0, 1] units, ``eps_native`` in the
    study's units (None when the mapping is per image and slices differ).
    """

    study: str                        # pseudonym of the study
    attack: str
    params: dict[str, Any]
    slices: list[int]
    class_names: list[str]
    clean_unit: np.ndarray = field(repr=False)
    adv_unit: np.ndarray = field(repr=False)
    clean_native: np.ndarray = field(repr=False)
    adv_native: np.ndarray = field(repr=False)
    bounds: list[tuple[float, float]]
    clean_probs: np.ndarray
    adv_probs: np.ndarray
    records: list[SampleRecord]
    row: AttackRow
    eps: float
    eps_native: float | None
    units: str
    elapsed_s: float
    targets: list[int] | None = None
    warnings: list[ModalityWarning] = field(default_factory=list)   # the modality guard's, before the attack

    @property
    def clean_pred(self) -> np.ndarray:
        return self.clean_probs.argmax(axis=1)

    @property
    def adv_pred(self) -> np.ndarray:
        return self.adv_probs.argmax(axis=1)

    @property
    def perturbation_native(self) -> np.ndarray:
        """adv_native - clean_native, in the study's units (shape of the slices)."""
        return self.adv_native - self.clean_native

    @property
    def perturbation_unit(self) -> np.ndarray:
        return self.adv_unit - self.clean_unit
