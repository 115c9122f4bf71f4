"""``labels.csv``: the one reader of the labels file beside images (data set folders, the demo
study, the self-test), and the slice a viewer opens a labelled series on.

A header row names the columns (case-insensitive): a file column (``path``,
``file``, ``filename``, ``file_name``) and/or a slice column (``slice``,
``slice_index``, ``index``: 0-based), and a label column (``label``,
``class``, ``class_name``); other columns are ignored. Without a recognised
header the first two columns are ``path,label``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medadv_desktop.errors import DatasetError

LABELS_CSV = "labels.csv"

#: Labels that mean "nothing found" (compared case-insensitively); every other label is a finding.
NEGATIVE_LABELS = frozenset({"no_finding", "no finding", "no-finding", "nofinding", "normal", "negative",
                             "healthy", "none", "0"})
MAX_LABELS_BYTES = 8 << 20        # a labels.csv beside a series is read for its default slice only up to this


@dataclass(frozen=True)
class LabelRow:
    """One row of a ``labels.csv``: a file or folder (as written) and/or a slice index, and its class."""

    line: int                    # 1-based line number in the file (for messages)
    path: str | None             # relative to the CSV's folder, or absolute; None without a file column
    slice_index: int | None      # 0-based slice of a series, when the file has a slice column
    label: int                   # class index (-1 when read without class names: see ``text``)
    text: str = ""               # the label as written


_PATH_COLUMNS = ("path", "file", "filename", "file_name")
_SLICE_COLUMNS = ("slice", "slice_index", "index")
_LABEL_COLUMNS = ("label", "class", "class_name")


def read_labels_csv(csv_path: str | Path, class_names: Sequence[str] | None) -> list[LabelRow]:
    """The rows of a ``labels.csv`` (see the module doc).

    With ``class_names`` a label is a class name or a 0-based class index,
    checked; with ``None`` any label is accepted as text (``LabelRow.label``
    is then -1). Every problem is a :class:`DatasetError` naming the line.
    """
    csv_path = Path(csv_path)
    names = None if class_names is None else [str(c) for c in class_names]
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{csv_path.name} cannot be read ({exc.__class__.__name__}).") from None
    rows = [(i, r) for i, r in enumerate(csv.reader(text.splitlines()), start=1) if r and any(c.strip() for c in r)]
    if not rows:
        raise DatasetError(f"{csv_path.name} is empty; it needs a header 'path,label' and one row per image.")
    header = [c.strip().lower() for c in rows[0][1]]

    def column(options: tuple[str, ...]) -> int | None:
        return next((header.index(o) for o in options if o in header), None)

    c_path, c_slice, c_label = column(_PATH_COLUMNS), column(_SLICE_COLUMNS), column(_LABEL_COLUMNS)
    if c_label is not None and (c_path is not None or c_slice is not None):
        rows = rows[1:]
    elif c_label is None and c_path is None and c_slice is None:
        c_path, c_label = 0, 1                    # no header: path,label
    else:
        raise DatasetError(f"{csv_path.name} has no usable columns (header: {', '.join(header)}); it needs a "
                           "'path' (or 'slice') column and a 'label' column.")
    out = []
    for line_no, row in rows:
        needed = max(c for c in (c_path, c_slice, c_label) if c is not None)
        if len(row) <= needed:
            raise DatasetError(f"{csv_path.name} line {line_no}: expected {needed + 1} field(s), got {len(row)}.")
        label_text = row[c_label].strip()
        label = -1 if names is None else _parse_label(label_text, names, csv_path.name, line_no)
        path = row[c_path].strip() if c_path is not None and row[c_path].strip() else None
        slice_text = row[c_slice].strip() if c_slice is not None else ""
        slice_index = int(slice_text) if slice_text.isdigit() else None
        if path is None and slice_index is None:
            raise DatasetError(f"{csv_path.name} line {line_no}: neither a file nor a slice is given.")
        out.append(LabelRow(line_no, path, slice_index, label, label_text))
    return out


def _parse_label(text: str, class_names: list[str], file_name: str, line_no: int) -> int:
    if text in class_names:
        return class_names.index(text)
    if text.isdigit() and int(text) < len(class_names):
        return int(text)
    quoted = ", ".join(repr(c) for c in class_names)
    raise DatasetError(
        f"{file_name} line {line_no}: label '{text}' is not one of {', '.join(class_names)}; expected a class "
        f"name ({quoted}) or an index 0..{len(class_names) - 1}.")


def finding_slice(study: Any, csv_path: str | Path | None = None) -> tuple[int, str] | None:
    """The slice a viewer should open ``study`` on, from a ``labels.csv`` beside its files.

    Rows are matched to slices by file (a row's path that is one of the
    study's files) or, for rows without a file, by their slice index. Slices
    whose label is not a "nothing found" label (:data:`NEGATIVE_LABELS`) are
    findings; the answer is the middle slice of the longest run of
    consecutive finding slices (the first such run on a tie), with a reason in
    words. None when there is no such file, it cannot be read, or it names
    no finding of this study. Never raises.
    """
    paths = list(getattr(study, "source_paths", []) or [])
    n = int(getattr(study, "n_slices", 0) or 0)
    if not paths or n < 2:
        return None
    csv_path = Path(csv_path) if csv_path is not None else paths[0].parent / LABELS_CSV
    try:
        if not csv_path.is_file() or csv_path.stat().st_size > MAX_LABELS_BYTES:
            return None
        rows = read_labels_csv(csv_path, None)
        index_of = {p.resolve(): i for i, p in enumerate(paths)} if len(paths) == n else {}
        findings: set[int] = set()
        labels: dict[int, str] = {}
        for row in rows:
            k = None
            if row.path is not None:
                target = Path(row.path) if Path(row.path).is_absolute() else csv_path.parent / row.path
                k = index_of.get(target.resolve())
            elif row.slice_index is not None and 0 <= row.slice_index < n:
                k = row.slice_index
            if k is None:
                continue
            labels[k] = row.text
            if row.text.strip().lower() not in NEGATIVE_LABELS:
                findings.add(k)
    except Exception:  # noqa: BLE001  (a side-car file never stops a study from opening)
        return None
    if not findings:
        return None
    runs: list[list[int]] = []
    for k in sorted(findings):
        if runs and k == runs[-1][-1] + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    best = max(runs, key=len)
    k = best[(len(best) - 1) // 2]
    return k, f"{LABELS_CSV}: '{labels[k][:40]}' on slices {best[0]}-{best[-1]}, middle one"
