"""Open a file or a folder: the one entry point the CLI and the GUI use.

A file is recognised by its content first (the DICOM 'DICM' marker, the PNG /
JPEG / TIFF signatures) and by its name second (NIfTI and other nibabel
volumes). A folder is walked recursively (hidden entries skipped): DICOM files
are read header-first, grouped into series by SeriesInstanceUID (and image
size), sorted along the slice normal and loaded as one study per series;
multi-frame DICOM files, volumes and images each become a study of their own.
Every file that does not load is listed in :attr:`LoadReport.failures` with the
reason in plain words, and the good files still load.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from medadv_desktop.engine.jobs import CancelToken, Job, Progress, run_job
from medadv_desktop.errors import CorruptStudyError, StudyError, UnsupportedStudyError
from medadv_desktop.engine.io.study import LoadReport, Study

_PAIR_DATA_SUFFIXES = {  # data file -> header file that carries it
    ".img": (".hdr",), ".img.gz": (".hdr", ".hdr.gz"), ".rec": (".par",),
    ".brik": (".head",), ".brik.gz": (".head",),
}


def _head(path: Path, n: int = 400) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except PermissionError:
        raise StudyError(path, "it cannot be read (permission denied)",
                         hint="Ask for read access to the file or copy it somewhere you can read.") from None
    except IsADirectoryError:
        raise StudyError(path, "it is a folder, not a file") from None
    except OSError as exc:
        raise StudyError(path, f"it cannot be read ({exc.strerror or exc})") from None


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


def load_file(path: Path, *, volume_index: int | None = None) -> Study:
    """Load one file of any supported kind; raises a StudyError subclass."""
    path = Path(path)
    head = _head(path)
    if not head:
        raise CorruptStudyError(path, "the file is empty (0 bytes)", hint="Copy the file again from its source.")
    kind = classify(path, head)
    if kind == "image":
        from medadv_desktop.engine.io.raster import load_raster
        return load_raster(path)
    if kind == "nifti":
        from medadv_desktop.engine.io.nifti import load_volume
        return load_volume(path, volume_index=volume_index)
    if kind == "gzip":
        raise UnsupportedStudyError(
            path, "it is a gzip-compressed file that is not a .nii.gz volume",
            hint="Unpack it first (e.g. with 'gunzip'), then open the file inside.")
    from medadv_desktop.engine.io.dicom import load_dicom_file
    return load_dicom_file(path)


def open_path_job(path: str | os.PathLike, *, volume_index: int | None = None,
                  cancel: CancelToken | None = None) -> Job[LoadReport]:
    """:func:`open_path` as a cancellable job: yields ``Progress("open", files_done, files_total)``
    (messages never name files: names may hold PHI) and returns the LoadReport."""
    report, _ = yield from _open_job(Path(path), volume_index, cancel or CancelToken())
    return report


def open_path(path: str | os.PathLike, *, volume_index: int | None = None) -> LoadReport:
    """Open a file or a folder; never raises for bad files, lists them instead.

    Returns a :class:`LoadReport` with the studies that loaded (DICOM series
    first, in the order their first file was found) and ``(path, reason)`` for
    every file that did not. Raises :class:`StudyError` only when ``path``
    itself does not exist or cannot be listed.
    """
    report, _ = run_job(_open_job(Path(path), volume_index, CancelToken()))
    return report


def open_study(path: str | os.PathLike, **kw) -> Study:
    """The first study at ``path``; raises the StudyError that explains why there is none."""
    path = Path(path)
    if path.is_file():
        return load_file(path, **kw)
    report, errors = run_job(_open_job(path, kw.get("volume_index"), CancelToken()))
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


def _open_job(path: Path, volume_index: int | None, cancel: CancelToken):
    if not path.exists():
        raise StudyError(path, "it does not exist", hint="Check the path and try again.")
    if path.is_file():
        try:
            return LoadReport(studies=[load_file(path, volume_index=volume_index)]), []
        except StudyError as exc:
            return LoadReport(failures=[(path, exc.reason)]), [exc]
    if not path.is_dir():
        raise StudyError(path, "it is neither a file nor a folder")
    return (yield from _open_folder(path, volume_index, cancel))


#: Side-car files that sit beside images in study and data-set folders (labels,
#: notes, reports). A folder walk skips them silently; opened on their own they
#: are still refused with a reason.
SIDECAR_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".md", ".json", ".pdf", ".html", ".xml", ".log"})


def _walk(folder: Path) -> list[Path]:
    files: list[Path] = []

    def onerror(exc: OSError) -> None:
        raise StudyError(Path(exc.filename or folder), "the folder cannot be listed (permission denied)")

    for root, dirs, names in os.walk(folder, onerror=onerror):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(Path(root) / n for n in sorted(names)
                     if not n.startswith(".") and Path(n).suffix.lower() not in SIDECAR_SUFFIXES)
    return files


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


def _open_folder(folder: Path, volume_index: int | None, cancel: CancelToken):
    """Generator job: yields Progress per file, returns (LoadReport, errors)."""
    from medadv_desktop.engine.io import dicom

    files = _walk(folder)
    total = len(files)
    yield Progress("open", 0, total, "Reading file headers")
    present = set(files)
    report = LoadReport()
    errors: list[StudyError] = []
    other_studies: list[Study] = []
    series_items: list[tuple[Path, object]] = []
    seen_instances: dict[str, Path] = {}

    def fail(exc: StudyError, where: Path) -> None:
        errors.append(exc)
        report.failures.append((where, exc.reason))

    def _read_folder_file(f: Path) -> None:
        head = _head(f)
        if not head:
            raise CorruptStudyError(f, "the file is empty (0 bytes)")
        kind = classify(f, head)
        if kind == "nifti" and _is_pair_data_file(f, present):
            return  # loaded through its header file
        if kind in ("image", "nifti", "gzip"):
            other_studies.append(load_file(f, volume_index=volume_index))
            return
        ds = dicom.read_dataset(f, header_only=True)
        if not dicom.has_pixels(ds):
            raise dicom.no_image_error(f, ds)
        if dicom._n_frames(ds) > 1:
            other_studies.append(dicom.load_dicom_file(f))
            return
        sop = str(ds.get("SOPInstanceUID", "") or "")
        if sop and sop in seen_instances:
            raise UnsupportedStudyError(
                f, f"it is a copy of '{seen_instances[sop].name}' (same SOP Instance UID); skipped")
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        groups = dicom.iter_series_groups(series_items)
    for group in groups:
        cancel.raise_if_cancelled()
        yield Progress("open", total, total, f"Loading a series of {len(group)} file(s)")
        paths = [p for p, _ in group]
        headers = [h for _, h in group]
        study, failures = dicom.load_dicom_series(paths, headers)
        for exc in failures:
            fail(exc, exc.path)
        if study is not None:
            report.studies.append(study)
    report.studies.extend(other_studies)
    return report, errors
