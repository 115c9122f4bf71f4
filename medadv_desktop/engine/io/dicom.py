"""DICOM reading with pydicom 3: single files, multi-frame files and series.

Pixel values are returned in the study's *native units*:

* grayscale: the Modality LUT is applied (``value = slope * stored + intercept``
  from RescaleSlope/RescaleIntercept, per frame for enhanced multi-frame
  objects, or a Modality LUT Sequence), so CT is in Hounsfield units (HU);
* MONOCHROME1 images (where a low stored value is displayed white) are
  reflected inside their native range, ``v' = (v_min + v_max) - v``, where
  ``v_min``/``v_max`` are the Modality-LUT outputs of the smallest and largest
  storable values, so that bright always means dense;
* colour: RGB stays RGB, YBR_* is converted to RGB by pydicom, PALETTE COLOR is
  expanded through its palette (16-bit palettes are scaled to 0..255).

Series are sorted along the slice normal ``n = row_cosines x column_cosines``
(from ImageOrientationPatient) by the projected position ``d = n . IPP`` (mm),
falling back to InstanceNumber. The slice spacing is the median of the
differences of ``d``; row/column spacing come from PixelSpacing (mm), with
ImagerPixelSpacing and the enhanced functional groups as fallbacks.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, MutableSequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medadv_desktop.engine.io.budget import MemoryBudget
from medadv_desktop.engine.io.deid import is_phi, pseudonym
from medadv_desktop.engine.io.study import (
    CT_DEFAULT_PRESETS, HeaderElement, PatientGeometry, Study, WindowPreset, burned_in_annotation,
)
from medadv_desktop.errors import CorruptStudyError, StudyError, UnsupportedStudyError

_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"   # Secondary Capture Image Storage and its multi-frame kin

_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_MAX_HEADER_ELEMENTS = 4000
_MAX_VALUE_CHARS = 160
_BINARY_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}

#: Which decoder package a compressed transfer syntax needs.
_PLUGIN_FOR_SYNTAX = {
    "1.2.840.10008.1.2.4.50": "Pillow or pylibjpeg-libjpeg",
    "1.2.840.10008.1.2.4.51": "pylibjpeg-libjpeg (or GDCM)",
    "1.2.840.10008.1.2.4.57": "pylibjpeg-libjpeg (or GDCM)",
    "1.2.840.10008.1.2.4.70": "pylibjpeg-libjpeg (or GDCM)",
    "1.2.840.10008.1.2.4.80": "pylibjpeg-libjpeg (or GDCM)",
    "1.2.840.10008.1.2.4.81": "pylibjpeg-libjpeg (or GDCM)",
    "1.2.840.10008.1.2.4.90": "pylibjpeg-openjpeg (or Pillow with OpenJPEG)",
    "1.2.840.10008.1.2.4.91": "pylibjpeg-openjpeg (or Pillow with OpenJPEG)",
    "1.2.840.10008.1.2.4.201": "pylibjpeg-openjpeg >= 2.4 (HTJ2K)",
    "1.2.840.10008.1.2.4.202": "pylibjpeg-openjpeg >= 2.4 (HTJ2K)",
    "1.2.840.10008.1.2.4.203": "pylibjpeg-openjpeg >= 2.4 (HTJ2K)",
    "1.2.840.10008.1.2.5": "pylibjpeg-rle (or numpy)",
}


@dataclass
class DicomNative:
    """What the DICOM writer needs to write a derived image like the source.

    ``datasets`` are the source datasets in slice order with their pixel data
    removed; ``frame_rescale`` holds the (slope, intercept) used for each output
    slice; ``mono1_reflect`` is ``v_min + v_max`` for MONOCHROME1 (else None);
    ``colour`` is ``""``, ``"RGB"`` (incl. converted YBR) or ``"PALETTE"``.
    """

    datasets: list[Any]
    frames_per_dataset: int = 1
    frame_rescale: list[tuple[float, float]] = field(default_factory=list)
    modality_lut: Any = None            # (first_mapped, lut_values) when a LUT Sequence is used
    mono1_reflect: float | None = None
    colour: str = ""
    float_pixels: bool = False


# --------------------------------------------------------------------------- reading

def _pydicom():
    import pydicom  # noqa: PLC0415  (lazy: 0.3 s at start-up)
    return pydicom


def looks_like_dicom_bytes(head: bytes) -> bool:
    """True when the first bytes carry the DICOM Part 10 'DICM' marker."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def _known_elements(ds) -> int:
    n = 0
    try:
        for tag in list(ds.keys())[:64]:
            if tag.group in (0x0008, 0x0010, 0x0018, 0x0020, 0x0028, 0x7FE0) and ds[tag].keyword:
                n += 1
    except Exception:
        return 0
    return n


def read_dataset(path: Path, *, header_only: bool = False):
    """Read a DICOM file into a pydicom Dataset, raising a StudyError in plain words.

    ``header_only`` defers large values (pixel data is located but not loaded).
    Files without the Part 10 preamble are read with ``force=True`` and accepted
    only if they hold recognisable DICOM elements.
    """
    pydicom = _pydicom()
    from pydicom.errors import InvalidDicomError

    kwargs: dict[str, Any] = {"defer_size": 1024} if header_only else {}
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise CorruptStudyError(path, "the file is empty (0 bytes)",
                                hint="Copy the file again from its source.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, **kwargs)
        except InvalidDicomError:
            try:
                ds = pydicom.dcmread(path, force=True, **kwargs)
            except Exception:
                ds = None
            if ds is None or _known_elements(ds) < 2:
                raise UnsupportedStudyError(
                    path, "it is not a DICOM file, NIfTI volume or PNG/JPEG/TIFF image",
                    hint="Open a DICOM file or series folder, a .nii/.nii.gz volume or an image file.") from None
        except EOFError:
            raise CorruptStudyError(path, "the file ends before its DICOM header is complete",
                                    hint="The file is truncated; copy it again from its source.") from None
        except Exception as exc:
            raise CorruptStudyError(path, f"its DICOM header is damaged ({_short(exc)})",
                                    hint="Copy the file again or export it again from the PACS.") from None
        if not header_only:
            try:  # touch every element: damaged values surface here, not later
                for _ in ds.iterall():
                    pass
            except (EOFError, OSError) as exc:
                raise CorruptStudyError(path, f"the file ends inside its header ({_short(exc)})",
                                        hint="The file is truncated; copy it again from its source.") from None
            except Exception as exc:
                raise CorruptStudyError(path, f"its header holds a damaged value ({_short(exc)})",
                                        hint="Export the image again from the PACS or scanner.") from None
    _infer_transfer_syntax(ds)
    return ds


def _infer_transfer_syntax(ds) -> None:
    """Files without a file meta header: take the encoding pydicom detected.

    Only for native (uncompressed) pixel data, which is what such old files hold.
    """
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    encoding = getattr(ds, "original_encoding", None)
    if not encoding or encoding[0] is None:
        return
    implicit, little = encoding
    from pydicom.dataset import FileMetaDataset
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    if implicit:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return text[:200]


def is_dicomdir(ds) -> bool:
    meta = getattr(ds, "file_meta", None)
    sop = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    return sop == _DICOMDIR_CLASS or "DirectoryRecordSequence" in ds


def has_pixels(ds) -> bool:
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


def no_image_error(path: Path, ds) -> StudyError:
    """The StudyError for a DICOM object without pixels (DICOMDIR, SR, RT plan, truncated)."""
    if is_dicomdir(ds):
        return UnsupportedStudyError(
            path, "it is a DICOMDIR (an index of other files), not an image",
            hint="Open the folder that contains the DICOMDIR: MedAdv reads the images in it.")
    sop = _sop_class_name(ds)
    if len(ds) == 0:
        return CorruptStudyError(path, "the file ends right after its DICOM file header: it holds no data set",
                                 hint="The file is truncated; copy it again from its source.")
    if "Rows" in ds or "Image Storage" in sop:
        return CorruptStudyError(
            path, "it describes an image but holds no pixel data: the file is truncated, "
                  "or it was saved without its pixels",
            hint="Copy the file again from its source, or export it again with its pixel data.")
    kind = f" (it is a {sop})" if sop else ""
    return UnsupportedStudyError(
        path, f"contains no image (e.g. a structured report){kind}",
        hint="MedAdv reads image objects only (CT, MR, CR, DX, US, ... ).")


def _sop_class_name(ds) -> str:
    uid = ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
    if not uid:
        return ""
    try:
        name = uid.name
    except Exception:
        return ""
    return "" if name == str(uid) else str(name)


# --------------------------------------------------------------------------- declared size

_MAX_DIM = 65535            # Rows and Columns are US (16-bit) values
_BITS = (1, 8, 16, 32, 64)


def _single_int(ds, keyword: str, path: Path, default: int | None = None) -> int | None:
    """A header value that must be one whole number (Rows, Columns, SamplesPerPixel, ...)."""
    if keyword not in ds:
        return default
    value = ds[keyword].value
    if value is None or value == "" or value == b"":
        return default
    if _is_multi(value):
        if len(value) != 1:
            raise CorruptStudyError(path, f"its header gives {len(value)} values for {keyword} where one "
                                          "number belongs; the file is damaged",
                                    hint="Export the image again from the PACS or scanner.")
        value = value[0]
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise CorruptStudyError(path, f"its {keyword} is not a whole number; the file is damaged",
                                hint="Export the image again from the PACS or scanner.") from None


@dataclass(frozen=True)
class DeclaredImage:
    """What the header says the pixel data holds (checked before anything is decoded)."""

    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    palette: bool

    @property
    def raw_bytes(self) -> int:
        n = self.rows * self.columns * self.frames * self.samples
        return (n * self.bits_allocated + 7) // 8

    @property
    def output_values(self) -> int:
        channels = 3 if self.samples == 3 or self.palette else 1
        return self.rows * self.columns * self.frames * channels

    def describe(self) -> str:
        frames = f" x {self.frames} frames" if self.frames > 1 else ""
        colour = ", colour" if self.samples == 3 or self.palette else ""
        return f"its {self.columns} x {self.rows}{frames} {self.bits_allocated}-bit image{colour}"


def declared_image(ds, path: Path) -> DeclaredImage:
    """Rows, Columns, frames, samples and bits from the header; a StudyError when they make no sense."""
    rows = _single_int(ds, "Rows", path)
    cols = _single_int(ds, "Columns", path)
    if rows is None or cols is None:
        raise CorruptStudyError(path, "its header does not give the image size (Rows and Columns)",
                                hint="Export the image again from the PACS or scanner.")
    if not (1 <= rows <= _MAX_DIM and 1 <= cols <= _MAX_DIM):
        raise CorruptStudyError(path, f"its image size {cols} x {rows} is impossible (1 to {_MAX_DIM} "
                                      "pixels per side); the file is damaged")
    frames = _single_int(ds, "NumberOfFrames", path, 1)
    frames = max(1, frames if frames is not None else 1)
    samples = _single_int(ds, "SamplesPerPixel", path, 1) or 1
    if samples not in (1, 3):
        raise UnsupportedStudyError(path, f"images with {samples} samples per pixel are not supported")
    default_bits = 32 if "FloatPixelData" in ds else 64 if "DoubleFloatPixelData" in ds else 16
    bits = _single_int(ds, "BitsAllocated", path, default_bits) or default_bits
    if bits not in _BITS:
        raise UnsupportedStudyError(path, f"{bits}-bit pixel storage (BitsAllocated) is not supported; "
                                          "DICOM uses 1, 8, 16, 32 or 64")
    try:
        palette = str(ds.get("PhotometricInterpretation", "") or "").strip().upper() == "PALETTE COLOR"
    except Exception:
        palette = False
    return DeclaredImage(rows, cols, frames, samples, bits, palette)


def check_budget(ds, path: Path, budget: MemoryBudget | None = None) -> DeclaredImage:
    """Refuse a file whose declared pixel data would not fit the memory budget (header only)."""
    image = declared_image(ds, path)
    MemoryBudget.resolve(budget).check(path, raw_bytes=image.raw_bytes, values=image.output_values,
                                       what=image.describe())
    return image


# --------------------------------------------------------------------------- pixels

def _transfer_syntax(ds):
    meta = getattr(ds, "file_meta", None)
    return meta.get("TransferSyntaxUID") if meta is not None else None


def decode_pixels(ds, path: Path) -> np.ndarray:
    """``ds.pixel_array`` with failures turned into StudyErrors.

    Returns (frames, rows, cols) or (frames, rows, cols, samples), raw stored values.
    """
    ts = _transfer_syntax(ds)
    if ts is None:
        raise UnsupportedStudyError(
            path, "the file does not say how its pixels are encoded (no Transfer Syntax UID)",
            hint="Re-export the image from the PACS or scanner as a standard DICOM file.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            arr = ds.pixel_array
        except NotImplementedError:
            name = getattr(ts, "name", str(ts))
            plugin = _PLUGIN_FOR_SYNTAX.get(str(ts))
            need = f"; it needs {plugin}" if plugin else ""
            raise UnsupportedStudyError(
                path, f"its pixels are compressed as '{name}' ({ts}) and no installed decoder reads it{need}",
                hint="Install the decoder named above, or export the image uncompressed.") from None
        except RuntimeError as exc:
            name = getattr(ts, "name", str(ts))
            raise UnsupportedStudyError(
                path, f"its '{name}' ({ts}) compressed pixel data could not be decoded by the installed "
                      f"decoders ({_short(exc)}); the data may be damaged or use a variant they do not support",
                hint="Export the image again, uncompressed if possible.") from None
        except ValueError as exc:
            text = str(exc)
            if "less than expected" in text:
                import re
                m = re.search(r"\((\d+) vs (\d+) bytes\)", text)
                got = f" ({m.group(1)} of {m.group(2)} bytes)" if m else ""
                raise CorruptStudyError(
                    path, f"the file ends before its pixel data is complete{got}",
                    hint="The file is truncated; copy it again from its source.") from None
            raise CorruptStudyError(path, f"its image description is inconsistent ({_short(exc)})",
                                    hint="The header values do not describe the pixel data; export it again.") from None
        except (AttributeError, KeyError, TypeError) as exc:
            raise CorruptStudyError(path, f"its image description is incomplete ({_short(exc)})",
                                    hint="A required image attribute is missing; export it again.") from None
        except MemoryError:
            raise UnsupportedStudyError(path, "the image is too large for the available memory") from None
        except Exception as exc:
            raise CorruptStudyError(path, f"its pixel data cannot be read ({_short(exc)})") from None
    n_frames = _n_frames(ds)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if n_frames == 1:
        arr = arr[None]
    if arr.ndim == 3 and samples > 1:   # (rows, cols, samples) mis-detected as frames
        arr = arr[None]
    if samples not in (1, 3) or arr.ndim not in (3, 4):
        raise UnsupportedStudyError(path, f"images with {samples} samples per pixel are not supported")
    return arr


def _n_frames(ds) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _fg_item(ds, frame: int, sequence: str):
    """Item of a functional-group macro for ``frame`` (per-frame first, then shared)."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        seq = ds.get(groups)
        if seq is not None and len(seq) > index:
            inner = seq[index].get(sequence)
            if inner:
                return inner[0]
    return None


def _rescale(ds, frame: int) -> tuple[float, float]:
    item = _fg_item(ds, frame, "PixelValueTransformationSequence")
    src = item if item is not None and "RescaleSlope" in item else ds
    try:
        slope = float(src.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(src.get("RescaleIntercept", 0.0) or 0.0)
    except (TypeError, ValueError):
        slope, intercept = 1.0, 0.0
    return slope, intercept


def _stored_range(ds) -> tuple[int, int]:
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _to_native(ds, raw: np.ndarray, path: Path) -> tuple[np.ndarray, DicomNative]:
    """Stored values -> float32 native units (see module docstring)."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    native = DicomNative(datasets=[], frames_per_dataset=raw.shape[0])
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        native.float_pixels = True
        return raw.astype(np.float32), native
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut
        try:
            rgb = apply_color_lut(raw, ds)
        except Exception as exc:
            raise CorruptStudyError(path, f"its colour palette cannot be applied ({_short(exc)})") from None
        out = rgb.astype(np.float32)
        if rgb.dtype.itemsize > 1 and float(out.max(initial=0)) > 255:
            out /= 257.0
        native.colour = "PALETTE"
        return out, native
    if raw.ndim == 4:
        if photometric not in ("RGB",) and not photometric.startswith("YBR"):
            raise UnsupportedStudyError(path, f"the colour model '{photometric}' is not supported",
                                        hint="Export the image as RGB or grayscale.")
        native.colour = "RGB"        # pydicom 3 converts YBR_* to RGB by default
        return raw.astype(np.float32), native
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        if photometric in ("RGB",) or photometric.startswith("YBR"):
            pass  # single-sample data labelled as colour: treat as grayscale
    smin, smax = _stored_range(ds)
    if "ModalityLUTSequence" in ds:
        from pydicom.pixels import apply_modality_lut
        out = apply_modality_lut(raw, ds).astype(np.float32)
        ends = apply_modality_lut(np.array([smin, smax]), ds).astype(np.float64)
        item = ds.ModalityLUTSequence[0]
        first = int(item.LUTDescriptor[1])
        native.modality_lut = (first, np.asarray(item.LUTData, dtype=np.float64))
        lo, hi = float(ends.min()), float(ends.max())
    else:
        out = np.empty(raw.shape, dtype=np.float32)
        for f in range(raw.shape[0]):
            slope, intercept = _rescale(ds, f)
            native.frame_rescale.append((slope, intercept))
            out[f] = raw[f].astype(np.float32) * np.float32(slope) + np.float32(intercept)
        slope, intercept = native.frame_rescale[0]
        a, b = smin * slope + intercept, smax * slope + intercept
        lo, hi = min(a, b), max(a, b)
    if photometric == "MONOCHROME1":
        native.mono1_reflect = lo + hi
        out = np.float32(lo + hi) - out
    return out, native


# --------------------------------------------------------------------------- geometry

def _floats(value, n: int) -> list[float] | None:
    try:
        vals = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return vals if len(vals) == n and all(np.isfinite(vals)) else None


def pixel_spacing(ds, frame: int = 0) -> tuple[float, float]:
    """(row spacing, column spacing) in mm; 1.0 when the file does not say."""
    return pixel_spacing_source(ds, frame)[0]


def pixel_spacing_source(ds, frame: int = 0) -> tuple[tuple[float, float], str]:
    """((row spacing, column spacing) mm, the element it came from); ``((1, 1), "")`` when none does."""
    item = _fg_item(ds, frame, "PixelMeasuresSequence")
    for src in (item, ds):
        if src is None:
            continue
        for key in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
            if key in src:
                vals = _floats(src.get(key), 2)
                if vals and vals[0] > 0 and vals[1] > 0:
                    return (vals[0], vals[1]), key
    return (1.0, 1.0), ""


def slice_thickness(ds, frame: int = 0) -> float | None:
    """The nominal SliceThickness (mm) of a frame (functional groups first), None when not stated."""
    item = _fg_item(ds, frame, "PixelMeasuresSequence")
    for src in (item, ds):
        if src is None or "SliceThickness" not in src:
            continue
        try:
            v = float(src.get("SliceThickness") or 0)
        except (TypeError, ValueError):
            continue
        if v > 0 and np.isfinite(v):
            return v
    return None


def patient_geometry(datasets: list, frames: int = 1) -> PatientGeometry | None:
    """LPS geometry of slices in display order: one dataset per slice (a series), or one
    multi-frame dataset with ``frames`` frames; None when orientation or a position is missing."""
    try:
        return _patient_geometry(datasets, frames)
    except Exception:  # noqa: BLE001  (a hostile header never stops a study from opening: no geometry)
        return None


def _patient_geometry(datasets: list, frames: int) -> PatientGeometry | None:
    first = datasets[0]
    m = orientation_cosines(first, 0)
    if m is None or not np.all(np.isfinite(m)):
        return None
    origins = []
    if len(datasets) == 1:
        for f in range(frames):
            pos = image_position(first, f)
            if pos is None:
                return None
            origins.append(pos)
    else:
        for ds in datasets:
            pos = image_position(ds, 0)
            if pos is None:
                return None
            origins.append(pos)
    norms = np.linalg.norm(m[0]), np.linalg.norm(m[1])
    origins_arr = np.asarray(origins, dtype=np.float64)
    if min(norms) <= 1e-6 or not np.all(np.isfinite(origins_arr)):
        return None
    row_dir, col_dir = m[0] / norms[0], m[1] / norms[1]
    if np.linalg.norm(np.cross(row_dir, col_dir)) < 1e-3:      # parallel cosines: no slice normal
        return None
    return PatientGeometry(frame="LPS", origins=origins_arr, row_direction=row_dir,
                           column_direction=col_dir, pixel_spacing=pixel_spacing(first),
                           slice_thickness=slice_thickness(first))


def _text(ds, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:
        return ""
    if value is None:
        return ""
    if _is_multi(value):
        value = "\\".join(str(v) for v in value)
    return str(value).strip()


def viewer_fields(ds, modality: str) -> dict[str, Any]:
    """The Study's display and burned-in fields from a header (never raises)."""
    sop = _text(ds, "SOPClassUID") or _text(getattr(ds, "file_meta", {}) or {}, "MediaStorageSOPClassUID")
    flag, reason = burned_in_annotation(modality, _text(ds, "BurnedInAnnotation") or None,
                                        _text(ds, "RecognizableVisualFeatures") or None,
                                        secondary_capture=sop.startswith(_SECONDARY_CAPTURE))
    _, spacing_key = pixel_spacing_source(ds)
    return {"series_description": _text(ds, "SeriesDescription"),
            "body_part": _text(ds, "BodyPartExamined").upper(),
            "study_date": _text(ds, "StudyDate") or _text(ds, "SeriesDate"),
            "burned_in_annotation": flag, "burned_in_reason": reason,
            "spacing_known": bool(spacing_key)}


def _thickness(ds, frame: int = 0) -> float | None:
    item = _fg_item(ds, frame, "PixelMeasuresSequence")
    for src in (ds, item):
        if src is None:
            continue
        for key in ("SpacingBetweenSlices", "SliceThickness"):
            try:
                v = float(src.get(key) or 0)
            except (TypeError, ValueError):
                v = 0.0
            if v > 0 and np.isfinite(v):
                return abs(v)
    return None


def orientation_cosines(ds, frame: int = 0) -> np.ndarray | None:
    """ImageOrientationPatient as a (2, 3) array (row cosines, column cosines)."""
    item = _fg_item(ds, frame, "PlaneOrientationSequence")
    for src in (item, ds):
        if src is not None and "ImageOrientationPatient" in src:
            vals = _floats(src.ImageOrientationPatient, 6)
            if vals:
                m = np.asarray(vals, dtype=np.float64).reshape(2, 3)
                if np.all(np.linalg.norm(m, axis=1) > 0.5):
                    return m
    return None


def image_position(ds, frame: int = 0) -> np.ndarray | None:
    item = _fg_item(ds, frame, "PlanePositionSequence")
    for src in (item, ds):
        if src is not None and "ImagePositionPatient" in src:
            vals = _floats(src.ImagePositionPatient, 3)
            if vals:
                return np.asarray(vals, dtype=np.float64)
    return None


_LPS = ("L", "P", "H")
_OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "H": "F", "F": "H"}


def _direction_letter(v: np.ndarray) -> str:
    """The patient direction (LPS: +x = L, +y = P, +z = H) a unit vector points to most."""
    axis = int(np.argmax(np.abs(v)))
    letter = _LPS[axis]
    return letter if v[axis] > 0 else _OPPOSITE[letter]


def orientation_labels(ds, frame: int = 0) -> tuple[str, str, str, str] | None:
    """Labels (left, right, top, bottom) of the displayed image.

    The row cosines point from the left to the right edge of the display, the
    column cosines from the top to the bottom edge (DICOM PS3.3 C.7.6.2.1.1).
    Falls back to PatientOrientation (the directions of the right and bottom edges).
    """
    m = orientation_cosines(ds, frame)
    if m is not None:
        right, bottom = _direction_letter(m[0]), _direction_letter(m[1])
    else:
        po = ds.get("PatientOrientation")
        try:
            vals = [str(v).strip().upper() for v in po] if po else []
        except TypeError:
            vals = []
        if len(vals) != 2 or not vals[0] or not vals[1]:
            return None
        right, bottom = vals[0][0], vals[1][0]
        if right not in _OPPOSITE or bottom not in _OPPOSITE:
            return None
    return _OPPOSITE[right], right, _OPPOSITE[bottom], bottom


def slice_positions(headers: list) -> list[float] | None:
    """Signed distance (mm) of each slice along the slice normal, or None."""
    m = orientation_cosines(headers[0])
    if m is None:
        return None
    normal = np.cross(m[0], m[1])
    out = []
    for h in headers:
        pos = image_position(h)
        if pos is None:
            return None
        out.append(float(normal @ pos))
    return out


def sort_slices(headers: list) -> list[int]:
    """Indices that order a series along its slice normal, or by InstanceNumber."""
    pos = slice_positions(headers)
    if pos is not None:
        return [int(i) for i in np.argsort(np.asarray(pos), kind="stable")]
    try:
        numbers = [int(h.get("InstanceNumber")) for h in headers]
        return [int(i) for i in np.argsort(np.asarray(numbers), kind="stable")]
    except (TypeError, ValueError):
        return list(range(len(headers)))


def _spacing_between(positions: list[float] | None) -> float | None:
    if positions is None or len(positions) < 2:
        return None
    d = np.abs(np.diff(np.sort(np.asarray(positions))))
    d = d[d > 1e-4]
    return float(np.median(d)) if d.size else None


# --------------------------------------------------------------------------- metadata

def window_presets(ds, native: DicomNative, modality: str) -> list[WindowPreset]:
    """Presets from WindowCenter/WindowWidth (multi-valued, with explanations) + modality defaults."""
    presets: list[WindowPreset] = []
    sources = [ds]
    item = _fg_item(ds, 0, "FrameVOILUTSequence")
    if item is not None:
        sources.insert(0, item)
    for src in sources:
        centers, widths = src.get("WindowCenter"), src.get("WindowWidth")
        if centers is None or widths is None:
            continue
        centers = list(centers) if _is_multi(centers) else [centers]
        widths = list(widths) if _is_multi(widths) else [widths]
        names = src.get("WindowCenterWidthExplanation")
        names = (list(names) if _is_multi(names) else [names]) if names is not None else []
        for i, (c, w) in enumerate(zip(centers, widths)):
            try:
                c, w = float(c), float(w)
            except (TypeError, ValueError):
                continue
            if not (np.isfinite(c) and np.isfinite(w)) or w <= 0:
                continue
            if native.mono1_reflect is not None:
                c = native.mono1_reflect - c
            name = str(names[i]).strip() if i < len(names) and str(names[i]).strip() else f"File window {i + 1}"
            presets.append(WindowPreset(name, c, w))
        if presets:
            break
    if modality == "CT" and not native.colour:
        presets.extend(CT_DEFAULT_PRESETS)
    if native.colour:
        presets.append(WindowPreset("Full range", 127.5, 255.0))
    return presets


def _is_multi(value) -> bool:
    """A multi-valued element value (pydicom MultiValue or a list), not a str-like value.

    No import here: this runs for every header element, often on a worker
    thread, and every ``import`` statement there goes through PySide6's import
    hook (a hang was seen in CI with ``from pydicom.multival import MultiValue``
    at this spot while the GUI thread painted). pydicom's MultiValue is a
    MutableSequence.
    """
    return isinstance(value, (MutableSequence, tuple))


def units_for(ds, modality: str) -> str:
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        return ""
    rescale_type = str(ds.get("RescaleType", "") or "").strip()
    if modality == "CT" and rescale_type in ("", "HU"):
        return "HU"
    if modality == "PT" and ds.get("Units"):
        return str(ds.Units)
    return rescale_type if rescale_type and rescale_type != "US" else ""


def header_elements(ds, *, max_depth: int = 4) -> list[HeaderElement]:
    """The header as a flat list for a tag browser (file meta first, then the data set).

    Sequences are entered up to ``max_depth`` levels (``depth`` marks the level),
    binary values are summarised as their size, long values are truncated to
    160 characters. At most 4000 entries are listed; a last entry says how many
    more there were. PHI fields are marked, not removed.
    """
    out: list[HeaderElement] = []
    skipped = [0]
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for elem in meta:
            _add_element(out, skipped, elem, 0, False, max_depth)
    for elem in ds:
        _add_element(out, skipped, elem, 0, False, max_depth)
    if skipped[0]:
        out.append(HeaderElement("", "...", "", f"{skipped[0]} more element(s) not listed", False, 0))
    return out


def _add_element(out: list[HeaderElement], skipped: list[int], elem, depth: int, inherited_phi: bool,
                 max_depth: int) -> None:
    """One element (a sequence with its items, recursively) of :func:`header_elements`. A module
    function, not a closure: a recursive closure is a reference cycle that kept every file's header list
    alive until the next garbage collection (thousands of files' lists while the GUI's collector is
    paused during a job, then one long pause)."""
    if len(out) >= _MAX_HEADER_ELEMENTS:
        skipped[0] += 1
        return
    try:
        keyword = elem.keyword or ("Private" if elem.tag.is_private else "Unknown")
        vr = str(elem.VR)
        tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
        phi = inherited_phi or is_phi(elem.keyword or keyword, int(elem.tag))
        if vr == "SQ":
            items = elem.value or []
            out.append(HeaderElement(tag, keyword, vr, f"Sequence of {len(items)} item(s)", phi, depth))
            if depth + 1 > max_depth:
                return
            for i, item in enumerate(items):
                if len(out) >= _MAX_HEADER_ELEMENTS:
                    skipped[0] += 1
                    continue
                out.append(HeaderElement("", f"Item {i + 1}", "", "", phi, depth + 1))
                for sub in item:
                    _add_element(out, skipped, sub, depth + 2 if depth + 2 <= max_depth + 1 else depth + 1, phi,
                                 max_depth)
            return
        out.append(HeaderElement(tag, keyword, vr, _display_value(elem, vr), phi, depth))
    except Exception as exc:  # a damaged element: show it, do not fail the study
        out.append(HeaderElement("", "Unreadable element", "", _short(exc)[:80], True, depth))


def _display_value(elem, vr: str) -> str:
    if elem.tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):
        length = len(elem.value) if elem.value is not None else 0
        return f"<pixel data, {length} bytes>"
    value = elem.value
    if vr in _BINARY_VRS or isinstance(value, (bytes, bytearray)):
        size = len(value) if value is not None else 0
        return f"<binary, {size} bytes>"
    if value is None or value == "":
        return ""
    text = str(value) if not _is_multi(value) else "\\".join(str(v) for v in value)
    text = text.replace("\r", " ").replace("\n", " ")
    return text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS - 3] + "..."


# --------------------------------------------------------------------------- studies

def is_synthetic_demo(ds) -> bool:
    """True for MedAdv's own demo DICOM (its descriptions carry the "synthetic demo data" notice)."""
    for key in ("SeriesDescription", "ImageComments", "StudyDescription"):
        try:
            if "synthetic demo data" in str(ds.get(key, "") or "").lower():
                return True
        except Exception:
            continue
    return False


def _modality(ds) -> str:
    m = str(ds.get("Modality", "") or "").strip().upper()
    return m or "OT"


def _describe(modality: str, pixels: np.ndarray, extra: str = "") -> str:
    n = pixels.shape[0]
    rows, cols = pixels.shape[1], pixels.shape[2]
    colour = " RGB" if pixels.ndim == 4 else ""
    return f"{modality}{colour} {n} slice{'s' if n != 1 else ''} {rows}x{cols}{extra}"


def _pseudonym_for(ds, path: Path, *, instance: bool) -> str:
    study = str(ds.get("StudyInstanceUID", "") or "")
    series = str(ds.get("SeriesInstanceUID", "") or "")
    if study or series:
        parts = [study, series]
        if instance:
            parts.append(str(ds.get("SOPInstanceUID", "") or path.name))
        return pseudonym(*parts)
    return pseudonym(str(Path(path).resolve()))


def _finite(pixels: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(pixels)):
        pixels = np.nan_to_num(pixels, nan=0.0, posinf=0.0, neginf=0.0)
    return pixels


def load_dicom_file(path: Path, ds=None, *, memory_budget: MemoryBudget | int | str | None = None) -> Study:
    """One DICOM file (single- or multi-frame) as a Study; raises StudyError subclasses.

    The header is read first and checked against the memory budget; the pixel
    data is read and decoded only when it fits.
    """
    budget = MemoryBudget.resolve(memory_budget)
    with warnings.catch_warnings():   # pydicom warnings may quote header values (PHI)
        warnings.simplefilter("ignore")
        return _load_dicom_file(Path(path), ds, budget)


def _load_dicom_file(path: Path, ds, budget: MemoryBudget) -> Study:
    if ds is None:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if 8 * size > budget.limit():      # a large file: check its header before reading its pixel data
            header = read_dataset(path, header_only=True)
            if not has_pixels(header):
                raise no_image_error(path, header)
            check_budget(header, path, budget)
            del header
        ds = read_dataset(path)
    if not has_pixels(ds):
        raise no_image_error(path, ds)
    check_budget(ds, path, budget)
    raw = decode_pixels(ds, path)
    pixels, native = _to_native(ds, raw, path)
    pixels = _finite(pixels)
    modality = _modality(ds)
    row_sp, col_sp = pixel_spacing(ds)
    n = pixels.shape[0]
    slice_sp = None
    if n > 1:
        slice_sp = _spacing_between(_frame_positions(ds, n))
    if slice_sp is None:
        slice_sp = _thickness(ds) or 1.0
    header = header_elements(ds)
    geometry = patient_geometry([ds], n)
    fields = viewer_fields(ds, modality)
    _drop_pixel_data(ds)
    native.datasets = [ds]
    return Study(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        spacing=(float(slice_sp), float(row_sp), float(col_sp)),
        modality=modality,
        source_format="dicom",
        source_paths=[path],
        presets=window_presets(ds, native, modality),
        units=units_for(ds, modality),
        description=_describe(modality, pixels, f", {n} frames" if n > 1 else ""),
        pseudonym=_pseudonym_for(ds, path, instance=True),
        header=header,
        orientation=orientation_labels(ds),
        synthetic=is_synthetic_demo(ds),
        native=native,
        geometry=geometry,
        **fields,
    )


def _frame_positions(ds, n: int) -> list[float] | None:
    m = orientation_cosines(ds, 0)
    if m is None:
        return None
    normal = np.cross(m[0], m[1])
    out = []
    for f in range(n):
        pos = image_position(ds, f)
        if pos is None:
            return None
        out.append(float(normal @ pos))
    return out


def _drop_pixel_data(ds) -> None:
    """Free the encoded pixel bytes; the writer encodes new ones."""
    for key in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if key in ds:
            del ds[key]
    try:
        ds._pixel_array = None  # pydicom's decoded cache
        ds._pixel_id = {}
    except Exception:
        pass


def load_dicom_series(paths: list[Path], headers: list | None = None, *,
                      memory_budget: MemoryBudget | int | str | None = None,
                      copies: dict[Path, list[tuple[Path, Any]]] | None = None,
                      ) -> tuple[Study | None, list[StudyError]]:
    """Single-frame files of one series -> one Study sorted along the slice normal.

    ``headers`` (header-only datasets, same order as ``paths``) are used for
    sorting; files whose pixels fail are returned as errors and the rest load.
    ``copies`` maps a file to other files holding the same instance (same SOP
    Instance UID): when the file does not decode, its first copy that does is
    used instead, and the copies not used are listed as skipped. The whole
    series is checked against the memory budget before any pixel is decoded.
    """
    with warnings.catch_warnings():   # pydicom warnings may quote header values (PHI)
        warnings.simplefilter("ignore")
        return _load_dicom_series([Path(p) for p in paths], headers, MemoryBudget.resolve(memory_budget),
                                  {Path(k): v for k, v in (copies or {}).items()})


def _decode_slice(p: Path, first_shape: tuple | None):
    ds = read_dataset(p)
    if not has_pixels(ds):
        raise no_image_error(p, ds)
    raw = decode_pixels(ds, p)
    pix, nat = _to_native(ds, raw, p)
    if first_shape is not None and pix.shape[1:] != first_shape:
        raise UnsupportedStudyError(p, "its image size differs from the rest of its series")
    return ds, pix, nat


def _series_budget(paths: list[Path], headers: list, budget: MemoryBudget) -> None:
    """Slices are decoded one at a time (raw bytes of the largest) into float32 slices of the whole."""
    raw = values = 0
    size = ""
    for p, h in zip(paths, headers):
        try:
            image = declared_image(h, p)
        except StudyError:
            continue                      # refused on its own when it is decoded
        raw, values = max(raw, image.raw_bytes), values + image.output_values
        size = size or f" ({image.columns} x {image.rows} pixels each)"
    budget.check(paths[0], raw_bytes=raw, values=values, what=f"its series of {len(paths)} files{size}")


def _load_dicom_series(paths: list[Path], headers: list | None, budget: MemoryBudget,
                       copies: dict[Path, list[tuple[Path, Any]]]) -> tuple[Study | None, list[StudyError]]:
    from medadv_desktop.engine.io.reader import as_study_error

    failures: list[StudyError] = []
    if headers is None:
        headers = [read_dataset(p, header_only=True) for p in paths]
    try:
        _series_budget(paths, headers, budget)
    except StudyError as exc:
        others = [c for p in paths for c, _ in copies.get(p, [])]
        return None, [type(exc)(p, exc.reason, hint=exc.hint) for p in [*paths, *others]]
    order = sort_slices(headers)
    paths = [paths[i] for i in order]
    headers = [headers[i] for i in order]
    slices: list[np.ndarray] = []
    natives: list[DicomNative] = []
    datasets = []
    kept_paths: list[Path] = []
    kept_headers = []
    for p, h in zip(paths, headers):
        candidates = [(p, h), *copies.get(p, [])]
        errors: list[StudyError] = []
        used = None
        for index, (cp, ch) in enumerate(candidates):
            try:
                ds, pix, nat = _decode_slice(cp, slices[0].shape[1:] if slices else None)
            except Exception as exc:      # per-file isolation (StudyError or anything else)
                errors.append(as_study_error(cp, exc))
                continue
            used = (index, cp, ch, ds, pix, nat)
            break
        if used is None:
            failures.extend(errors)
            continue
        index, cp, ch, ds, pix, nat = used
        for damaged in errors:            # damaged copies of an instance that did load
            failures.append(type(damaged)(damaged.path,
                                          f"{damaged.reason}; its intact copy '{cp.name}' was loaded instead"))
        for other, _ in candidates[index + 1:]:
            failures.append(UnsupportedStudyError(
                other, f"it is a copy of '{cp.name}' (same SOP Instance UID); skipped"))
        slices.append(pix)
        natives.append(nat)
        datasets.append(ds)
        kept_paths.append(cp)
        kept_headers.append(ch)
    if not slices:
        return None, failures
    pixels = _finite(np.concatenate(slices, axis=0))
    first = datasets[0]
    modality = _modality(first)
    row_sp, col_sp = pixel_spacing(first)
    slice_sp = _spacing_between(slice_positions(kept_headers)) if len(kept_headers) > 1 else None
    if slice_sp is None:
        slice_sp = _thickness(first) or 1.0
    native = DicomNative(
        datasets=datasets, frames_per_dataset=1,
        frame_rescale=[r for nat in natives for r in nat.frame_rescale],
        modality_lut=natives[0].modality_lut, mono1_reflect=natives[0].mono1_reflect,
        colour=natives[0].colour, float_pixels=natives[0].float_pixels)
    header = header_elements(first)
    geometry = patient_geometry(kept_headers) if len(kept_headers) > 1 else patient_geometry([first])
    fields = viewer_fields(first, modality)
    for ds in datasets:
        _drop_pixel_data(ds)
    return Study(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        spacing=(float(slice_sp), float(row_sp), float(col_sp)),
        modality=modality,
        source_format="dicom",
        source_paths=kept_paths,
        presets=window_presets(first, native, modality),
        units=units_for(first, modality),
        description=_describe(modality, pixels, ", series"),
        pseudonym=_pseudonym_for(first, kept_paths[0], instance=len(kept_paths) == 1),
        header=header,
        orientation=orientation_labels(first),
        synthetic=is_synthetic_demo(first),
        native=native,
        geometry=geometry,
        **fields,
    ), failures


def _int_or_none(ds, keyword: str):
    try:
        return int(ds.get(keyword))
    except Exception:
        return None


def series_key(ds) -> tuple:
    """Grouping key for folder loading: series UID plus image geometry (never raises)."""
    try:
        uid = str(ds.get("SeriesInstanceUID", "") or "")
    except Exception:
        uid = ""
    return (uid, _int_or_none(ds, "Rows"), _int_or_none(ds, "Columns"), _int_or_none(ds, "SamplesPerPixel"))


def iter_series_groups(items: Iterable[tuple[Path, Any]]) -> list[list[tuple[Path, Any]]]:
    """Group (path, header) pairs by :func:`series_key`, keeping first-seen order."""
    groups: dict[tuple, list[tuple[Path, Any]]] = {}
    for path, ds in items:
        groups.setdefault(series_key(ds), []).append((path, ds))
    return list(groups.values())
