"""Evaluation results: per-sample records, summary rows, flags, provenance.

These dataclasses are what every view and report reads. They round-trip
through JSON with :meth:`EvaluationResult.to_json` / :meth:`from_json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from medadv_desktop.engine.results.modality import ModalityWarning
from medadv_desktop.engine.serialization import dumps, write_json

WORST_CASE = "worst-case"


@dataclass
class SampleRecord:
    """One sample x attack x eps. Distances are of (adv - clean) in [0, 1] units
    unless ``_native``; ``success`` is None when the clean prediction was already
    wrong (the attack is not counted for that sample)."""

    sample_id: str            # pseudonym + slice, never PHI ("S3F2A/slice-004")
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
class EvaluationResult:
    model: dict[str, Any]              # card summary: name, architecture, format, sha256, input_size, intensity, ...
    dataset: dict[str, Any]            # de-identified: name, n_samples, counts per class, synthetic
    class_names: list[str]
    norm: str
    eps_grid: list[float]
    eps_native: list[float | None]
    units: str                         # native units of eps_native ("HU", "a.u.")
    attacks: list[str]
    n_samples: int
    clean_accuracy: float
    balanced_accuracy: float
    per_class: list[dict[str, Any]]    # {class, n, sensitivity, specificity}
    rows: list[AttackRow]
    samples: list[SampleRecord] = field(default_factory=list)
    flags: list[SanityFlag] = field(default_factory=list)
    examples: list[ExamplePanel] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)   # versions, device, seed, date, attack params
    clean_confusion: list[list[int]] = field(default_factory=list)
    warnings: list[ModalityWarning] = field(default_factory=list)   # the modality guard's, before the attacks

    def has_cumulative_rows(self) -> bool:
        """True when some rows come from the attack cascade (robust accuracy after this and the earlier attacks)."""
        return any(r.cumulative for r in self.rows)

    def row(self, attack: str, eps: float) -> AttackRow | None:
        for r in self.rows:
            if r.attack == attack and abs(r.eps - eps) < 1e-12:
                return r
        return None

    def to_json(self) -> str:
        return dumps(self)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        return write_json(path, self, overwrite=overwrite)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EvaluationResult":
        d = dict(d)
        d["rows"] = [AttackRow(**_known(AttackRow, r)) for r in d.get("rows", [])]
        d["samples"] = [SampleRecord(**_known(SampleRecord, s)) for s in d.get("samples", [])]
        d["flags"] = [SanityFlag(**_known(SanityFlag, f)) for f in d.get("flags", [])]
        d["examples"] = [ExamplePanel(**_known(ExamplePanel, e)) for e in d.get("examples", [])]
        d["warnings"] = [ModalityWarning(**_known(ModalityWarning, w)) for w in d.get("warnings", [])]
        return cls(**_known(cls, d))

    @classmethod
    def from_json(cls, text: str) -> "EvaluationResult":
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> "EvaluationResult":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _known(cls, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}
