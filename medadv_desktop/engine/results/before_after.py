"""Before/after adversarial training: the rows and the result (the seed paper's Table 1 with an
"after" column). The job that fills them is :func:`medadv_desktop.engine.training.before_after_job`.

* ``attack == "clean"``, ``eps == 0``: clean accuracy;
* one row per attack and eps (the training eps is always in the grid):
  robust accuracy = fraction of samples still classified correctly;
* ``attack == "worst-case"``: a sample counts as robust only if every attack
  fails on it.

Accuracies are fractions in [0, 1]; eps in [0, 1] image units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from medadv_desktop.engine.results.corruption import CorruptionEvaluationResult
from medadv_desktop.engine.results.evaluation import EvaluationResult
from medadv_desktop.engine.serialization import dumps, to_jsonable, write_json

CLEAN = "clean"


@dataclass
class BeforeAfterRow:
    """Accuracy of the original (before) and the hardened (after) model at one attack and eps."""

    attack: str
    eps: float
    accuracy_before: float | None
    accuracy_after: float | None
    eps_native: float | None = None
    at_training_eps: bool = False

    @property
    def change(self) -> float | None:
        """accuracy_after - accuracy_before (fraction; +0.25 = 25 points better)."""
        if self.accuracy_before is None or self.accuracy_after is None:
            return None
        return self.accuracy_after - self.accuracy_before


@dataclass
class CorruptionBeforeAfterRow:
    """Accuracy of the original (before) and the hardened (after) model under one corruption at one
    severity, on the same samples: the paired change with its interval (Newcombe) and the exact
    McNemar p-value. Hardening against attacks can cost robustness to natural artefacts: a negative
    change whose interval excludes 0 shows it."""

    corruption: str
    severity: int
    description: str
    accuracy_before: float | None
    accuracy_after: float | None
    n: int = 0
    change_low: float | None = None
    change_high: float | None = None
    p_value: float | None = None
    level: float | None = None
    level_unit: str = ""

    @property
    def change(self) -> float | None:
        """accuracy_after - accuracy_before (fraction)."""
        if self.accuracy_before is None or self.accuracy_after is None:
            return None
        return self.accuracy_after - self.accuracy_before


@dataclass
class BeforeAfterResult:
    """The before/after table, both evaluations and the training summary."""

    rows: list[BeforeAfterRow]
    train_eps: float
    eps_grid: list[float]
    attacks: list[str]
    norm: str = "linf"
    units: str = ""
    n_samples: int = 0
    training: dict[str, Any] = field(default_factory=dict)
    before: EvaluationResult | None = None
    after: EvaluationResult | None = None
    corruption_rows: list[CorruptionBeforeAfterRow] = field(default_factory=list)
    corruption_severities: list[int] = field(default_factory=list)
    corruption_note: str = ""                       # why corruptions were not (all) re-tested; "" when they were
    corruption_before: CorruptionEvaluationResult | None = None
    corruption_after: CorruptionEvaluationResult | None = None

    def row(self, attack: str, eps: float) -> BeforeAfterRow | None:
        for r in self.rows:
            if r.attack == attack and abs(r.eps - eps) < 1e-12:
                return r
        return None

    @property
    def clean(self) -> BeforeAfterRow | None:
        return next((r for r in self.rows if r.attack == CLEAN), None)

    def table_dict(self) -> dict[str, Any]:
        """What ``before_after.json`` holds: rows (attack, eps, accuracy_before, accuracy_after) and training."""
        return {"rows": [{"attack": r.attack, "eps": r.eps, "accuracy_before": r.accuracy_before,
                          "accuracy_after": r.accuracy_after, "eps_native": r.eps_native,
                          "at_training_eps": r.at_training_eps} for r in self.rows],
                "train_eps": self.train_eps, "eps_grid": self.eps_grid, "attacks": self.attacks,
                "norm": self.norm, "units": self.units, "n_samples": self.n_samples,
                "training": to_jsonable(self.training),
                "corruption_rows": to_jsonable(self.corruption_rows),
                "corruption_severities": self.corruption_severities, "corruption_note": self.corruption_note}

    def to_json(self) -> str:
        return dumps(self)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the full result (table + both evaluations) as JSON; never overwrites unless asked."""
        return write_json(path, self, overwrite=overwrite)

    def save_table(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the table only (:meth:`table_dict`)."""
        return write_json(path, self.table_dict(), overwrite=overwrite)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BeforeAfterResult":
        d = dict(d)
        d["rows"] = [BeforeAfterRow(**_known(BeforeAfterRow, r)) for r in d.get("rows", [])]
        for key in ("before", "after"):
            if isinstance(d.get(key), dict):
                d[key] = EvaluationResult.from_dict(d[key])
        d["corruption_rows"] = [CorruptionBeforeAfterRow(**_known(CorruptionBeforeAfterRow, r))
                                for r in d.get("corruption_rows", [])]
        for key in ("corruption_before", "corruption_after"):
            if isinstance(d.get(key), dict):
                d[key] = CorruptionEvaluationResult.from_dict(d[key])
        return cls(**_known(cls, d))

    @classmethod
    def from_json(cls, text: str) -> "BeforeAfterResult":
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> "BeforeAfterResult":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _known(cls, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}
