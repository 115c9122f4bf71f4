"""Study options shared by the commands that open studies: ``--modality`` and
``--strict-modality``, and the one-line form of the modality guard's warnings.

``--modality CODE`` sets the modality of every study opened (a DICOM code:
CT, MR, PT, US, CR, DX, MG, OT...; MRI and PET are accepted), instead of the
DICOM header's or the one inferred for NIfTI; CT makes calibrated values HU.

The modality guard (``engine/models/guard.py``) prints each warning as one line
on stderr, ``medadv: warning: Modality mismatch: ...``, and the command goes
on. ``--strict-modality`` makes a warning an error instead: one line, exit
status 2, nothing attacked and nothing written.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any


def add_modality_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--modality", default=None, metavar="CODE",
                   help="set the modality of the studies opened (CT, MR, PT, US, CR, DX, MG, OT, ...) instead of "
                        "the DICOM header's or the one inferred for NIfTI; CT makes the values HU")


def add_strict_modality_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict-modality", action="store_true",
                   help="refuse (exit 2, nothing attacked) when the study's modality, body part or units do not "
                        "match the model card; default: print a warning and go on")


def is_warning(event: Any) -> bool:
    return bool(getattr(event, "data", None)) and event.data.get("kind") == "warning"


def warning_line(event: Any) -> str:
    return f"medadv: warning: {event.message}"


def print_warning(event: Any, printer: Any = None, stream: IO[str] | None = None) -> None:
    """The guard's warning as one line on stderr (through the progress printer when there is one)."""
    line = warning_line(event)
    if printer is not None:
        printer.line(line, stream or sys.stderr)
    else:
        print(line, file=stream or sys.stderr, flush=True)
