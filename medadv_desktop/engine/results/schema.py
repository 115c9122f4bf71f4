"""Schema versions of the JSON files MedAdv writes, and the migration of older files.

Every JSON document MedAdv writes (evaluation result, before/after table or
result, training result, single-study attack summary, report export) carries
``"schema_version": SCHEMA_VERSION``. Files written before the field existed
(the first release) are version 1 and are migrated on reading:

* evaluation results: ``provenance.attack_params`` and
  ``provenance.attacks_black_box`` become ``attack_info`` (one entry per
  attack; label and description, which version 1 did not record, are left
  empty for the reader to complete from the attack registry, see
  :func:`~medadv_desktop.engine.results.summaries.complete_attack_info`);
  the model's ``synthetic`` flag is set when its card said "not for clinical
  use" (the demo model's wording: version 1 cards had no flag); per-class
  entries' ``class`` becomes ``class_name``;
* before/after tables: missing ``train_eps``, ``eps_grid``, ``attacks`` are
  taken from the training summary and the rows; nested evaluations migrate;
* report exports: ``format_version`` 1 becomes ``schema_version``.

A file from a newer MedAdv (a larger version) is refused with a clear error
rather than half read. The functions work on plain dicts (JSON as read) and
return new dicts; :func:`~medadv_desktop.engine.serialization.from_jsonable`
then builds the typed result.
"""

from __future__ import annotations

import re
from typing import Any

from medadv_desktop.errors import ResultFormatError

#: The version this MedAdv writes. 1: the first release (no ``schema_version`` key).
SCHEMA_VERSION = 2
LEGACY_VERSION = 1

_NUMBERED = re.compile(r"^(?P<name>.+)-(?P<n>\d+)$")


def document_version(doc: dict[str, Any], what: str) -> int:
    """The schema version of ``doc`` (1 when absent); refuses files from a newer MedAdv."""
    raw = doc.get("schema_version", doc.get("format_version", LEGACY_VERSION))
    try:
        version = int(raw)
    except (TypeError, ValueError):
        raise ResultFormatError(f"The {what} has an unreadable schema_version {raw!r}.") from None
    if version > SCHEMA_VERSION:
        raise ResultFormatError(
            f"The {what} was written by a newer MedAdv (schema version {version}; this one reads up to "
            f"{SCHEMA_VERSION}).", hint="Update MedAdv Desktop to read it.")
    return version


def _require_object(doc: Any, what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ResultFormatError(f"The {what} is not a JSON object.")
    return dict(doc)


def registry_name(attack_key: str) -> str:
    """The attack's registry name from its key in a run ('pgd-2' -> 'pgd')."""
    m = _NUMBERED.match(attack_key)
    return m.group("name") if m else attack_key


def migrate_evaluation(doc: Any) -> dict[str, Any]:
    """An evaluation result document (any version) in the current schema's shape."""
    doc = _require_object(doc, "evaluation result")
    if document_version(doc, "evaluation result") < 2:
        prov = dict(doc.get("provenance") or {})
        params = prov.pop("attack_params", None) or {}
        black_box = prov.pop("attacks_black_box", None) or {}
        doc["attack_info"] = [
            {"attack": key, "name": registry_name(key),
             "access": ("black-box" if black_box[key] else "white-box") if key in black_box else "",
             "params": params.get(key, {})}
            for key in doc.get("attacks") or [] if isinstance(key, str)]
        doc["provenance"] = prov
        model = dict(doc.get("model") or {})
        text = f"{model.get('name', '')} {model.get('intended_use', '')}".lower()
        model["synthetic"] = bool(model.get("synthetic")) or "not for clinical use" in text
        doc["model"] = model
        doc["per_class"] = _migrate_per_class(doc.get("per_class"), doc.get("class_names"))
    doc.pop("format_version", None)
    doc["schema_version"] = SCHEMA_VERSION
    return doc


def _migrate_per_class(entries: Any, class_names: Any) -> Any:
    """Version 1 per-class entries {class, index, n, sensitivity, specificity} -> ClassMetrics'
    fields (``class`` -> ``class_name``; the index from the position when absent)."""
    if not isinstance(entries, list):
        return entries
    names = [str(n) for n in class_names] if isinstance(class_names, list) else []
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            out.append(entry)
            continue
        entry = dict(entry)
        index = entry.get("index", i)
        name = entry.pop("class", None)
        if name is None or isinstance(name, int):
            position = name if isinstance(name, int) else index
            name = names[position] if isinstance(position, int) and 0 <= position < len(names) else str(position)
        entry.setdefault("class_name", str(name))
        entry["index"] = index
        out.append(entry)
    return out


def migrate_before_after(doc: Any) -> dict[str, Any]:
    """A before/after table or full result (any version) in the current schema's shape."""
    doc = _require_object(doc, "before/after result")
    if not isinstance(doc.get("rows"), list):
        raise ResultFormatError("The before/after result has no 'rows'.",
                                hint="Give the before_after.json of an adversarial training run.")
    version = document_version(doc, "before/after result")
    for key in ("before", "after"):
        if isinstance(doc.get(key), dict):
            doc[key] = migrate_evaluation(doc[key])
    if version < 2:
        rows = [r for r in doc["rows"] if isinstance(r, dict)]
        training = doc.get("training") if isinstance(doc.get("training"), dict) else {}
        doc["training"] = training or None
        if doc.get("train_eps") is None:
            at_train = [r.get("eps") for r in rows if r.get("at_training_eps")]
            doc["train_eps"] = training.get("eps") if training.get("eps") is not None else (
                at_train[0] if at_train else None)
        if "eps_grid" not in doc:
            doc["eps_grid"] = sorted({float(r["eps"]) for r in rows
                                      if r.get("attack") != "clean" and isinstance(r.get("eps"), (int, float))})
        if "attacks" not in doc:
            doc["attacks"] = list(dict.fromkeys(str(r.get("attack")) for r in rows
                                                if r.get("attack") not in ("clean", "worst-case")))
        source = doc.get("before") or doc.get("after")
        doc["attack_info"] = (list(source.get("attack_info") or []) if isinstance(source, dict) else
                              [{"attack": a, "name": registry_name(a)} for a in doc["attacks"]])
    doc["schema_version"] = SCHEMA_VERSION
    return doc


def migrate_training(doc: Any) -> dict[str, Any]:
    """A training result document (any version) in the current schema's shape."""
    doc = _require_object(doc, "training result")
    document_version(doc, "training result")      # version 1 has the same keys
    doc["schema_version"] = SCHEMA_VERSION
    return doc


def migrate_study_summary(doc: Any) -> dict[str, Any]:
    """A single-study attack summary (``medadv attack``; any version) in the current schema's shape."""
    doc = _require_object(doc, "attack summary")
    document_version(doc, "attack summary")       # version 1 has the same keys, without attack_info
    doc["schema_version"] = SCHEMA_VERSION
    return doc
