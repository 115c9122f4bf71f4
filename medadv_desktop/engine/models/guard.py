"""The modality guard: does a study match what the model was trained for?

One rule set, used by the study-attack and evaluation workflows (which emit
the warnings as progress events before attacking and record them in their
results) and by the GUI:

* **modality**: the card states ``modality`` and the study's differs. CR, DX
  and RG (projection radiography) count as one; a study of unknown modality
  (``OT``, e.g. a PNG) differs from every stated one. The message says how
  the study's modality was found (header, inferred with a confidence, set by
  the user) so a wrongly inferred NIfTI can be corrected (``modality=`` on
  open, ``--modality`` in the CLI).
* **body part**: the card states ``body_part`` and the study states another
  (a study that states none is not flagged).
* **units**: the card maps a fixed window of HU (``modality`` CT and an
  intensity window) but the study's values are not HU (a CT PNG, an MR): the
  window then maps meaningless numbers.

A card that states no modality is not checked. :func:`modality_warnings` and
:func:`dataset_modality_warnings` never raise; :func:`guard_job` (what the
workflows run) yields the warnings as events, or refuses with
:class:`~medadv_desktop.errors.ModalityMismatchError` when strict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from medadv_desktop.engine.jobs import Job, Progress
from medadv_desktop.engine.results.modality import (
    BODY_PART_MISMATCH, MODALITY_MISMATCH, UNITS_MISMATCH, ModalityWarning,
)
from medadv_desktop.errors import ModalityMismatchError

#: Modalities that are the same kind of image for a model (projection radiography).
_FAMILIES = ({"CR", "DX", "RG"},)
HINT = ("If the study's modality is wrong, set it when opening (--modality); otherwise use a model trained "
        "for this kind of image.")


def _family(modality: str) -> frozenset[str]:
    m = (modality or "").upper()
    for family in _FAMILIES:
        if m in family:
            return frozenset(family)
    return frozenset({m})


def _how(study: Any) -> str:
    ev = getattr(study, "modality_evidence", None)
    if ev is None or ev.source == "header":
        return ""
    if ev.source == "user":
        return " (set by the user)"
    kind = "inferred from the data" if ev.source == "data" else "assumed"
    return f" ({kind}, {ev.level} confidence)"


def modality_warnings(card: Any, study: Any) -> list[ModalityWarning]:
    """The guard's warnings for attacking ``study`` with the model of ``card`` (empty: all clear)."""
    out: list[ModalityWarning] = []
    expected = getattr(card, "modality", None)
    if not expected:
        return out
    found = str(getattr(study, "modality", "") or "OT").upper()
    if found not in _family(expected):
        what = "of unknown modality (OT)" if found == "OT" else f"{found}{_how(study)}"
        out.append(ModalityWarning(
            MODALITY_MISMATCH,
            f"Modality mismatch: the model was trained on {expected} images but the study is {what}; "
            "its predictions and robustness numbers are not meaningful here.", expected, found))
    body = getattr(card, "body_part", None)
    study_body = str(getattr(study, "body_part", "") or "").upper()
    if body and study_body and study_body != body:
        out.append(ModalityWarning(
            BODY_PART_MISMATCH,
            f"Body part mismatch: the model was trained on {body} images but the study shows {study_body}.",
            body, study_body))
    intensity = getattr(card, "intensity", None)
    units = str(getattr(study, "units", "") or "")
    if intensity is not None and expected == "CT" and getattr(intensity, "mode", "") == "window" and units != "HU":
        out.append(ModalityWarning(
            UNITS_MISMATCH,
            f"Units mismatch: the model maps a window of HU ({intensity.describe()}) but the study's values "
            f"are {'in ' + units if units else 'not in HU (no calibrated units)'}; the window makes no sense for them.",
            "HU", units))
    return out


def dataset_modality_warnings(card: Any, studies: Iterable[Any]) -> list[ModalityWarning]:
    """The guard over every study of a data set: one warning per rule and value found,
    with how many of the studies it concerns (``n_studies`` of ``n_total``)."""
    studies = list(studies)
    counts: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], ModalityWarning] = {}
    for study in studies:
        for w in modality_warnings(card, study):
            key = (w.code, w.found)
            counts[key] += 1
            first.setdefault(key, w)
    out = []
    n = len(studies)
    for key, w in first.items():
        k = counts[key]
        message = w.message
        if n > 1:
            message = message.replace("the study is", f"{k} of {n} studies are").replace(
                "the study shows", f"{k} of {n} studies show").replace(
                "the study's values are", f"the values of {k} of {n} studies are")
        out.append(ModalityWarning(w.code, message, w.expected, w.found, k, n))
    return out


def guard_job(card: Any, studies: Iterable[Any], stage: str, *, strict: bool = False) -> Job[list[ModalityWarning]]:
    """The guard as a sub-job of a workflow: yields one ``Progress(stage, 0, 0, message,
    {"kind": "warning", "warning": w})`` per warning and returns the warnings; with ``strict``
    raises :class:`ModalityMismatchError` (nothing yielded) when there is any."""
    studies = list(studies)
    if not studies:
        return []
    warnings = dataset_modality_warnings(card, studies)
    if warnings and strict:
        raise ModalityMismatchError(" ".join(w.message for w in warnings) + " Nothing was attacked "
                                    "(strict modality check).", warnings=warnings, hint=HINT)
    for w in warnings:
        yield Progress(stage, 0, 0, w.message, {"kind": "warning", "warning": w}, milestone=True)
    return warnings
