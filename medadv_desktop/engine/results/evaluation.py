"""Evaluation results: per-sample records, summary rows, flags, the attacks run, provenance.

These dataclasses are what every view and report reads. They round-trip
through JSON with :meth:`EvaluationResult.to_json` / :meth:`from_json`
(which also reads the files of earlier versions, see
:mod:`~medadv_desktop.engine.results.schema`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medadv_desktop.engine.results.modality import ModalityWarning
from medadv_desktop.engine.results.schema import SCHEMA_VERSION, migrate_evaluation
from medadv_desktop.engine.results.summaries import AttackInfo, DatasetSummary, ModelSummary, Provenance
from medadv_desktop.engine.serialization import dumps, from_jsonable, write_json

#: The row key of the worst case over the attacks, and how readers show it.
WORST_CASE = "worst-case"
WORST_CASE_LABEL = "Worst case"


@dataclass
class SampleRecord:
    """One sample x attack x eps. Distances are of (adv - clean) in [0, 1] units
    unless ``_native``; ``success`` is None when the clean prediction was already
    wrong (the attack is not counted for that sample)."""

    sample_id: str            # pseudonym + slice, never PHI ("S3F2A/slice-004": slice 4, from 1)
    true_label: int
    attack: str
    eps: float
    clean_pred: int
    adv_pred: int
    clean_conf_true: float    # softmax probability of the true class, clean
    adv_conf_true: float
    success: bool | None
    linf: float = 0.0
    l2: float = 0.0
    l0: float = 0.0           # fraction of pixels changed
    linf_native: float | None = None
    l2_native: float | None = None
    psnr: float | None = None
    ssim: float | None = None
    queries: int = 0
    time_s: float = 0.0


@dataclass
class AttackRow:
    """Summary of one attack at one eps (``attack == 'worst-case'`` for the worst case)."""

    attack: str
    eps: float
    eps_native: float | None
    n_samples: int
    robust_accuracy: float
    attack_success_rate: float | None
    mean_linf: float | None = None
    mean_l2: float | None = None
    mean_l0: float | None = None
    mean_linf_native: float | None = None
    mean_l2_native: float | None = None
    mean_psnr: float | None = None
    mean_ssim: float | None = None
    mean_conf_drop: float | None = None
    mean_queries: float | None = None
    median_queries: float | None = None
    time_s: float = 0.0
    transitions: list[list[int]] = field(default_factory=list)  # [true][adversarial prediction]
    # True when the attack ran only on samples still robust to the earlier attacks at this eps
    # (evaluate_job(full_rows=False)): robust accuracy and success rate are then cumulative
    # ("after attacks 1..k"), not this attack's own.
    cumulative: bool = False


@dataclass
class SanityFlag:
    code: str          # "zero_gradients", "probabilities", "nondeterministic", "black_box_beats_white_box"
    title: str
    explanation: str
    severity: str = "warning"   # "info" | "warning"


@dataclass
class ExamplePanel:
    """A small example for reports and the GUI: 2-D [0, 1] images as nested lists."""

    sample_id: str
    attack: str
    eps: float
    true_label: int
    clean_pred: int
    adv_pred: int
    clean_conf: float
    adv_conf: float
    original: list          # (H, W) [0, 1] (first channel / luminance), at most 128x128
    adversarial: list
    native_per_unit: float | None = None


@dataclass
class ClassMetrics:
    """Clean performance on one class: ``n`` images of it, sensitivity (recall of the class)
    and specificity (the other classes not called it); None when undefined (no image of the
    class, or none of the others)."""

    class_name: str
    index: int
    n: int
    sensitivity: float | None
    specificity: float | None


@dataclass
class EvaluationResult:
    model: ModelSummary
    dataset: DatasetSummary                # de-identified: name, n_samples, counts per class, synthetic
    class_names: list[str]
    norm: str
    eps_grid: list[float]
    eps_native: list[float | None]
    units: str                         # native units of eps_native ("HU", "a.u.")
    attacks: list[str]                 # the attacks' keys in run order (AttackRow.attack)
    n_samples: int
    clean_accuracy: float
    balanced_accuracy: float
    per_class: list[ClassMetrics]      # clean, one per class in class order
    rows: list[AttackRow]
    samples: list[SampleRecord] = field(default_factory=list)
    flags: list[SanityFlag] = field(default_factory=list)
    examples: list[ExamplePanel] = field(default_factory=list)
    provenance: Provenance = field(default_factory=Provenance)
    clean_confusion: list[list[int]] = field(default_factory=list)
    warnings: list[ModalityWarning] = field(default_factory=list)   # the modality guard's, before the attacks
    attack_info: list[AttackInfo] = field(default_factory=list)   # one per key of ``attacks``, same order
    schema_version: int = SCHEMA_VERSION

    def has_cumulative_rows(self) -> bool:
        """True when some rows come from the attack cascade (robust accuracy after this and the earlier attacks)."""
        return any(r.cumulative for r in self.rows)

    @property
    def synthetic(self) -> bool:
        """True when the model or the data set is MedAdv's synthetic demo (reports say so)."""
        return bool(self.model.synthetic or self.dataset.synthetic)

    def row(self, attack: str, eps: float) -> AttackRow | None:
        for r in self.rows:
            if r.attack == attack and abs(r.eps - eps) < 1e-12:
                return r
        return None

    def attack_details(self, attack: str) -> AttackInfo | None:
        """What the result recorded about the attack with key ``attack`` (None when nothing)."""
        return next((a for a in self.attack_info if a.attack == attack), None)

    def attack_label(self, attack: str) -> str:
        """How readers show a row key: the attack's own label, 'Worst case', or the key itself."""
        if attack == WORST_CASE:
            return WORST_CASE_LABEL
        info = self.attack_details(attack)
        return info.title if info is not None else attack

    def eps_native_at(self, eps: float) -> float | None:
        """eps in the study's units (None for per-image intensity mappings)."""
        for e, n in zip(self.eps_grid, self.eps_native or [], strict=False):
            if abs(e - eps) < 1e-12:
                return n
        row = next((r for r in self.rows if abs(r.eps - eps) < 1e-12 and r.eps_native is not None), None)
        return row.eps_native if row else None

    def to_json(self) -> str:
        return dumps(self)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        return write_json(path, self, overwrite=overwrite)

    @classmethod
    def from_data(cls, data: Any) -> EvaluationResult:
        """From JSON data of any schema version (migrated first)."""
        return from_jsonable(cls, migrate_evaluation(data))

    @classmethod
    def from_json(cls, text: str) -> EvaluationResult:
        return cls.from_data(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> EvaluationResult:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
