"""Safe file output: atomic, race-free, never over an existing file, nothing partial left behind.

Every file MedAdv writes goes through this module (reports, adversarial
studies, perturbation maps, model cards, training checkpoints):

1. the bytes go to a hidden temporary file beside the target
   (``.<name>.<random>.part``, created with ``O_EXCL``), written with
   ``os.write``, flushed and ``fsync``-ed;
2. the temporary file is then *linked* into place with ``os.link``, which
   fails when the target name exists, even if another process created it a
   microsecond earlier. So two writers racing for the same name cannot both
   win, and no existing file is ever replaced. (``os.replace`` is used only
   when the caller explicitly asks to overwrite.) On a file system without hard
   links (FAT, some network shares) the fallback creates the target with
   ``O_CREAT | O_EXCL`` and copies the bytes into it; a failed copy removes the
   file it created.
3. the temporary file is removed, on success and on every failure.

:class:`NewFiles` does the same for a set of files that belong together (the
slices of a DICOM series, a PNG and its JSON side-car, a checkpoint's tensors
and metadata): all temporary files are written first, then linked one by one;
if any step fails, the files already linked by this set are removed again, so
the set appears whole or not at all.

A full or read-only disk raises :class:`OutputWriteError` (path, errno, reason
in words) after removing everything partial; the caller still holds the
result in memory and can offer another place to save it.

Temporary files still being written are listed in a registry:
:func:`remove_pending_temp_files` deletes them, :func:`install_cleanup_handlers`
makes SIGTERM and SIGINT do that before the process stops (the CLI calls it at
start-up), and the registry is also emptied at interpreter exit.

:func:`all_or_nothing` groups several such writes (a study, its perturbation map
and summary) into one unit.

:func:`refuse_output_over_input` is the one check that an output path is not
one of the inputs (or, for an output folder, not inside an input folder).
"""

from __future__ import annotations

import atexit
import errno
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from medadv_desktop.errors import OutputConflictError, OutputExistsError, OutputWriteError  # re-exported

Payload = bytes | bytearray | memoryview | Iterable[bytes]

_CHUNK = 1 << 20
#: errno values that mean "this file system cannot hard-link": fall back to O_EXCL + copy.
_NO_LINK = {errno.EPERM, errno.EXDEV, errno.EMLINK, getattr(errno, "ENOTSUP", -1),
            getattr(errno, "EOPNOTSUPP", -1), getattr(errno, "ENOSYS", -1)}

_REASONS = {
    errno.ENOSPC: "the disk is full (no space left on the device)",
    getattr(errno, "EDQUOT", -1): "the disk quota is exceeded",
    errno.EROFS: "the disk or folder is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted there",
    errno.EFBIG: "the file is too large for this file system",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "its folder does not exist (it may have been removed)",
    errno.EIO: "an input/output error occurred (the disk may be failing or was removed)",
    errno.EISDIR: "a folder of that name exists",
}


def write_error(path: str | Path, exc: OSError) -> OutputWriteError:
    """The :class:`OutputWriteError` for an OSError raised while writing ``path``."""
    code = exc.errno
    reason = _REASONS.get(code) if code is not None else None
    if reason is None:
        reason = (exc.strerror or exc.__class__.__name__).strip().rstrip(".").lower() or "the system refused"
    return OutputWriteError(path, code, reason)


# --------------------------------------------------------------------------- pending temp files
_pending_lock = threading.Lock()
_pending: set[str] = set()


def _register(tmp: str) -> None:
    with _pending_lock:
        _pending.add(tmp)


def _forget(tmp: str) -> None:
    with _pending_lock:
        _pending.discard(tmp)


def pending_temp_files() -> list[Path]:
    """Temporary files being written right now (by any thread of this process)."""
    with _pending_lock:
        return [Path(p) for p in sorted(_pending)]


def remove_pending_temp_files() -> int:
    """Delete every temporary file still being written; returns how many were removed.

    Safe to call from a signal handler: it only unlinks names this process created.
    """
    with _pending_lock:
        names = list(_pending)
        _pending.clear()
    removed = 0
    for name in names:
        try:
            os.unlink(name)
            removed += 1
        except OSError:
            pass
    return removed


atexit.register(remove_pending_temp_files)

_installed: dict[int, object] = {}


def install_cleanup_handlers(signals: Sequence[int] | None = None) -> bool:
    """Make SIGTERM and SIGINT remove pending temporary files before the process stops.

    After the clean-up, a previous Python handler is called (SIGINT: Python's
    default raises KeyboardInterrupt); where the previous action was the
    system default, the handler raises ``SystemExit(128 + signal number)`` so
    that ``finally`` blocks still run. Only the main thread can install signal
    handlers: called from another thread it does nothing and returns False.
    Calling it again is harmless.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    if signals is None:
        signals = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGINT", None)) if s is not None]
    for signum in signals:
        if signum in _installed:
            continue
        previous = signal.getsignal(signum)
        _installed[signum] = previous
        signal.signal(signum, _handler)
    return True


def _handler(signum: int, frame) -> None:  # pragma: no cover - exercised in a subprocess test
    remove_pending_temp_files()
    previous = _installed.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------- writing
def _umask_mode() -> int:
    """0o666 minus the process umask (read without changing it where the system allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o644


_MODE = _umask_mode()


def _chunks(data: Payload) -> Iterator[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _CHUNK):
            yield view[start:start + _CHUNK]   # type: ignore[misc]
    else:
        yield from data


def _write_all(fd: int, data: Payload) -> None:
    for chunk in _chunks(data):
        view = memoryview(chunk).cast("B")
        while len(view):
            n = os.write(fd, view)
            if n <= 0:   # pragma: no cover - os.write raises instead
                raise OSError(errno.EIO, "write returned 0")
            view = view[n:]


def _fsync_dir(folder: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise write_error(path, OSError(errno.ENOTDIR, exc.strerror)) from None
    except OSError as exc:
        raise write_error(path, exc) from None


def _write_temp(path: Path, data: Payload) -> str:
    """Write ``data`` to a new hidden temporary file beside ``path``; returns its name.

    The temporary file is registered while it exists and removed on any failure.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from None
    _register(tmp)
    try:
        try:
            _write_all(fd, data)
            if _MODE != 0o600 and hasattr(os, "fchmod"):
                os.fchmod(fd, _MODE)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        _discard(tmp)
        raise write_error(path, exc) from None
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass
    _forget(tmp)


def _copy_exclusive(tmp: str, path: Path) -> None:
    """Fallback without hard links: create ``path`` exclusively and copy ``tmp`` into it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, _MODE)
    except FileExistsError:
        raise OutputExistsError(path) from None
    try:
        try:
            with open(tmp, "rb") as src:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    _write_all(fd, chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        try:
            os.unlink(path)          # created exclusively above: it is ours
        except OSError:
            pass
        raise


def _place(tmp: str, path: Path, overwrite: bool) -> None:
    """Move the finished temporary file to ``path`` (never over an existing file unless ``overwrite``)."""
    try:
        if overwrite:
            os.replace(tmp, path)
            _forget(tmp)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise OutputExistsError(path) from None
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
            _copy_exclusive(tmp, path)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        if os.path.lexists(tmp):
            _discard(tmp)
        else:
            _forget(tmp)


def write_new_file(path: str | Path, data: Payload, *, overwrite: bool = False) -> Path:
    """Write ``data`` (bytes, or an iterable of byte chunks) to ``path`` atomically.

    Refuses with :class:`OutputExistsError` when ``path`` exists, also when it
    appears while the data is being written (another process won the race).
    ``overwrite=True`` replaces an existing file atomically (only on the user's
    explicit request). Creates missing parent folders. Raises
    :class:`OutputWriteError` on a full, read-only or otherwise failing disk;
    nothing partial is left behind in any case. Returns ``path``.
    """
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(path)
    _make_parent(path)
    tmp = _write_temp(path, data)
    _place(tmp, path, overwrite)
    _fsync_dir(path.parent)
    return path


class NewFiles:
    """Write several new files as one unit: all of them appear, or none.

    ::

        with NewFiles() as batch:
            for i, blob in enumerate(blobs):
                batch.add(out / f"slice_{i:04d}.dcm", blob)   # written to a temporary file now
        # leaving the block links every file into place; an exception removes everything

    Each :meth:`add` writes its bytes to a temporary file at once (so memory
    holds one file at a time). Leaving the ``with`` block without an exception
    calls :meth:`commit`; an exception (or :meth:`abort`) removes every
    temporary file. :meth:`commit` refuses if any target exists and removes the
    files it already placed when a later one fails.
    """

    def __init__(self, *, overwrite: bool = False) -> None:
        self.overwrite = overwrite
        self._items: list[tuple[str, Path]] = []
        self._targets: set[Path] = set()
        self.written: list[Path] = []

    def __enter__(self) -> NewFiles:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def add(self, path: str | Path, data: Payload) -> Path:
        path = Path(path)
        key = Path(os.path.abspath(path))
        if key in self._targets:
            self.abort()
            raise OutputExistsError(path)
        if not self.overwrite and os.path.lexists(path):
            self.abort()
            raise OutputExistsError(path)
        try:
            _make_parent(path)
            tmp = _write_temp(path, data)
        except BaseException:
            self.abort()
            raise
        self._items.append((tmp, path))
        self._targets.add(key)
        return path

    def abort(self) -> None:
        for tmp, _ in self._items:
            _discard(tmp)
        self._items.clear()
        self._targets.clear()

    def commit(self) -> list[Path]:
        items, self._items = self._items, []
        if not self.overwrite:
            for _, path in items:
                if os.path.lexists(path):
                    for tmp, _ in items:
                        _discard(tmp)
                    raise OutputExistsError(path)
        placed: list[Path] = []
        try:
            for tmp, path in items:
                _place(tmp, path, self.overwrite)
                placed.append(path)
        except BaseException:
            for tmp, _ in items[len(placed) + 1:]:
                _discard(tmp)
            if not self.overwrite:
                for path in placed:    # created by this set a moment ago: ours to remove
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
            raise
        for folder in {p.parent for p in placed}:
            _fsync_dir(folder)
        self.written = placed
        return placed


@contextmanager
def all_or_nothing() -> Iterator[list[Path]]:
    """Group outputs written by separate calls into one unit: all of them stay, or none.

    ::

        with all_or_nothing() as written:
            written += write_study_like(...)          # each call is itself atomic
            written.append(write_json(...))
        # an exception leaving the block removes every file listed in ``written``

    Only list files this call created as new files (never one written with
    ``overwrite=True``: removing it would lose the user's old file as well).
    """
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in reversed(written):
            try:
                os.unlink(path)
            except OSError:
                pass
        raise


# --------------------------------------------------------------------------- inputs vs outputs
def _resolved(path: str | Path) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):      # a symlink loop: compare the absolute spelling
        return Path(os.path.abspath(path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def refuse_output_over_input(outputs: Iterable[str | Path], inputs: Iterable[str | Path]) -> None:
    """Raise :class:`OutputConflictError` when an output would touch an input.

    Refused: an output path that is an input path (the same name after
    resolving symlinks, or the same file through a hard link), and an output
    (file or folder) inside an input folder, e.g. ``--out`` pointing into the
    study folder being attacked. Writing new files beside an input file is allowed.
    """
    ins = [(Path(p), _resolved(p)) for p in inputs]
    for out in outputs:
        out_r = _resolved(out)
        for raw, src in ins:
            if out_r == src or _same_file(Path(out), raw):
                raise OutputConflictError(out, raw, f"The output '{Path(out).name}' is also an input; "
                                                    "MedAdv never writes over its own inputs.")
            if src.is_dir() and out_r.is_relative_to(src):
                raise OutputConflictError(out, raw, f"The output '{Path(out).name}' lies inside the input "
                                                    f"folder '{raw.name}'; MedAdv never writes into its inputs.")


__all__ = ["NewFiles", "all_or_nothing", "OutputConflictError", "OutputWriteError", "install_cleanup_handlers",
           "pending_temp_files", "refuse_output_over_input", "remove_pending_temp_files",
           "write_error", "write_new_file"]
