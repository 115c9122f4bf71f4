"""The :class:`Study`: pixels in their own units plus de-identified metadata.

Besides the pixels, a study carries what a radiology viewer shows and measures
with (filled by the readers, see :mod:`.dicom`, :mod:`.nifti`, :mod:`.raster`):

* **geometry** (:class:`PatientGeometry`): where every pixel sits in the
  patient, in mm. DICOM: LPS patient coordinates from ImagePositionPatient /
  ImageOrientationPatient (+x towards the patient's left, +y posterior, +z
  head). NIfTI: the file's own RAS+ world coordinates from its affine (+x
  right, +y anterior, +z superior; what nibabel, FSL and 3D Slicer show), so
  a position typed into another NIfTI tool matches; ``frame="LPS"`` converts
  (x, y negated). Slice positions are mm along the slice normal.
* **display fields** (:meth:`Study.display_info`): modality, series
  description, study date, body part, pseudonym, slices and volumes, for a
  corner overlay and the study list. De-identified by default: the study date
  is shown as its **year only** (HIPAA Safe Harbor keeps years; the day places
  a patient in time), the full date only with ``show_phi=True``; free-text
  descriptions are cut to 64 characters with runs of 6+ digits (IDs, dates)
  masked.
* **modality evidence** (:class:`ModalityEvidence`): where the modality came
  from (the DICOM header, NIfTI data and header cues, or the user) with a
  confidence.
* **burned-in annotation** flag and its reason (:func:`burned_in_annotation`).
* **volumes**: a 4-D NIfTI keeps every volume (``n_volumes``, ``volume(i)``).
* **default slice**: where a viewer opens (a labelled finding, else the middle).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medadv_desktop.errors import MedAdvError


@dataclass(frozen=True)
class WindowPreset:
    """A display window in the study's native units (HU for CT)."""

    name: str
    center: float
    width: float

    @property
    def low(self) -> float:
        return self.center - self.width / 2

    @property
    def high(self) -> float:
        return self.center + self.width / 2


#: Default CT windows (name, centre HU, width HU), for every study in HU.
CT_DEFAULT_PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset("Soft tissue", 40.0, 400.0),
    WindowPreset("Brain", 40.0, 80.0),
    WindowPreset("Lung", -600.0, 1500.0),
    WindowPreset("Bone", 480.0, 2500.0),
)


@dataclass(frozen=True)
class HeaderElement:
    """One header entry for the tag browser. ``is_phi`` marks identifying fields."""

    tag: str          # "(0010,0010)" for DICOM, field name for NIfTI
    keyword: str      # "PatientName"
    vr: str           # DICOM VR, or "" for other formats
    value: str        # display text (truncated for long values)
    is_phi: bool = False
    depth: int = 0    # nesting level inside sequences


# --------------------------------------------------------------------------- modality

#: DICOM Modality codes (PS3.3 C.7.3.1.1.1, the image-producing ones) MedAdv accepts from a user.
MODALITY_CODES: frozenset[str] = frozenset({
    "CT", "MR", "PT", "NM", "US", "CR", "DX", "MG", "IO", "PX", "RF", "XA", "RG", "OT", "SC", "XC", "ES",
    "OP", "OPT", "SM", "GM", "TG", "BI", "DG", "LS", "OCT", "IVUS", "IVOCT", "BMD", "EPS", "HC", "TM",
})
#: Spellings users type for a code.
MODALITY_ALIASES = {"MRI": "MR", "PET": "PT", "SPECT": "NM", "ULTRASOUND": "US", "XR": "DX", "XRAY": "DX",
                    "X-RAY": "DX", "MAMMO": "MG"}


def normalize_modality(value: str, *, what: str = "Modality") -> str:
    """``"ct"`` -> ``"CT"``, ``"MRI"`` -> ``"MR"``; a :class:`MedAdvError` for anything else."""
    text = str(value or "").strip().upper()
    text = MODALITY_ALIASES.get(text, text)
    if text not in MODALITY_CODES:
        raise MedAdvError(f"{what} '{str(value)[:20]}' is not a DICOM modality code",
                          hint="Use a code such as CT, MR, PT, US, CR, DX, MG or OT.")
    return text


@dataclass(frozen=True)
class ModalityEvidence:
    """Where a study's modality came from and how sure MedAdv is.

    ``source``: ``"header"`` (the DICOM Modality element), ``"user"`` (set on
    open, e.g. ``--modality CT``), ``"data"`` (NIfTI: inferred from the
    intensities and header fields, see :func:`medadv_desktop.engine.io.nifti.infer_modality`)
    or ``"default"`` (nothing decided it). ``confidence`` in [0, 1]: 1 for the
    header and the user; inferred values as documented in the NIfTI reader
    (>= 0.8 high, >= 0.5 medium, below that low). ``reasons``: short phrases, never PHI.
    """

    modality: str
    source: str = "header"
    confidence: float = 1.0
    reasons: tuple[str, ...] = ()

    @property
    def level(self) -> str:
        return "high" if self.confidence >= 0.8 else "medium" if self.confidence >= 0.5 else "low"

    def describe(self) -> str:
        """One line: ``"CT (inferred from the data, high confidence: air at -1000 HU, ...)"``."""
        how = {"header": "from the file header", "user": "set by the user",
               "data": "inferred from the data", "default": "assumed"}.get(self.source, self.source)
        conf = "" if self.source in ("header", "user") else f", {self.level} confidence {self.confidence:.2f}"
        why = f": {'; '.join(self.reasons)}" if self.reasons and self.source not in ("header", "user") else ""
        return f"{self.modality} ({how}{conf}{why})"


# --------------------------------------------------------------------------- burned-in annotation

#: Modalities whose images often carry burned-in text (ultrasound, secondary captures,
#: photographs, endoscopy) unless the file says BurnedInAnnotation = NO.
BURNED_IN_MODALITIES = ("US", "OT", "SC", "XC", "ES")


def burned_in_annotation(modality: str, burned_in: str | None = None, recognizable: str | None = None,
                         *, secondary_capture: bool = False, source_format: str = "dicom",
                         colour: bool = False) -> tuple[bool, str]:
    """(flag, reason): may the pixels carry burned-in text or a recognisable face?

    * BurnedInAnnotation = YES, or RecognizableVisualFeatures = YES: flagged;
    * BurnedInAnnotation = NO (and no recognisable features): not flagged;
    * otherwise flagged for ultrasound, secondary captures (Secondary Capture
      SOP classes, modality OT/SC), external-camera photographs (XC) and
      endoscopy (ES), and for colour PNG/JPEG/TIFF files (``colour``: screen
      captures and exported ultrasound frames, which carry no statement at all);
    * else not flagged: greyscale PNG/JPEG/TIFF files (exported radiographs
      and CT/MR slices, what image data sets are made of) included.
    """
    b = str(burned_in or "").strip().upper()
    r = str(recognizable or "").strip().upper()
    if r == "YES":
        return True, "RecognizableVisualFeatures = YES (the image may show a recognisable face or feature)"
    if b == "YES":
        return True, "BurnedInAnnotation = YES (text is burned into the pixels)"
    if b == "NO":
        return False, "BurnedInAnnotation = NO"
    if source_format == "image":
        if colour:
            return True, ("a colour PNG/JPEG/TIFF file says nothing about burned-in text; screen captures "
                          "and exported ultrasound frames often carry it")
        return False, ""
    m = str(modality or "").strip().upper()
    if m in BURNED_IN_MODALITIES or secondary_capture:
        kind = {"US": "an ultrasound image", "XC": "a photograph", "ES": "an endoscopy image"}.get(
            m, "a secondary capture")
        return True, (f"{kind} ({m or 'SC'}) without BurnedInAnnotation = NO: such images often carry "
                      "burned-in text (names, dates, institution)")
    return False, ""


# --------------------------------------------------------------------------- geometry

@dataclass(frozen=True, eq=False)
class PatientGeometry:
    """Where the pixels of a study sit in the patient (mm).

    ``frame``: ``"LPS"`` (DICOM patient coordinates) or ``"RAS"`` (NIfTI world).
    ``origins`` (S, 3): the centre of pixel (row 0, col 0) of every slice, in
    display (slice) order; ``row_direction``: unit vector along which the column
    index grows (display left to right); ``column_direction``: unit vector
    along which the row index grows (top to bottom); ``pixel_spacing``:
    (between rows, between columns) in mm; ``slice_thickness``: the nominal
    thickness the file states (DICOM SliceThickness; None when not stated).
    """

    frame: str
    origins: np.ndarray
    row_direction: np.ndarray
    column_direction: np.ndarray
    pixel_spacing: tuple[float, float]
    slice_thickness: float | None = None

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.row_direction, self.column_direction)
        norm = float(np.linalg.norm(n))
        return n / norm if norm > 0 else n

    @property
    def positions(self) -> np.ndarray:
        """(S,) mm of each slice along the slice normal (``normal . origin``, as DICOM sorts slices)."""
        return np.asarray(self.origins, dtype=np.float64) @ self.normal

    def patient_position(self, slice_index: float, row: float, col: float, *, frame: str | None = None
                         ) -> tuple[float, float, float]:
        """Patient coordinates (mm) of the pixel centre at (slice, row, col); fractions allowed.

        A fractional slice interpolates between neighbouring slice origins
        (clamped to the first and last). ``frame``: ``"LPS"`` or ``"RAS"`` to
        convert (default: the study's own frame).
        """
        origins = np.asarray(self.origins, dtype=np.float64)
        s = float(np.clip(slice_index, 0, len(origins) - 1))
        k = int(np.floor(s))
        t = s - k
        origin = origins[k] if t == 0 or k + 1 >= len(origins) else (1 - t) * origins[k] + t * origins[k + 1]
        p = origin + float(col) * self.pixel_spacing[1] * np.asarray(self.row_direction) \
            + float(row) * self.pixel_spacing[0] * np.asarray(self.column_direction)
        target = (frame or self.frame).upper()
        if target not in ("LPS", "RAS"):
            raise MedAdvError(f"'{frame}' is not a coordinate frame; use LPS or RAS")
        if target != self.frame:
            p = p * np.array([-1.0, -1.0, 1.0])
        return float(p[0]), float(p[1]), float(p[2])


@dataclass(frozen=True)
class VolumeAxis:
    """The 4th axis of a 4-D volume: ``n`` volumes, ``step`` between them in ``units``
    (``"s"``, ``"ms"``, ``"us"``, ``"Hz"``, ``"ppm"``, ``"rad/s"``; ``""`` unknown), as the header states."""

    n: int
    step: float | None = None
    units: str = ""

    @property
    def is_time(self) -> bool:
        return self.units in ("s", "ms", "us")

    def describe(self) -> str:
        kind = "time" if self.is_time else "volume"
        step = f", {self.step:g} {self.units} apart (as the header states)" if self.step and self.units else ""
        return f"{self.n} volumes along the {kind} axis{step}"


# --------------------------------------------------------------------------- display

_LONG_DIGITS = re.compile(r"\d{6,}")
MAX_DESCRIPTION = 64


def clean_description(text: str) -> str:
    """A free-text description fit for an overlay: one line, at most 64 characters, runs of
    6+ digits (IDs, dates) masked."""
    text = " ".join(str(text or "").replace("\x00", " ").split())
    text = _LONG_DIGITS.sub(lambda m: "#" * len(m.group(0)), text)
    return text if len(text) <= MAX_DESCRIPTION else text[:MAX_DESCRIPTION - 3] + "..."


def display_date(value: str, *, show_phi: bool = False) -> str:
    """A DICOM date (``YYYYMMDD`` or the old ``YYYY.MM.DD``) for display: the year only by
    default, ``YYYY-MM-DD`` with ``show_phi``; ``""`` when there is none or it is unreadable."""
    digits = re.sub(r"[^0-9]", "", str(value or ""))
    if len(digits) < 4 or not 1800 <= int(digits[:4]) <= 2200:
        return ""
    if not show_phi or len(digits) < 8:
        return digits[:4]
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"


@dataclass(frozen=True)
class DisplayInfo:
    """What a corner overlay and a study list show (see :meth:`Study.display_info`)."""

    pseudonym: str
    modality: str
    modality_note: str              # "" from the header; "inferred (high confidence)"; "set by the user"
    series_description: str         # cleaned (clean_description); "" when none or withheld
    study_date: str                 # year only unless show_phi ("2004" / "2004-08-26"); "" when unknown
    body_part: str
    n_slices: int
    n_volumes: int
    volume_index: int
    units: str
    synthetic: bool
    burned_in_annotation: bool
    burned_in_reason: str

    def title(self) -> str:
        """One line for a study list: ``"CT  5/5mm Plain  2004  HEAD  14 slices  STUDY-..."``."""
        parts = [self.modality, self.series_description, self.study_date, self.body_part,
                 f"{self.n_slices} slice{'s' if self.n_slices != 1 else ''}"
                 + (f" x {self.n_volumes} volumes" if self.n_volumes > 1 else ""), self.pseudonym]
        return "  ".join(p for p in parts if p)


@dataclass
class Study:
    """An opened image study.

    ``pixels`` has shape (slices, rows, cols) or (slices, rows, cols, channels)
    and holds float32 values in the study's native units after the Modality
    LUT (HU for CT; MONOCHROME1 already inverted so bright = dense).
    A 2-D image is one slice. ``spacing`` is (slice, row, col) in mm.
    For a 4-D volume ``pixels`` is volume ``volume_index`` of ``n_volumes``
    (:meth:`volume` gives another).
    """

    pixels: np.ndarray
    spacing: tuple[float, float, float]
    modality: str                      # DICOM modality ("CT", "MR", ...) or "OT"
    source_format: str                 # "dicom" | "nifti" | "image"
    source_paths: list[Path]
    presets: list[WindowPreset] = field(default_factory=list)
    units: str = ""                    # "HU" for CT, "" when unknown
    description: str = ""              # de-identified, e.g. "CT 3 slices 128x128"
    pseudonym: str = ""                # stable salted-hash name, safe to show/log
    header: list[HeaderElement] = field(default_factory=list)   # first slice / file
    orientation: tuple[str, str, str, str] | None = None  # labels (left, right, top, bottom)
    label: str | None = None           # class label when part of a labelled data set
    synthetic: bool = False            # True for MedAdv's synthetic demo data
    native: Any = field(default=None, repr=False)  # reader objects for writing outputs (pydicom datasets, nibabel image)
    # --- viewer metadata (see the module docstring)
    geometry: PatientGeometry | None = field(default=None, repr=False)   # None: the file does not place the pixels
    spacing_known: bool = True         # False: the file gives no pixel spacing (measures in pixels)
    series_description: str = ""       # as stored; shown through display_info() only
    body_part: str = ""                # DICOM BodyPartExamined, upper case ("" unknown)
    study_date: str = field(default="", repr=False)   # PHI (DICOM DA as stored): shown through display_info() only
    modality_evidence: ModalityEvidence | None = None
    burned_in_annotation: bool = False  # the pixels may carry burned-in text or a face
    burned_in_reason: str = ""
    default_slice: int | None = None   # where a viewer opens; None -> the middle slice
    default_slice_reason: str = ""
    volume_index: int = 0              # which volume of a 4-D study ``pixels`` is
    n_volumes: int = 1
    volume_axis: VolumeAxis | None = None
    all_volumes: np.ndarray | None = field(default=None, repr=False)   # (V, S, H, W) when they fit the budget

    def __post_init__(self) -> None:
        n = self.n_slices
        if self.default_slice is None or not 0 <= int(self.default_slice) < max(n, 1):
            self.default_slice = n // 2
            self.default_slice_reason = self.default_slice_reason or "middle slice"
        if self.geometry is not None and len(self.geometry.origins) != n:
            self.geometry = None          # e.g. a series of multi-frame files: positions do not map to slices
        if self.modality_evidence is None:
            self.modality_evidence = ModalityEvidence(self.modality, "header" if self.modality else "default",
                                                      1.0 if self.modality else 0.0)

    @property
    def n_slices(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def is_color(self) -> bool:
        return self.pixels.ndim == 4

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[3]) if self.pixels.ndim == 4 else 1

    @property
    def shape2d(self) -> tuple[int, int]:
        return int(self.pixels.shape[1]), int(self.pixels.shape[2])

    # ------------------------------------------------------------------ geometry
    @property
    def pixel_spacing(self) -> tuple[float, float]:
        """(between rows, between columns) in mm (1.0 each, in pixels, when not ``spacing_known``)."""
        return float(self.spacing[1]), float(self.spacing[2])

    @property
    def slice_thickness(self) -> float | None:
        """The nominal slice thickness the file states (mm), None when it does not."""
        return self.geometry.slice_thickness if self.geometry is not None else None

    @property
    def coordinate_frame(self) -> str | None:
        """``"LPS"`` (DICOM), ``"RAS"`` (NIfTI) or None when the pixels are not placed in the patient."""
        return self.geometry.frame if self.geometry is not None else None

    def slice_positions(self) -> np.ndarray | None:
        """(S,) mm of every slice along the slice normal, None when the file does not place them."""
        return self.geometry.positions if self.geometry is not None else None

    def slice_position(self, index: int) -> float | None:
        """mm of slice ``index`` along the slice normal (DICOM: normal . ImagePositionPatient)."""
        pos = self.slice_positions()
        return None if pos is None or not 0 <= index < len(pos) else float(pos[index])

    def patient_position(self, slice_index: float, row: float, col: float, *, frame: str | None = None
                         ) -> tuple[float, float, float] | None:
        """Patient coordinates (mm) of the pixel centre (slice, row, col) in ``coordinate_frame``
        (or ``frame``: ``"LPS"``/``"RAS"``); None when the file does not place the pixels."""
        if self.geometry is None:
            return None
        return self.geometry.patient_position(slice_index, row, col, frame=frame)

    # ------------------------------------------------------------------ volumes
    def volume(self, index: int) -> Study:
        """The same study showing volume ``index`` of a 4-D study (this study for its own index).

        Volumes held in memory (``all_volumes``) are shared, not copied; when
        the whole series did not fit the memory budget, the volume is read
        from the file again (only that volume is decoded).
        """
        index = int(index)
        if not 0 <= index < self.n_volumes:
            raise MedAdvError(f"volume {index} does not exist; the study has volumes 0 to {self.n_volumes - 1}")
        if index == self.volume_index:
            return self
        from medadv_desktop.engine.io.nifti import select_volume   # only NIfTI has volumes today

        return select_volume(self, index)

    # ------------------------------------------------------------------ display
    def display_info(self, *, show_phi: bool = False) -> DisplayInfo:
        """The fields of a corner overlay and a study list, de-identified unless ``show_phi``.

        The study date is its year only (full date with ``show_phi``). NIfTI
        descriptions (``descrip``, free text a scanner operator may have typed)
        are withheld unless ``show_phi``; DICOM series descriptions are shown
        cleaned (:func:`clean_description`).
        """
        ev = self.modality_evidence
        note = "" if ev is None or ev.source == "header" else (
            "set by the user" if ev.source == "user" else f"{'inferred' if ev.source == 'data' else 'assumed'}, "
                                                          f"{ev.level} confidence")
        description = self.series_description
        if self.source_format != "dicom" and not show_phi:
            description = ""
        return DisplayInfo(
            pseudonym=self.pseudonym, modality=self.modality, modality_note=note,
            series_description=clean_description(description) if not show_phi else " ".join(description.split()),
            study_date=display_date(self.study_date, show_phi=show_phi), body_part=self.body_part,
            n_slices=self.n_slices, n_volumes=self.n_volumes, volume_index=self.volume_index, units=self.units,
            synthetic=self.synthetic, burned_in_annotation=self.burned_in_annotation,
            burned_in_reason=self.burned_in_reason)

    def slice_chw(self, index: int) -> np.ndarray:
        """One slice as a (C, H, W) float32 array in native units."""
        s = self.pixels[index]
        if s.ndim == 2:
            return s[None].astype(np.float32, copy=False)
        return np.moveaxis(s, -1, 0).astype(np.float32, copy=False)

    def default_preset(self) -> WindowPreset:
        if self.presets:
            return self.presets[0]
        finite = self.pixels[np.isfinite(self.pixels)]
        lo, hi = (float(np.percentile(finite, 0.5)), float(np.percentile(finite, 99.5))) if finite.size else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        return WindowPreset("Auto", (lo + hi) / 2, hi - lo)

    def summary(self) -> dict[str, Any]:
        """De-identified summary: safe for logs, reports and the CLI."""
        ev = self.modality_evidence
        out: dict[str, Any] = {
            "study": self.pseudonym,
            "format": self.source_format,
            "modality": self.modality,
            "modality_source": ev.source if ev else "",
            "modality_confidence": round(float(ev.confidence), 3) if ev else None,
            "shape": list(self.pixels.shape),
            "spacing_mm": [round(float(s), 4) for s in self.spacing],
            "spacing_known": self.spacing_known,
            "slice_thickness_mm": self.slice_thickness,
            "coordinate_frame": self.coordinate_frame,
            "units": self.units,
            "presets": [{"name": p.name, "center": p.center, "width": p.width} for p in self.presets],
            "n_volumes": self.n_volumes,
            "volume_index": self.volume_index,
            "default_slice": self.default_slice,
            "burned_in_annotation": self.burned_in_annotation,
            "synthetic": self.synthetic,
        }
        if self.volume_axis is not None:
            out["volume_axis"] = {"n": self.volume_axis.n, "step": self.volume_axis.step,
                                  "units": self.volume_axis.units, "time": self.volume_axis.is_time}
        return out


def with_modality(study: Study, modality: str) -> Study:
    """``study`` with the modality a user set (``modality=`` on open): units and presets follow.

    Setting CT makes the units HU (and adds the CT presets) only when the
    values are calibrated (DICOM rescaled values, NIfTI voxels): a PNG called
    CT keeps unknown units, so the modality guard can say that its values are
    not HU.
    """
    code = normalize_modality(modality)
    evidence = ModalityEvidence(code, "user", 1.0, ("set on open",))
    units, presets = study.units, list(study.presets)
    calibrated = study.source_format in ("dicom", "nifti") and not study.is_color
    if code == "CT" and calibrated:
        units = "HU"
        presets += [p for p in CT_DEFAULT_PRESETS if p not in presets]
    elif code != "CT" and study.modality == "CT" and study.units == "HU":
        units = ""
        presets = [p for p in presets if p not in CT_DEFAULT_PRESETS]
    description = study.description
    if study.modality and description.startswith(study.modality):
        description = code + description[len(study.modality):]
    return dataclasses.replace(study, modality=code, modality_evidence=evidence, units=units, presets=presets,
                               description=description)


@dataclass
class LoadReport:
    """Result of opening a path: the studies that loaded and the files that did not."""

    studies: list[Study] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)  # (path, reason in words)
