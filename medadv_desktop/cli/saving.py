"""The command line's answer to a full or read-only output disk: the finished result is never lost.

A workflow that cannot write its outputs raises
:class:`~medadv_desktop.errors.OutputWriteError` with nothing partial left
behind and the finished result attached (``exc.unsaved``). The CLI then writes
the same outputs, with the same safe writer, into a new folder of its own
(``medadv-unsaved-XXXXXXXX`` in the system's temporary folder, else in the
user's home folder) and stops with one line that names the folder, exit
status 2 (what was asked for was not written). If no fallback folder can take
it either, the line says so; nothing partial is left anywhere. The GUI offers
a save-as dialog instead (not here).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from medadv_desktop.errors import MedAdvError, OutputExistsError, OutputWriteError

PREFIX = "medadv-unsaved-"


def fallback_roots() -> list[Path]:
    """Where a fallback folder is tried, in order: the system's temporary folder, the home folder."""
    roots: list[Path] = []
    for candidate in (tempfile.gettempdir, Path.home):
        try:
            root = Path(candidate()).resolve()
        except (OSError, RuntimeError, KeyError):
            continue
        if root not in roots:
            roots.append(root)
    return roots


def save_elsewhere(save: Callable[[Path], Sequence[Path]], roots: Sequence[Path] | None = None
                   ) -> tuple[Path, list[Path]] | None:
    """Call ``save(folder)`` with a new, empty folder under each root in turn until one works.

    ``save`` writes the outputs into the folder it is given (all or nothing)
    and returns their paths. Returns ``(folder, paths)`` or None when no root
    could take them (every folder created here is removed again).
    """
    for root in fallback_roots() if roots is None else roots:
        try:
            folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
        except OSError:
            continue
        try:
            return folder, list(save(folder))
        except (OutputWriteError, OutputExistsError, OSError):
            try:
                os.rmdir(folder)        # created empty above; the writers left nothing in it
            except OSError:
                pass
    return None


def raise_saved_elsewhere(exc: OutputWriteError, save: Callable[[Path], Sequence[Path]], what: str) -> None:
    """Save ``exc``'s finished result elsewhere (:func:`save_elsewhere`) and raise the one-line error
    that says where it went (or that it could not be saved)."""
    saved = save_elsewhere(save)
    if saved is None:
        raise MedAdvError(f"{exc} The {what} could not be saved elsewhere either (no writable fallback folder); "
                          "nothing partial was left behind.", hint=exc.hint) from None
    folder, paths = saved
    names = ", ".join(p.name for p in paths[:6]) + (f" and {len(paths) - 6} more" if len(paths) > 6 else "")
    raise MedAdvError(f"{exc} The finished {what} was saved instead in '{folder}' ({names}).",
                      hint="Move those files where you need them; nothing partial was left at the requested "
                           "place.") from None
