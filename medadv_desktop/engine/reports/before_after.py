"""The adversarial-training before/after table as the reports see it.

The training engine (``medadv_desktop.engine.training``) returns a
``BeforeAfterResult``; the reports do not import it. They accept, as
``before_after``:

* any object with ``.rows`` whose items have ``attack``, ``eps``,
  ``accuracy_before`` and ``accuracy_after`` (attributes or dict keys;
  accuracies are fractions in [0, 1], eps in [0, 1] units), and optionally
  ``.training`` / ``.config`` / ``.metrics`` / ``.summary`` (training
  configuration and metrics, shown as a small key/value table);
* a dict ``{"rows": [...], "training": {...}}`` (what :func:`write_json`
  stores, so a saved report rebuilds the same table);
* a plain list of such rows.

Rows with ``attack == "clean"`` hold the clean accuracies (eps 0);
``worst-case`` rows the worst case over the attacks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from medadv_desktop.engine.serialization import to_jsonable
from medadv_desktop.errors import ReportError
from medadv_desktop.engine.training.before_after import BeforeAfterRow  # the one row type, shared with training


@dataclass
class BeforeAfterTable:
    """Normalised before/after result: rows plus the training summary (JSON-like)."""

    rows: list[BeforeAfterRow]
    training: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [dataclasses.asdict(r) for r in self.rows], "training": to_jsonable(self.training)}


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, dict):
        return item.get(name, default)
    return getattr(item, name, default)


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def normalise_before_after(obj: Any) -> BeforeAfterTable | None:
    """Turn any accepted before/after shape (see module docstring) into a table."""
    if obj is None:
        return None
    if isinstance(obj, BeforeAfterTable):
        return obj
    if isinstance(obj, (list, tuple)):
        raw_rows, training = list(obj), {}
    else:
        raw_rows = _get(obj, "rows")
        if raw_rows is None:
            raise ReportError(
                "The before/after training result has no 'rows'.",
                hint="Pass the BeforeAfterResult of the adversarial training job, or a dict with 'rows'.")
        training = {}
        for key in ("training", "config", "metrics", "summary", "training_summary"):
            value = _get(obj, key)
            if value is None or callable(value):
                continue
            value = to_jsonable(value)
            if isinstance(value, dict):
                training.update(value if key in ("training", "training_summary", "summary") else {key: value})
            else:
                training[key] = value
    rows = []
    for item in raw_rows:
        attack = _get(item, "attack")
        if attack is None:
            raise ReportError("A before/after row has no 'attack'.",
                              hint="Each row needs attack, eps, accuracy_before and accuracy_after.")
        rows.append(BeforeAfterRow(
            attack=str(attack),
            eps=float(_get(item, "eps", 0.0) or 0.0),
            accuracy_before=_opt_float(_get(item, "accuracy_before")),
            accuracy_after=_opt_float(_get(item, "accuracy_after")),
        ))
    return BeforeAfterTable(rows=rows, training=training)


def flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dict -> [(dotted key, scalar value)] for key/value tables."""
    out: list[tuple[str, Any]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                out.extend(flatten(v, key))
            elif isinstance(v, list) and v and isinstance(v[0], (dict, list)):
                out.append((key, f"[{len(v)} items]"))
            elif isinstance(v, list) and len(v) > 8:
                out.append((key, f"[{len(v)} values]"))
            elif isinstance(v, str) and len(v) > 300:
                out.append((key, v[:297] + "..."))
            else:
                out.append((key, v))
    return out
