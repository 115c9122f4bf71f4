"""Messages without patient-bearing paths (issue 14): one rule for every controller.

Folder and file names often carry a patient's name, so what goes to the
status bar, the job log and error boxes names no study path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def redact_path(message: str, *paths: Any) -> str:
    """``message`` without the names in ``paths``: each full path, and each of their folder and file
    names where the message quotes it (``'Doe_John'``), becomes ``'…'``. Unquoted words are left alone."""
    names: set[str] = set()
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        for text in (str(path), str(path.resolve()) if path.is_absolute() else str(path)):
            message = message.replace(text, "…")
        names.update(part for part in path.parts if part not in ("", "/", "\\"))
    for name in sorted(names, key=len, reverse=True):
        message = message.replace(f"'{name}'", "'…'").replace(f'"{name}"', '"…"')
    return message
