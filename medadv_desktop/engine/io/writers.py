"""Writers for derived images (adversarial examples, perturbation maps, previews).

:func:`write_study_like` writes an image of the same shape as ``study.pixels``
in the input's own format, so the user can open the adversarial study in the
same viewer/PACS as the original:

* DICOM: a copy of each source data set with a new SOP Instance UID, one new
  Series Instance UID for the derived series, ImageType ``DERIVED\\SECONDARY``,
  SeriesDescription and ImageComments that say ``ADVERSARIAL - NOT FOR
  DIAGNOSIS``, and pixel values re-encoded through the inverse Modality LUT,
  ``stored = round((value - intercept) / slope)`` (MONOCHROME1 reflected back
  first), clipped to the stored range of the original integer type;
  uncompressed Explicit VR Little Endian. Colour images are written as RGB.
  File names use ``stem`` only, which callers build from the pseudonym, never
  from patient data.

  **De-identified by default** (a subset of the DICOM PS3.15 Basic Application
  Level Confidentiality Profile, see :func:`deidentify_dataset`): identifying
  attributes are removed or emptied, PatientName and PatientID become the
  study pseudonym, every instance UID (Study, Series, SOP, Frame of Reference,
  references) is replaced, PatientIdentityRemoved is YES and
  DeidentificationMethod says how. A manipulated series sent to a PACS thus
  never lands in the real patient's study. ``keep_identity=True`` is the
  explicit opt-in to keep the source's header (new Series/SOP UIDs and the
  adversarial notice still apply); the caller logs that choice.
* NIfTI: float32 in the source orientation with the source affine (.nii.gz);
  the free-text header fields (``aux_file``, ``db_name``) and header
  extensions are dropped unless ``keep_identity``, ``descrip`` carries the notice.
* PNG / JPEG / TIFF sources: lossless PNG, 8- or 16-bit like the source (JPEG
  would blur the perturbation away, so derived images are never written as
  JPEG), with the notice in a text chunk.

No writer ever overwrites an existing file, and every write goes through
:mod:`medadv_desktop.engine.safe_write`: the files of one output (the slices
of a series, a PNG and its JSON side-car) appear together or not at all;
:class:`OutputExistsError` if a target exists (also one that appears during
the write), :class:`~medadv_desktop.engine.safe_write.OutputWriteError` on a
full or read-only disk, with nothing partial left behind.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import hmac
import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medadv_desktop.engine.io.deid import NON_PHI_UIDS, is_phi, pseudonym_salt
from medadv_desktop.engine.io.study import Study
from medadv_desktop.engine.safe_write import NewFiles
from medadv_desktop.engine.serialization import atomic_write_bytes
from medadv_desktop.errors import InvalidArgumentError, MedAdvError, OutputExistsError, UnsupportedStudyError

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
SYNTHETIC_NOTICE = "MedAdv synthetic demo data - not for clinical use"
ADVERSARIAL_NOTICE = "ADVERSARIAL - NOT FOR DIAGNOSIS"
CORRUPTED_NOTICE = "SIMULATED ARTEFACT - NOT FOR DIAGNOSIS"
DEIDENTIFICATION_METHOD = "MedAdv Desktop: PS3.15 Basic Profile subset"

#: Removed wherever they occur (PS3.15 Table E.1-1 "X" actions that the PHI vocabulary does not
#: cover by itself): descriptions and comments, references to the source instances, thumbnails,
#: original and encrypted attributes, signatures, structured content, patient characteristics.
_REMOVE_KEYWORDS = frozenset({
    "StudyDescription", "SeriesDescription", "ProtocolName", "PerformedProcedureStepDescription",
    "RequestedProcedureDescription", "ScheduledProcedureStepDescription", "ReasonForTheRequestedProcedure",
    "ReasonForRequestedProcedureCodeSequence", "DerivationDescription", "AcquisitionComments",
    "FrameComments", "ImageComments", "IconImageSequence", "OriginalAttributesSequence",
    "EncryptedAttributesSequence", "DigitalSignaturesSequence", "MACParametersSequence", "ContentSequence",
    "ReferencedPatientSequence", "ReferencedStudySequence", "ReferencedPerformedProcedureStepSequence",
    "ReferencedImageSequence", "SourceImageSequence", "ReferencedSeriesSequence", "PatientAge",
    "PatientSize", "PatientWeight", "PatientSexNeutered", "SpecialNeeds", "ProcedureCodeSequence",
    "PerformedProcedureCodeSequence", "AdmittingDiagnosesCodeSequence", "PatientInsurancePlanCodeSequence",
    "StorageMediaFileSetID", "StorageMediaFileSetUID", "TextString", "TopicSubject", "TopicAuthor",
    "TopicKeywords", "ModifiedAttributesSequence", "ClinicalTrialSponsorName", "ClinicalTrialProtocolID",
    "ClinicalTrialSiteID", "ClinicalTrialSiteName", "ClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID",
    "ClinicalTrialTimePointID", "ClinicalTrialCoordinatingCenterName", "TimezoneOffsetFromUTC",
})
#: Type 2 attributes of the image IODs: kept present but emptied (PS3.15 "Z").
_EMPTY_KEYWORDS = ("PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "ReferringPhysicianName",
                   "StudyID", "AccessionNumber", "ContentDate", "ContentTime")
#: Emptied where present (Type 2 inside optional modules; PS3.15 "D"/"Z" for free text).
_EMPTY_IF_PRESENT = ("ContrastBolusAgent",)
#: Free-text and person/date value representations, removed wherever they occur.
_REMOVE_VRS = frozenset({"PN", "DA", "DT", "TM", "AS", "LT", "ST", "UT", "UC"})
_PALETTE_KEYWORDS = (
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID",
    "AlphaPaletteColorLookupTableDescriptor", "AlphaPaletteColorLookupTableData",
)
_STALE_KEYWORDS = ("SmallestImagePixelValue", "LargestImagePixelValue",
                   "SmallestPixelValueInSeries", "LargestPixelValueInSeries")


def _refuse_existing(paths: Sequence[Path]) -> None:
    for p in paths:
        if Path(p).exists():
            raise OutputExistsError(p)


def _check_stem(stem: str) -> str:
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        raise InvalidArgumentError(f"invalid file stem {stem!r}: use a plain name such as the study pseudonym")
    return stem


def _new_uid(old: str, uid_map: dict[str, str]) -> str:
    """A replacement UID, the same for the same source UID (so references stay consistent).

    Derived from HMAC-SHA-256(pseudonym salt, old UID): stable across exports of
    one study (its adversarial series group into one new study), not traceable
    to the source without the salt.
    """
    old = str(old).strip()
    if not old:
        return old
    if old not in uid_map:
        from pydicom.uid import generate_uid

        digest = hmac.new(pseudonym_salt(), b"medadv-deid-uid\x1f" + old.encode("utf-8", "replace"),
                          hashlib.sha256).hexdigest()
        uid_map[old] = generate_uid(entropy_srcs=[digest])
    return uid_map[old]


def _clean(dataset, uid_map: dict[str, str]) -> None:
    """Remove or replace identifying elements of ``dataset`` and of every sequence item inside it."""
    from pydicom.multival import MultiValue

    for elem in list(dataset):
        tag = elem.tag
        group = tag.group
        keyword = elem.keyword or ""
        vr = str(elem.VR)
        if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:   # curves, overlays (may hold text)
            del dataset[tag]
        elif keyword in _REMOVE_KEYWORDS:
            del dataset[tag]
        elif vr == "UI":
            if keyword not in NON_PHI_UIDS and elem.value:
                value = elem.value
                if isinstance(value, (MultiValue, list, tuple)):
                    elem.value = [_new_uid(v, uid_map) for v in value]
                else:
                    elem.value = _new_uid(value, uid_map)
        elif vr in _REMOVE_VRS or is_phi(keyword, int(tag)):
            del dataset[tag]
        elif vr == "SQ":
            for item in elem.value or []:
                _clean(item, uid_map)


def deidentify_dataset(ds, pseudonym: str, uid_map: dict[str, str] | None = None) -> dict[str, str]:
    """De-identify a pydicom Dataset in place (a subset of PS3.15 Basic Application Level Confidentiality).

    * private tags, curves and overlays are removed;
    * person names, dates, times, ages and free text (PN, DA, DT, TM, AS, LT,
      ST, UT, UC), every field the PHI vocabulary (:func:`~.deid.is_phi`) marks
      and the descriptions, comments, source references, thumbnails and original
      attributes the profile removes are removed, in sequences too;
    * the Type 2 attributes (birth date, sex, study date/time, referring
      physician, study ID, accession number) stay present but empty;
    * PatientName and PatientID become ``pseudonym``;
    * every instance UID is replaced consistently through ``uid_map``
      (old -> new; pass the same map for all files of one export);
    * PatientIdentityRemoved YES (NO when the source declares burned-in
      annotation, which pixels can still show), DeidentificationMethod and its
      code (DCM 113100), LongitudinalTemporalInformationModified REMOVED.

    Returns ``uid_map``.
    """
    from pydicom.dataset import Dataset

    uid_map = {} if uid_map is None else uid_map
    burned_in = str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
    ds.remove_private_tags()
    _clean(ds, uid_map)
    for keyword in _EMPTY_KEYWORDS:
        setattr(ds, keyword, "")
    for keyword in _EMPTY_IF_PRESENT:
        if keyword in ds:
            setattr(ds, keyword, "")
    ds.PatientName = pseudonym
    ds.PatientID = pseudonym
    ds.PatientIdentityRemoved = "NO" if burned_in else "YES"
    ds.DeidentificationMethod = (DEIDENTIFICATION_METHOD if not burned_in else
                                 DEIDENTIFICATION_METHOD[:36] + "; burned-in text kept")
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = [code]
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    return uid_map


def write_study_like(study: Study, native_pixels: np.ndarray, out_dir: str | Path, *,
                     stem: str, description: str, keep_identity: bool = False,
                     notice: str = ADVERSARIAL_NOTICE, lossy: tuple[str, float] | None = None) -> list[Path]:
    """Write ``native_pixels`` (same shape and units as ``study.pixels``) like the source study.

    De-identified by default (see the module docstring); ``keep_identity=True``
    keeps the source's identifying header fields (an explicit opt-in the caller
    should log). ``notice`` heads the description (e.g. :data:`CORRUPTED_NOTICE`
    for simulated artefacts). ``lossy``: ``(method, ratio)`` when the pixels went
    through lossy compression (DICOM method ``ISO_10918_1`` JPEG, ``ISO_15444_1``
    JPEG 2000): DICOM files then say LossyImageCompression ``01`` and append the
    ratio and method to those of the source (PS3.3 C.7.6.1.1.5).
    Returns the written paths. Raises :class:`OutputExistsError` if any target
    exists, ``OutputWriteError`` on a full or read-only disk; either way no file
    of this output is left behind.
    """
    pixels = np.asarray(native_pixels, dtype=np.float32)
    if pixels.shape != study.pixels.shape:
        raise InvalidArgumentError(f"pixels have shape {pixels.shape}, the study has {study.pixels.shape}")
    out_dir = Path(out_dir)
    stem = _check_stem(stem)
    if study.source_format == "dicom":
        return _write_dicom(study, pixels, out_dir, stem, description, keep_identity, notice=notice, lossy=lossy)
    if study.source_format == "nifti":
        return [_write_nifti(study, pixels, out_dir / f"{stem}.nii.gz", description, keep_identity, notice=notice)]
    return _write_raster(study, pixels, out_dir, stem, description, notice=notice)


# --------------------------------------------------------------------------- DICOM

def _stored_dtype(ds) -> tuple[np.dtype, int, int]:
    bits_alloc = int(ds.get("BitsAllocated", 16) or 16)
    bits_stored = int(ds.get("BitsStored", bits_alloc) or bits_alloc)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    size = {8: 1, 16: 2, 32: 4}.get(bits_alloc)
    if size is None:
        raise UnsupportedStudyError(Path("derived image"), f"{bits_alloc}-bit pixels cannot be written")
    dtype = np.dtype(f"<{'i' if signed else 'u'}{size}")
    lo, hi = (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1) if signed else (0, (1 << bits_stored) - 1)
    return dtype, lo, hi


def _inverse_modality(values: np.ndarray, native, frame_offset: int) -> np.ndarray:
    """Native units -> stored values (before rounding/clipping)."""
    if native.modality_lut is not None:
        first, lut = native.modality_lut
        stored = np.arange(first, first + lut.size, dtype=np.float64)
        order = np.argsort(lut, kind="stable")
        return np.interp(values, lut[order], stored[order])
    out = np.empty(values.shape, dtype=np.float64)
    for f in range(values.shape[0]):
        slope, intercept = native.frame_rescale[frame_offset + f] if native.frame_rescale else (1.0, 0.0)
        out[f] = (values[f].astype(np.float64) - intercept) / (slope or 1.0)
    return out


def _write_dicom(study: Study, pixels: np.ndarray, out_dir: Path, stem: str, description: str,
                 keep_identity: bool, *, notice: str = ADVERSARIAL_NOTICE,
                 lossy: tuple[str, float] | None = None) -> list[Path]:
    from pydicom.uid import generate_uid

    native = study.native
    if native is None or not getattr(native, "datasets", None):
        raise UnsupportedStudyError(study.source_paths[0] if study.source_paths else Path("study"),
                                    "the study was not opened from DICOM files, so it cannot be written as DICOM")
    if native.float_pixels:
        raise UnsupportedStudyError(study.source_paths[0], "float-valued DICOM pixel data cannot be written back")
    n_files = len(native.datasets)
    fpd = native.frames_per_dataset
    targets = [out_dir / (f"{stem}.dcm" if n_files == 1 else f"{stem}_{i + 1:04d}.dcm") for i in range(n_files)]
    _refuse_existing(targets)
    series_uid = generate_uid()
    uid_map: dict[str, str] = {}
    with NewFiles() as batch, warnings.catch_warnings():   # pydicom warnings may quote header values (PHI)
        warnings.simplefilter("ignore")
        for i, (src, target) in enumerate(zip(native.datasets, targets)):
            try:
                data = _encode_dicom(study, src, pixels[i * fpd:(i + 1) * fpd], i * fpd, series_uid, uid_map,
                                     description, keep_identity, notice=notice, lossy=lossy)
            except MedAdvError:
                raise
            except Exception as exc:   # a source header pydicom cannot write back: say so, leave nothing
                where = study.source_paths[min(i, len(study.source_paths) - 1)] if study.source_paths else target
                raise UnsupportedStudyError(
                    where, f"its header holds values that cannot be written to a new DICOM file "
                           f"({exc.__class__.__name__}); nothing was written",
                    hint="Export the image again from its source, or save the result as NIfTI/PNG.") from None
            batch.add(target, data)
    return batch.written


def _encode_dicom(study: Study, src, frames: np.ndarray, frame_offset: int, series_uid: str,
                  uid_map: dict[str, str], description: str, keep_identity: bool, *,
                  notice: str = ADVERSARIAL_NOTICE, lossy: tuple[str, float] | None = None) -> bytes:
    """One derived DICOM file (see the module docstring) as bytes."""
    import pydicom  # noqa: PLC0415
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    native = study.native
    fpd = native.frames_per_dataset
    ds = copy.deepcopy(src)
    for elem in list(ds):                  # command (0000) and file meta (0002) groups do not belong here
        if elem.tag.group in (0x0000, 0x0002):
            del ds[elem.tag]
    if not keep_identity:
        deidentify_dataset(ds, study.pseudonym or "ANONYMOUS", uid_map)
    if native.colour:
        bits = int(ds.get("BitsAllocated", 8) or 8) if native.colour == "RGB" else 8
        dtype = np.dtype("u1") if bits == 8 else np.dtype("<u2")
        top = 255 if bits == 8 else 65535
        stored = np.clip(np.rint(frames), 0, top).astype(dtype)
        for key in _PALETTE_KEYWORDS:
            if key in ds:
                del ds[key]
        ds.PhotometricInterpretation = "RGB"
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        ds.BitsAllocated = bits
        ds.BitsStored = bits
        ds.HighBit = bits - 1
        ds.PixelRepresentation = 0
    else:
        values = frames.astype(np.float64)
        if native.mono1_reflect is not None:
            values = native.mono1_reflect - values
        dtype, lo, hi = _stored_dtype(ds)
        stored = np.clip(np.rint(_inverse_modality(values, native, frame_offset)), lo, hi).astype(dtype)
    if fpd == 1:
        stored = stored[0]
    for key in _STALE_KEYWORDS:
        if key in ds:
            del ds[key]
    ds.PixelData = stored.tobytes()
    ds["PixelData"].VR = "OB" if stored.dtype.itemsize == 1 else "OW"
    if fpd > 1:
        ds.NumberOfFrames = fpd
    sop_class = str(ds.get("SOPClassUID", "") or "") or SECONDARY_CAPTURE
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid
    image_type = list(ds.get("ImageType", []) or [])
    ds.ImageType = ["DERIVED", "SECONDARY"] + [str(v) for v in image_type[2:]]
    ds.SeriesDescription = f"{notice}: {description}"[:64]
    ds.DerivationDescription = f"{notice}: {description}"[:1024]
    if lossy is not None:
        _mark_lossy(ds, *lossy)
    comments = [notice]
    if study.synthetic:
        comments.append(SYNTHETIC_NOTICE)   # derived from demo data: stays marked as such
    ds.ImageComments = " | ".join(comments)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(ds.SOPInstanceUID)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def _mark_lossy(ds: Any, method: str, ratio: float) -> None:
    """LossyImageCompression 01 with this compression's ratio and method appended to the source's
    (a copy once lossy stays lossy; successive compressions are listed in order)."""
    def values(keyword: str) -> list[str]:
        v = ds.get(keyword)
        if v is None or v == "":
            return []
        return [str(x) for x in v] if hasattr(v, "__iter__") and not isinstance(v, (str, bytes)) else [str(v)]

    was_lossy = str(ds.get("LossyImageCompression", "") or "") == "01"
    ratios = values("LossyImageCompressionRatio") if was_lossy else []
    methods = values("LossyImageCompressionMethod") if was_lossy else []
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = ratios + [f"{float(ratio):.2f}"[:16]]
    ds.LossyImageCompressionMethod = methods + [str(method)]


# --------------------------------------------------------------------------- NIfTI

def _write_nifti(study: Study, pixels: np.ndarray, target: Path, description: str, keep_identity: bool, *,
                 notice: str = ADVERSARIAL_NOTICE) -> Path:
    import nibabel as nib  # noqa: PLC0415

    from medadv_desktop.engine.io.nifti import display_to_canonical, from_canonical

    _refuse_existing([target])
    native = study.native
    canonical = display_to_canonical(pixels)
    if native is not None:
        data = from_canonical(canonical, native.source_affine)
        affine = native.source_affine
        header = native.source_header.copy() if isinstance(native.source_header, nib.Nifti1Header) else None
    else:  # a study built in memory: write it in canonical orientation
        data = canonical
        affine = np.diag([study.spacing[2], study.spacing[1], study.spacing[0], 1.0])
        header = None
    img = nib.Nifti1Image(np.ascontiguousarray(data, dtype=np.float32), affine, header=header)
    img.header.set_data_dtype(np.float32)
    img.header.set_slope_inter(1.0, 0.0)
    if not keep_identity:
        _clear_nifti_text(img.header)
    img.header["descrip"] = f"{notice}: {description}".encode("latin-1", "replace")[:79]
    payload = gzip.compress(img.to_bytes(), compresslevel=6, mtime=0)
    return atomic_write_bytes(target, payload)


def _clear_nifti_text(header: Any) -> None:
    """Drop the NIfTI header's free text (``aux_file``, ``db_name``, ``intent_name``) and extensions
    (which may carry a whole DICOM header)."""
    for key in ("aux_file", "db_name", "intent_name"):
        try:
            if key in header:
                header[key] = b""
        except Exception:  # noqa: BLE001  (a field this header type lacks)
            pass
    extensions = getattr(header, "extensions", None)
    if extensions is not None:
        try:
            extensions.clear()
        except Exception:  # noqa: BLE001
            pass


# --------------------------------------------------------------------------- PNG

def _png_bytes(array: np.ndarray, bits: int, text: str | None = None) -> bytes:
    from PIL import Image  # noqa: PLC0415
    from PIL.PngImagePlugin import PngInfo

    if bits == 16:
        img = Image.fromarray(np.ascontiguousarray(array.astype(np.uint16)))
    else:
        img = Image.fromarray(np.ascontiguousarray(array.astype(np.uint8)))
    info = None
    if text:
        info = PngInfo()
        info.add_text("Description", text)
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _write_raster(study: Study, pixels: np.ndarray, out_dir: Path, stem: str, description: str, *,
                  notice: str = ADVERSARIAL_NOTICE) -> list[Path]:
    depth = int(getattr(study.native, "bit_depth", 8) or 8)
    n = pixels.shape[0]
    targets = [out_dir / (f"{stem}.png" if n == 1 else f"{stem}_{i + 1:04d}.png") for i in range(n)]
    _refuse_existing(targets)
    bits = 8 if depth == 8 or pixels.ndim == 4 else 16
    top = 255 if bits == 8 else 65535
    text = f"{notice}: {description}"
    with NewFiles() as batch:
        for i, target in enumerate(targets):
            arr = np.clip(np.rint(pixels[i]), 0, top)
            batch.add(target, _png_bytes(arr, bits, text))
    return batch.written


def write_png_preview(image_2d_unit: np.ndarray, path: str | Path) -> Path:
    """An 8-bit PNG of an image scaled to [0, 1] (values outside are clipped).

    Accepts (H, W), (H, W, 3), (1, H, W) or (3, H, W) arrays; pixel = round(255 * v).
    """
    arr = np.asarray(image_2d_unit, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise InvalidArgumentError(f"a preview needs a 2-D image, got shape {arr.shape}")
    arr = np.nan_to_num(arr, nan=0.0)
    path = Path(path)
    _refuse_existing([path])
    return atomic_write_bytes(path, _png_bytes(np.rint(np.clip(arr, 0.0, 1.0) * 255.0), 8))


def write_float_map(values: np.ndarray, path: str | Path, *,
                    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
                    units: str = "", description: str = "") -> list[Path]:
    """Write a float map (e.g. a perturbation ``x_adv - x``) losslessly enough to measure.

    ``path`` ending in ``.nii``/``.nii.gz``: float32 NIfTI; ``values`` of shape
    (H, W) or (slices, H, W) in the display convention of
    :mod:`medadv_desktop.engine.io.nifti` (so re-opening gives the same array),
    ``spacing`` (slice, row, col) in mm.
    ``path`` ending in ``.png``: a 16-bit PNG of a 2-D map plus a JSON side-car
    ``<name>.json`` with ``value = offset + scale * pixel`` where
    ``offset = min`` and ``scale = (max - min) / 65535`` (quantisation error
    at most scale / 2). Returns the written paths.
    """
    path = Path(path)
    arr = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        import nibabel as nib  # noqa: PLC0415

        from medadv_desktop.engine.io.nifti import display_to_canonical

        _refuse_existing([path])
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise InvalidArgumentError(f"a NIfTI map needs (H, W) or (slices, H, W), got shape {arr.shape}")
        affine = np.diag([float(spacing[2]), float(spacing[1]), float(spacing[0]), 1.0])
        img = nib.Nifti1Image(np.ascontiguousarray(display_to_canonical(arr)), affine)
        img.header.set_data_dtype(np.float32)
        img.header["descrip"] = (description or units).encode("latin-1", "replace")[:79]
        payload = img.to_bytes()
        if name.endswith(".gz"):
            payload = gzip.compress(payload, compresslevel=6, mtime=0)
        return [atomic_write_bytes(path, payload)]
    if name.endswith(".png"):
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 2:
            raise InvalidArgumentError(f"a PNG map needs a 2-D array, got shape {arr.shape}; use .nii.gz for volumes")
        sidecar = path.with_suffix(".json")
        _refuse_existing([path, sidecar])
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        scale = (hi - lo) / 65535.0 if hi > lo else 1.0
        pixel = np.clip(np.rint((arr - lo) / scale), 0, 65535)
        meta = {"formula": "value = offset + scale * pixel", "offset": lo, "scale": scale,
                "units": units, "description": description, "shape": list(arr.shape),
                "spacing_mm": [float(s) for s in spacing[1:]]}
        with NewFiles() as batch:          # the PNG is useless without its side-car: both or neither
            batch.add(path, _png_bytes(pixel, 16))
            batch.add(sidecar, json.dumps(meta, indent=2).encode("utf-8"))
        return batch.written
    raise InvalidArgumentError(f"unknown map format for '{path.name}': use .nii, .nii.gz or .png")


def read_float_map_png(path: str | Path) -> np.ndarray:
    """Read a map written by :func:`write_float_map` as PNG + JSON back to float32 values."""
    from PIL import Image  # noqa: PLC0415

    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    with Image.open(path) as img:
        pixel = np.asarray(img).astype(np.float64)
    return (meta["offset"] + meta["scale"] * pixel).astype(np.float32)
