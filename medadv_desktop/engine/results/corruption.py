"""Result of a corruption evaluation: a labelled data set x corruptions x severities.

One :class:`CorruptionRow` per (corruption, severity) holds the same measures
as an attack row, with their counts and intervals: accuracy, per-class
sensitivity/specificity (one-vs-rest), prediction flips against the clean
prediction of the same sample, and the mean change of the true-class
probability. One :class:`CorruptionSummary` per corruption gives its
corruption error relative to the model's own clean error (below), and
:class:`CorruptionEvaluationResult` the whole table, the clean row
(``severity == 0``) and one :class:`CorruptionSampleRecord` per sample and row.

**Corruption error** (after ImageNet-C, Hendrycks and Dietterich 2019, with
the model itself as the baseline instead of AlexNet): with E_clean the clean
error and E_{c,s} the error under corruption c at severity s,

* ``ce`` = mean over the evaluated severities of E_{c,s};
* ``added_error`` = ce - E_clean (error the corruption adds, in points);
* ``relative_ce`` = ce / E_clean (how many times the clean error; None when
  the clean error is 0);
* ``mce`` / ``relative_mce`` / ``mean_added_error``: the same averaged over
  the corruptions.

**Corruption then attack** (optional): each row also holds the robust
accuracy when an attack runs on the corrupted images (a sample is robust when
it is right after the corruption and after the attack on the corrupted
image); the clean row holds the attack on the clean images.

The JSON (:meth:`CorruptionEvaluationResult.save`) carries ``kind`` and
``schema_version``; :meth:`CorruptionEvaluationResult.from_dict` refuses other
kinds and newer versions with one clear line and builds the typed result with
:func:`~medadv_desktop.engine.serialization.from_jsonable` (the model and data
set summaries are the evaluation result's :class:`ModelSummary` and
:class:`DatasetSummary`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medadv_desktop.engine.results.summaries import DatasetSummary, ModelSummary
from medadv_desktop.engine.serialization import dumps, from_jsonable, write_json
from medadv_desktop.errors import ResultFormatError

KIND = "corruption_evaluation"
SCHEMA_VERSION = 1
CLEAN = "clean"


@dataclass(frozen=True)
class Rate:
    """A rate k of n with its interval (the fields of :class:`~medadv_desktop.engine.metrics.intervals.Proportion`,
    kept here so the result schema sits below the metrics layer). ``value`` is None when n = 0."""

    k: int
    n: int
    value: float | None
    low: float
    high: float
    method: str = "clopper-pearson"
    confidence: float = 0.95


@dataclass
class CorruptionSampleRecord:
    """One sample in one row: its prediction and true-class probability under that corruption."""

    sample_id: str
    true_label: int
    corruption: str            # "clean" for the clean pass (severity 0)
    severity: int
    pred: int
    conf_true: float           # softmax probability of the true class
    robust_pred: int | None = None   # prediction after the attack on this (corrupted) image, when one ran


@dataclass
class ClassRow:
    """Sensitivity and one-vs-rest specificity of one class in one row."""

    class_name: str
    sensitivity: Rate
    specificity: Rate


@dataclass
class CorruptionRow:
    """One corruption at one severity (``corruption == "clean"``, ``severity == 0``: the clean row)."""

    corruption: str
    label: str
    severity: int
    level: float | None                  # the main physical parameter at this severity (README table)
    level_unit: str
    description: str                     # e.g. "CT dose reduction, severity 3 (12.5 % dose)"
    n_samples: int
    accuracy: Rate
    error: float | None                  # 1 - accuracy
    flips: Rate                    # prediction differs from the clean prediction / all samples
    newly_wrong: int                     # right on clean input, wrong after the corruption
    newly_right: int                     # wrong on clean input, right after the corruption
    mean_conf_change: float | None       # mean (true-class probability corrupted - clean); negative = less sure
    per_class: list[ClassRow] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)   # physical parameters (first sample)
    measured: dict[str, Any] = field(default_factory=dict)     # means over samples (e.g. compression_ratio)
    time_s: float = 0.0                  # corruption time (not the model's)
    robust_accuracy: Rate | None = None   # corruption then attack (when an attack ran)


@dataclass
class CorruptionSummary:
    """One corruption over its severities: corruption error relative to the model's own clean error."""

    corruption: str
    label: str
    severities: list[int]
    ce: float | None
    added_error: float | None
    relative_ce: float | None
    worst_accuracy: float | None
    worst_severity: int | None


@dataclass
class CorruptionEvaluationResult:
    model: ModelSummary
    dataset: DatasetSummary                  # de-identified: name, n_samples, counts, synthetic
    class_names: list[str]
    modality: str
    corruptions: list[str]
    severities: list[int]
    seed: int
    n_samples: int
    clean: CorruptionRow
    rows: list[CorruptionRow]
    summaries: list[CorruptionSummary]
    mce: float | None
    mean_added_error: float | None
    relative_mce: float | None
    attack: dict[str, Any] | None = None     # {"name", "eps", "eps_native", "units", "norm", "params"} or None
    samples: list[CorruptionSampleRecord] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    kind: str = KIND
    schema_version: int = SCHEMA_VERSION

    def row(self, corruption: str, severity: int) -> CorruptionRow | None:
        if corruption == CLEAN or severity == 0:
            return self.clean
        return next((r for r in self.rows if r.corruption == corruption and r.severity == severity), None)

    def summary(self, corruption: str) -> CorruptionSummary | None:
        return next((s for s in self.summaries if s.corruption == corruption), None)

    def to_json(self) -> str:
        return dumps(self)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        return write_json(path, self, overwrite=overwrite)

    @classmethod
    def from_dict(cls, d: Any) -> CorruptionEvaluationResult:
        if not isinstance(d, dict) or d.get("kind") != KIND:
            raise ResultFormatError("This JSON file is not a MedAdv corruption evaluation result.")
        version = d.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ResultFormatError(f"This corruption evaluation has schema version {version!r}; this MedAdv reads "
                                    f"up to version {SCHEMA_VERSION}.", hint="Update MedAdv Desktop to read it.")
        return from_jsonable(cls, d)

    @classmethod
    def from_json(cls, text: str) -> CorruptionEvaluationResult:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> CorruptionEvaluationResult:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

