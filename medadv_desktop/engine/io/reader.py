"""Open a file or a folder: the one entry point the CLI and the GUI use.

A file is recognised by its content first (the DICOM 'DICM' marker, the PNG /
JPEG / TIFF signatures) and by its name second (NIfTI and other nibabel
volumes). A folder is walked recursively (hidden entries skipped): DICOM files
are read header-first, grouped into series by SeriesInstanceUID (and image
size), sorted along the slice normal and loaded as one study per series;
multi-frame DICOM files, volumes and images each become a study of their own.
Every file that does not load is listed in :attr:`LoadReport.failures` with the
reason in plain words, and the good files still load:

* named pipes (FIFOs), sockets, device files, dangling symbolic links and
  symbolic-link loops are listed with their reason and never opened for
  reading (a FIFO would block the load for ever);
* every image is checked against the memory budget (:mod:`.budget`) from its
  header, before any pixel is decoded;
* any error while reading one file, expected or not, becomes that file's
  failure entry; the rest of the folder still loads;
* when two files hold the same DICOM instance (same SOP Instance UID), the
  copy that decodes is used and the other is listed, so a damaged duplicate
  never hides the good copy.

``modality=`` (e.g. ``"CT"``; CLI ``--modality``) sets the modality of every
study opened, instead of the file's (DICOM) or the inferred one (NIfTI); see
:func:`~medadv_desktop.engine.io.study.with_modality`. A series with a
``labels.csv`` beside its files opens on a labelled finding
(:func:`~medadv_desktop.engine.io.labels.finding_slice`), else on its middle slice.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from pathlib import Path

from medadv_desktop.engine.io.budget import MemoryBudget
from medadv_desktop.engine.io.study import LoadReport, Study, normalize_modality, with_modality
from medadv_desktop.engine.jobs import CancelToken, Job, Progress, run_job
from medadv_desktop.errors import CorruptStudyError, MedAdvError, StudyError, UnsupportedStudyError

_PAIR_DATA_SUFFIXES = {  # data file -> header file that carries it
    ".img": (".hdr",), ".img.gz": (".hdr", ".hdr.gz"), ".rec": (".par",),
    ".brik": (".head",), ".brik.gz": (".head",),
}


def _special_reason(mode: int) -> str | None:
    """Why a file of this kind is skipped (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "it is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "it is a named pipe (FIFO), not a file; skipped without reading it"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a file; skipped without reading it"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a file; skipped without reading it"
    return "it is not a regular file; skipped without reading it"


def check_regular_file(path: Path) -> os.stat_result:
    """``os.stat`` of a regular file, or the StudyError that says why ``path`` is skipped.

    Never opens the file: a FIFO, socket or device is refused from its type,
    a symbolic link that loops or points nowhere from the error of ``stat``.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StudyError(path, "it is a symbolic link that loops back on itself; skipped") from None
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise StudyError(path, "it is a symbolic link whose target does not exist; skipped") from None
        if exc.errno == errno.ENOENT:
            raise StudyError(path, "it does not exist", hint="Check the path and try again.") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise StudyError(path, "it cannot be read (permission denied)",
                             hint="Ask for read access to the file or copy it somewhere you can read.") from None
        raise StudyError(path, f"it cannot be read ({exc.strerror or exc})") from None
    reason = _special_reason(st.st_mode)
    if reason is not None:
        raise StudyError(path, reason)
    return st


def _head(path: Path, n: int = 400) -> bytes:
    """The first ``n`` bytes of a regular file.

    Opened non-blocking and checked with ``fstat`` before reading, so a file
    swapped for a FIFO or device after the folder was listed is refused, not waited on.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise StudyError(path, "it is a folder, not a file") from None
        check_regular_file(path)     # explains loops, dangling links, permissions
        raise StudyError(path, f"it cannot be read ({exc.strerror or exc})") from None
    try:
        reason = _special_reason(os.fstat(fd).st_mode)
        if reason is not None:
            raise StudyError(path, reason)
        chunks = []
        while n > 0:
            chunk = os.read(fd, n)
            if not chunk:
                break
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise StudyError(path, f"it cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def as_study_error(path: Path, exc: BaseException) -> StudyError:
    """Any exception raised while reading ``path`` as that file's StudyError (one line, no PHI).

    Messages of unexpected errors are not quoted: reader libraries may quote
    header values (names, IDs) in them; the class name is enough to report a bug.
    """
    if isinstance(exc, StudyError):
        return exc
    if isinstance(exc, MemoryError):
        return UnsupportedStudyError(path, "it is too large to decode in the memory available",
                                     hint="Close other programs, or open it on a machine with more memory.")
    if isinstance(exc, RecursionError):
        return CorruptStudyError(path, "its header is nested too deeply to read (damaged or hostile file)")
    if isinstance(exc, OSError):
        return StudyError(path, f"it cannot be read ({exc.strerror or exc.__class__.__name__})")
    return CorruptStudyError(path, f"the reader failed on it ({exc.__class__.__name__}): the file is damaged "
                                   "or uses a variant MedAdv does not support",
                             hint="Export the image again from its source.")


def classify(path: Path, head: bytes | None = None) -> str:
    """``"dicom"``, ``"image"``, ``"nifti"``, ``"gzip"`` or ``"unknown"`` for one file."""
    from medadv_desktop.engine.io.dicom import looks_like_dicom_bytes
    from medadv_desktop.engine.io.nifti import has_nibabel_suffix
    from medadv_desktop.engine.io.raster import looks_like_raster

    path = Path(path)
    head = _head(path) if head is None else head
    if looks_like_dicom_bytes(head):
        return "dicom"
    if looks_like_raster(head):
        return "image"
    if has_nibabel_suffix(path) or head[344:348] in (b"n+1\x00", b"ni1\x00") or head[4:8] in (b"n+2\x00", b"ni2\x00"):
        return "nifti"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    return "unknown"


def load_file(path: Path, *, volume_index: int | None = None,
              memory_budget: MemoryBudget | int | str | None = None, modality: str | None = None) -> Study:
    """Load one file of any supported kind; raises a StudyError subclass, never anything else.

    ``memory_budget``: bytes (or a size such as ``"2G"``) decoding may take;
    default: ``MEDADV_MEMORY_BUDGET`` or half the available memory, at most 4 GiB.
    ``modality``: set the study's modality (see the module doc).
    """
    path = Path(path)
    budget = MemoryBudget.resolve(memory_budget)
    modality = normalize_modality(modality) if modality else None
    try:
        return _finish(_load_file(path, volume_index, budget, modality), modality)
    except MedAdvError:
        raise
    except Exception as exc:   # per-file isolation: every failure is this file's StudyError
        raise as_study_error(path, exc) from None


def _finish(study: Study, modality: str | None) -> Study:
    """The user's modality and the default slice, once per study, after it loaded."""
    if modality and (study.modality_evidence is None or study.modality_evidence.source != "user"):
        study = with_modality(study, modality)
    if study.n_slices > 1 and study.default_slice_reason in ("", "middle slice"):
        from medadv_desktop.engine.io.labels import finding_slice

        found = finding_slice(study)
        if found is not None:
            study.default_slice, study.default_slice_reason = found
    return study


def _load_file(path: Path, volume_index: int | None, budget: MemoryBudget, modality: str | None = None) -> Study:
    check_regular_file(path)
    head = _head(path)
    if not head:
        raise CorruptStudyError(path, "the file is empty (0 bytes)", hint="Copy the file again from its source.")
    kind = classify(path, head)
    if kind == "image":
        from medadv_desktop.engine.io.raster import load_raster
        return load_raster(path, memory_budget=budget)
    if kind == "nifti":
        from medadv_desktop.engine.io.nifti import load_volume
        return load_volume(path, volume_index=volume_index, memory_budget=budget, modality=modality)
    if kind == "gzip":
        raise UnsupportedStudyError(
            path, "it is a gzip-compressed file that is not a .nii.gz volume",
            hint="Unpack it first (e.g. with 'gunzip'), then open the file inside.")
    from medadv_desktop.engine.io.dicom import load_dicom_file
    return load_dicom_file(path, memory_budget=budget)


def open_path_job(path: str | os.PathLike, *, volume_index: int | None = None,
                  cancel: CancelToken | None = None,
                  memory_budget: MemoryBudget | int | str | None = None,
                  modality: str | None = None) -> Job[LoadReport]:
    """:func:`open_path` as a cancellable job: yields ``Progress("open", files_done, files_total)``
    (messages never name files: names may hold PHI) and returns the LoadReport."""
    budget = MemoryBudget.resolve(memory_budget)
    modality = normalize_modality(modality) if modality else None
    report, _ = yield from _open_job(Path(path), volume_index, cancel or CancelToken(), budget, modality)
    return report


def open_path(path: str | os.PathLike, *, volume_index: int | None = None,
              memory_budget: MemoryBudget | int | str | None = None, modality: str | None = None) -> LoadReport:
    """Open a file or a folder; never raises for bad files, lists them instead.

    Returns a :class:`LoadReport` with the studies that loaded (DICOM series
    first, in the order their first file was found) and ``(path, reason)`` for
    every file that did not. Raises :class:`StudyError` only when ``path``
    itself does not exist or cannot be listed. ``memory_budget``, ``modality``:
    see :func:`load_file` (a modality that is not a DICOM code raises :class:`MedAdvError`).
    """
    budget = MemoryBudget.resolve(memory_budget)
    modality = normalize_modality(modality) if modality else None
    report, _ = run_job(_open_job(Path(path), volume_index, CancelToken(), budget, modality))
    return report


def open_study(path: str | os.PathLike, **kw) -> Study:
    """The first study at ``path``; raises the StudyError that explains why there is none.

    Keywords as :func:`open_path` (``volume_index``, ``memory_budget``, ``modality``).
    """
    path = Path(path)
    budget = MemoryBudget.resolve(kw.get("memory_budget"))
    modality = normalize_modality(kw["modality"]) if kw.get("modality") else None
    if path.is_file():
        return load_file(path, volume_index=kw.get("volume_index"), memory_budget=budget, modality=modality)
    report, errors = run_job(_open_job(path, kw.get("volume_index"), CancelToken(), budget, modality))
    if report.studies:
        return report.studies[0]
    if len(errors) == 1:
        raise errors[0]
    if not report.failures:
        raise UnsupportedStudyError(path, "the folder contains no image files",
                                    hint="Choose a folder with DICOM, NIfTI or image files.")
    example_path, example_reason = report.failures[0]
    raise UnsupportedStudyError(
        path, f"none of its {len(report.failures)} files is a readable image "
              f"(e.g. '{example_path.name}': {example_reason})",
        hint="Run 'medadv info' on the folder to see the reason for every file.")


def _open_job(path: Path, volume_index: int | None, cancel: CancelToken, budget: MemoryBudget,
              modality: str | None = None):
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is None or not stat.S_ISDIR(st.st_mode):
        try:
            return LoadReport(studies=[load_file(path, volume_index=volume_index, memory_budget=budget,
                                                 modality=modality)]), []
        except StudyError as exc:
            if not os.path.lexists(path):
                raise
            return LoadReport(failures=[(path, exc.reason)]), [exc]
    report, errors = yield from _open_folder(path, volume_index, cancel, budget, modality)
    report.studies = [_finish(s, modality) for s in report.studies]
    return report, errors


#: Side-car files that sit beside images in study and data-set folders (labels,
#: notes, reports). A folder walk skips them silently; opened on their own they
#: are still refused with a reason.
SIDECAR_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".md", ".json", ".pdf", ".html", ".xml", ".log"})


def _walk(folder: Path) -> tuple[list[Path], list[StudyError]]:
    """Files under ``folder`` (hidden entries and side-cars skipped) and the sub-folders that
    could not be listed. Symbolic links to folders are not followed (no loops)."""
    files: list[Path] = []
    unlisted: list[StudyError] = []

    def onerror(exc: OSError) -> None:
        where = Path(exc.filename or folder)
        why = "permission denied" if exc.errno in (errno.EACCES, errno.EPERM) else (exc.strerror or str(exc))
        if where == folder:
            raise StudyError(folder, f"the folder cannot be listed ({why})")
        unlisted.append(StudyError(where, f"this sub-folder cannot be listed ({why})"))

    for root, dirs, names in os.walk(folder, onerror=onerror):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(Path(root) / n for n in sorted(names)
                     if not n.startswith(".") and Path(n).suffix.lower() not in SIDECAR_SUFFIXES)
    return files, unlisted


def _is_pair_data_file(path: Path, present: set[Path]) -> bool:
    name = path.name.lower()
    for data_suffix, header_suffixes in _PAIR_DATA_SUFFIXES.items():
        if name.endswith(data_suffix):
            stem = path.name[: -len(data_suffix)]
            for hs in header_suffixes:
                for candidate in (stem + hs, stem + hs.upper()):
                    if path.with_name(candidate) in present:
                        return True
    return False


def _open_folder(folder: Path, volume_index: int | None, cancel: CancelToken, budget: MemoryBudget,
                 modality: str | None = None):
    """Generator job: yields Progress per file, returns (LoadReport, errors)."""
    from medadv_desktop.engine.io import dicom

    files, unlisted = _walk(folder)
    total = len(files)
    yield Progress("open", 0, total, "Reading file headers")
    present = set(files)
    report = LoadReport()
    errors: list[StudyError] = []
    other_studies: list[Study] = []
    series_items: list[tuple[Path, object]] = []
    seen_instances: dict[str, Path] = {}
    copies: dict[Path, list[tuple[Path, object]]] = {}   # first file of an instance -> its other copies

    def fail(exc: StudyError, where: Path) -> None:
        errors.append(exc)
        report.failures.append((where, exc.reason))

    for exc in unlisted:
        fail(exc, exc.path)

    def _read_folder_file(f: Path) -> None:
        check_regular_file(f)
        head = _head(f)
        if not head:
            raise CorruptStudyError(f, "the file is empty (0 bytes)")
        kind = classify(f, head)
        if kind == "nifti" and _is_pair_data_file(f, present):
            return  # loaded through its header file
        if kind in ("image", "nifti", "gzip"):
            other_studies.append(load_file(f, volume_index=volume_index, memory_budget=budget, modality=modality))
            return
        ds = dicom.read_dataset(f, header_only=True)
        if not dicom.has_pixels(ds):
            raise dicom.no_image_error(f, ds)
        dicom.check_budget(ds, f, budget)          # also refuses multi-valued / absurd geometry
        if dicom._n_frames(ds) > 1:
            other_studies.append(dicom.load_dicom_file(f, memory_budget=budget))
            return
        sop = str(ds.get("SOPInstanceUID", "") or "")
        if sop and sop in seen_instances:
            copies.setdefault(seen_instances[sop], []).append((f, ds))   # the copy that decodes wins
            return
        if sop:
            seen_instances[sop] = f
        series_items.append((f, ds))

    for index, f in enumerate(files):
        cancel.raise_if_cancelled()
        if index and index % 16 == 0:
            yield Progress("open", index, total, f"Read {index} of {total} files")
        with warnings.catch_warnings():   # reader warnings may quote header values (PHI)
            warnings.simplefilter("ignore")
            try:
                _read_folder_file(f)
            except StudyError as exc:
                fail(exc, f)
            except MedAdvError:
                raise
            except Exception as exc:      # per-file isolation: one bad file never sinks the folder
                fail(as_study_error(f, exc), f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        groups = dicom.iter_series_groups(series_items)
    for group in groups:
        cancel.raise_if_cancelled()
        yield Progress("open", total, total, f"Loading a series of {len(group)} file(s)")
        paths = [p for p, _ in group]
        headers = [h for _, h in group]
        try:
            study, failures = dicom.load_dicom_series(paths, headers, memory_budget=budget,
                                                      copies={p: copies[p] for p in paths if p in copies})
        except MedAdvError as exc:
            if not isinstance(exc, StudyError):
                raise
            study, failures = None, [type(exc)(p, exc.reason) for p in paths]
        except Exception as exc:         # the whole series failed: each of its files says why
            study, failures = None, [as_study_error(p, exc) for p in paths]
        for failure in failures:
            fail(failure, failure.path)
        if study is not None:
            report.studies.append(study)
    report.studies.extend(other_studies)
    return report, errors
