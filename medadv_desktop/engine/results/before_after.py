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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medadv_desktop.engine.results.corruption import CorruptionEvaluationResult
from medadv_desktop.engine.results.evaluation import WORST_CASE, WORST_CASE_LABEL, EvaluationResult
from medadv_desktop.engine.results.schema import SCHEMA_VERSION, migrate_before_after
from medadv_desktop.engine.results.summaries import AttackInfo
from medadv_desktop.engine.results.training import TrainingSummary
from medadv_desktop.engine.serialization import dumps, from_jsonable, to_jsonable, write_json

#: The row key of the clean accuracies (eps 0), and how readers show it.
CLEAN = "clean"
CLEAN_LABEL = "Clean (no attack)"


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
    """The before/after table, both evaluations and the training summary.

    ``before_after.json`` (:meth:`save_table`) holds everything but the two
    evaluations; :meth:`save` the whole result.
    """

    rows: list[BeforeAfterRow]
    train_eps: float | None = None
    eps_grid: list[float] = field(default_factory=list)
    attacks: list[str] = field(default_factory=list)
    norm: str = "linf"
    units: str = ""
    n_samples: int = 0
    training: TrainingSummary | None = None
    before: EvaluationResult | None = None
    after: EvaluationResult | None = None
    corruption_rows: list[CorruptionBeforeAfterRow] = field(default_factory=list)
    corruption_severities: list[int] = field(default_factory=list)
    corruption_note: str = ""                       # why corruptions were not (all) re-tested; "" when they were
    corruption_before: CorruptionEvaluationResult | None = None
    corruption_after: CorruptionEvaluationResult | None = None
    attack_info: list[AttackInfo] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def row(self, attack: str, eps: float) -> BeforeAfterRow | None:
        for r in self.rows:
            if r.attack == attack and abs(r.eps - eps) < 1e-12:
                return r
        return None

    @property
    def clean(self) -> BeforeAfterRow | None:
        return next((r for r in self.rows if r.attack == CLEAN), None)

    def attack_label(self, attack: str) -> str:
        """How readers show a row key: 'Clean (no attack)', 'Worst case', the attack's own label or the key."""
        if attack == CLEAN:
            return CLEAN_LABEL
        for source in (self.attack_info, *(r.attack_info for r in (self.before, self.after) if r is not None)):
            info = next((a for a in source if a.attack == attack), None)
            if info is not None:
                return info.title
        return WORST_CASE_LABEL if attack == WORST_CASE else attack

    def table_dict(self) -> dict[str, Any]:
        """What ``before_after.json`` holds: rows (attack, eps, accuracy_before, accuracy_after), the
        training summary, the attacks, the corruption re-test rows, the schema version; not the four
        evaluations (attack and corruption, before and after)."""
        doc: dict[str, Any] = to_jsonable(replace(self, before=None, after=None, corruption_before=None,
                                                  corruption_after=None))
        for key in ("before", "after", "corruption_before", "corruption_after"):
            del doc[key]
        return doc

    def to_json(self) -> str:
        return dumps(self)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the full result (table + both evaluations) as JSON; never overwrites unless asked."""
        return write_json(path, self, overwrite=overwrite)

    def save_table(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the table only (:meth:`table_dict`)."""
        return write_json(path, self.table_dict(), overwrite=overwrite)

    @classmethod
    def from_data(cls, data: Any) -> BeforeAfterResult:
        """From JSON data of any schema version (a table or a full result; migrated first)."""
        return from_jsonable(cls, migrate_before_after(data))

    @classmethod
    def from_json(cls, text: str) -> BeforeAfterResult:
        return cls.from_data(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> BeforeAfterResult:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
