"""The outcome of attacking one study (``medadv attack``, the GUI's slice/volume/all-studies scopes)
and the JSON summary written beside the adversarial study."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medadv_desktop.engine.results.evaluation import AttackRow, SampleRecord
from medadv_desktop.engine.results.modality import ModalityWarning
from medadv_desktop.engine.results.schema import SCHEMA_VERSION, migrate_study_summary
from medadv_desktop.engine.results.summaries import AttackInfo
from medadv_desktop.engine.serialization import dumps, from_jsonable, write_json


@dataclass
class SlicePrediction:
    """The model's prediction of one slice before and after the attack."""

    slice: int
    before: str                       # class name
    before_probabilities: list[float]
    after: str
    after_probabilities: list[float]
    fooled: bool                      # the prediction changed


@dataclass
class StudyAttackSummary:
    """``<pseudonym>_<attack>_summary.json``: what a single-study attack did (no PHI, no arrays)."""

    study: str                        # pseudonym
    attack: str
    params: dict[str, Any]
    eps: float
    eps_native: float | None
    units: str
    model: str                        # the model card's name
    slices: list[SlicePrediction]
    summary_row: AttackRow
    records: list[SampleRecord]
    outputs: list[str]                # file names written beside it
    synthetic: bool = False
    attack_info: AttackInfo | None = None
    warnings: list[ModalityWarning] = field(default_factory=list)   # the modality guard's, before the attack
    keep_identity: bool = False       # the adversarial DICOM/NIfTI kept the source's identity (an opt-in)
    #: the predictions and measures are those of the written file read back from disk (not the float image)
    rescored_from_written_file: bool = False
    #: slices where rounding to the written file's stored values undid the attack
    rounding_undid_slices: list[int] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        return write_json(path, self, overwrite=overwrite)

    def to_json(self) -> str:
        return dumps(self)

    @classmethod
    def from_data(cls, data: Any) -> StudyAttackSummary:
        """From JSON data of any schema version (migrated first)."""
        return from_jsonable(cls, migrate_study_summary(data))

    @classmethod
    def load(cls, path: str | Path) -> StudyAttackSummary:
        return cls.from_data(json.loads(Path(path).read_text(encoding="utf-8")))


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
    attack_info: AttackInfo | None = None

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

    def slice_predictions(self) -> list[SlicePrediction]:
        """Per attacked slice: the class and probabilities before and after."""
        names = self.class_names
        out = []
        for k, s in enumerate(self.slices):
            cb, ca = int(self.clean_pred[k]), int(self.adv_pred[k])
            out.append(SlicePrediction(slice=int(s), before=names[cb],
                                       before_probabilities=[float(v) for v in self.clean_probs[k]],
                                       after=names[ca], after_probabilities=[float(v) for v in self.adv_probs[k]],
                                       fooled=ca != cb))
        return out

    def summary(self, *, model: str, outputs: list[str], synthetic: bool) -> StudyAttackSummary:
        """The JSON summary written beside the adversarial study (``model``: the card's name;
        ``outputs``: the file names written; ``synthetic``: the study is MedAdv's demo data)."""
        return StudyAttackSummary(
            study=self.study, attack=self.attack, params=dict(self.params), eps=self.eps,
            eps_native=self.eps_native, units=self.units, model=model, slices=self.slice_predictions(),
            summary_row=self.row, records=list(self.records), outputs=list(outputs), synthetic=synthetic,
            attack_info=self.attack_info, warnings=list(self.warnings))
