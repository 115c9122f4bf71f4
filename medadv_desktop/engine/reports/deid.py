"""De-identification pass over everything that goes into a report (defence in depth).

Results are de-identified where they are made (sample ids are pseudonyms, the
data set summary carries no names), but a report is the thing that leaves the
hospital, so every string and every mapping key is passed through
:func:`scrub` once more before it is written:

* values that look like DICOM UIDs (``\\d+(\\.\\d+){4,}``, e.g.
  ``1.2.840.113619.2.55``) are replaced by ``[UID removed]``;
* mapping entries whose key names an identifying field (PatientName,
  PatientID, PatientBirthDate, AccessionNumber, InstitutionName, any ``*UID``,
  in DICOM keyword or snake_case spelling; the vocabulary is
  :func:`medadv_desktop.engine.io.deid.is_phi_key`) are dropped;
* entries whose key names a file-system location (``path``, ``source_paths``,
  ``data_dir``, ...) are replaced by ``[path withheld]``, because folder names
  in radiology archives often carry patient names;
* any caller-supplied PHI strings (e.g. a patient name known to the front end)
  are replaced by ``[removed]``.

With ``include_phi=True`` (an explicit user opt-in) the pass is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from medadv_desktop.engine.io.deid import is_phi_key, normalise_key

#: A DICOM UID: at least five dot-separated groups of digits.
UID_PATTERN = re.compile(r"\d+(?:\.\d+){4,}")
UID_REPLACEMENT = "[UID removed]"
PATH_REPLACEMENT = "[path withheld]"
PHI_REPLACEMENT = "[removed]"

_PATH_KEYS = {"path", "paths", "source", "sourcepath", "sourcepaths", "file", "files",
              "filename", "folder", "dir", "directory", "datadir", "datapath",
              "cardpath", "weightspath", "root"}


def is_path_key(key: str) -> bool:
    """True when a mapping key names a file or folder location."""
    k = normalise_key(key)
    return k in _PATH_KEYS or k.endswith("path") or k.endswith("paths") or k.endswith("dir")


def scrub_text(text: str, *, phi_values: Iterable[str] = ()) -> str:
    """Remove UID-looking values and any of ``phi_values`` from one string."""
    out = UID_PATTERN.sub(UID_REPLACEMENT, str(text))
    for value in phi_values:
        value = str(value).strip()
        if len(value) >= 3:
            out = re.sub(re.escape(value), PHI_REPLACEMENT, out, flags=re.IGNORECASE)
            # DICOM person names also appear with spaces instead of '^'
            if "^" in value:
                spaced = " ".join(p for p in value.split("^") if p)
                if len(spaced) >= 3:
                    out = re.sub(re.escape(spaced), PHI_REPLACEMENT, out, flags=re.IGNORECASE)
    return out


def scrub(obj: Any, *, include_phi: bool = False, phi_values: Iterable[str] = ()) -> Any:
    """Recursively de-identify a JSON-like object (dicts, lists, strings, numbers).

    Returns a new object; the input is not modified. With ``include_phi`` the
    object is returned unchanged.
    """
    if include_phi:
        return obj
    phi_values = tuple(phi_values)
    return _scrub(obj, phi_values)


def _scrub(obj: Any, phi_values: tuple[str, ...]) -> Any:
    if isinstance(obj, str):
        return scrub_text(obj, phi_values=phi_values)
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if is_phi_key(key):
                continue
            if is_path_key(key) and value not in (None, "", [], {}):
                out[scrub_text(str(key))] = PATH_REPLACEMENT
                continue
            out[scrub_text(str(key), phi_values=phi_values)] = _scrub(value, phi_values)
        return out
    if isinstance(obj, (list, tuple)):
        return [_scrub(v, phi_values) for v in obj]
    return obj


def check_output_name(path, *, include_phi: bool = False) -> None:
    """Refuse an output file name that carries a DICOM UID (unless opted in)."""
    from pathlib import Path

    from medadv_desktop.errors import ReportError

    name = Path(path).name
    if not include_phi and UID_PATTERN.search(name):
        raise ReportError(
            f"The output file name '{UID_PATTERN.sub('<UID>', name)}' contains what looks like a DICOM UID.",
            hint="Choose a file name without identifiers, e.g. 'robustness-report.pdf'.")
