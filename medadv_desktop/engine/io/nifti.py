"""NIfTI (and other nibabel volumes: Analyze, MGH, MINC-1, PAR/REC, AFNI) reading.

Display convention
------------------
The volume is reoriented to the closest canonical orientation RAS+ (array axis
i points to the patient's Right, j to Anterior, k to Superior; the same as
``nib.as_closest_canonical``) and then arranged as axial slices
``pixels[k, r, c] = data[I-1-c, J-1-r, k]`` with shape (slices, rows, cols):

* slices run along k from inferior to superior (like a DICOM axial series
  sorted along its normal);
* rows run from anterior (top of the display) to posterior (bottom);
* columns run from the patient's right (left edge of the display) to the
  patient's left (right edge): the standard radiological convention, as if
  looking up from the patient's feet.

So the orientation labels are (left, right, top, bottom) = ("R", "L", "A", "P")
and the spacing is (dk, dj, di) in mm, the column norms of the canonical affine.
Values are ``scl_slope * stored + scl_inter`` (nibabel applies the scaling).

Patient coordinates: the file's own RAS+ world (the affine's output), see
:class:`~medadv_desktop.engine.io.study.PatientGeometry`.

4-D volumes
-----------
Every volume along the 4th axis is kept (``Study.all_volumes``, shape
(V, slices, rows, cols), float32) when the whole series fits the memory
budget (:mod:`.budget`, checked from the header before any voxel is read);
``volume_index`` picks the one shown and attacked, ``Study.volume(i)`` another
(a view, no copy). When the series does not fit, only the chosen volume is
read and ``Study.volume(i)`` reads another from the file, so memory stays
bounded by one volume. ``Study.volume_axis`` says what the 4th axis is (its
step and units from ``pixdim[4]`` and ``xyzt_units``).

Modality
--------
NIfTI has no modality field. :func:`infer_modality` decides from the data and
the header (see there for the rules and confidences); ``modality=`` on open
overrides it. A CT volume gets units HU and the CT window presets.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medadv_desktop.engine.io.budget import MemoryBudget, need_bytes
from medadv_desktop.engine.io.deid import is_phi, pseudonym
from medadv_desktop.engine.io.study import (
    CT_DEFAULT_PRESETS, HeaderElement, ModalityEvidence, PatientGeometry, Study, VolumeAxis, normalize_modality,
)
from medadv_desktop.errors import CorruptStudyError, UnsupportedStudyError

#: Suffixes nibabel reads as volumes (lower case).
NIBABEL_SUFFIXES = (".nii", ".nii.gz", ".hdr", ".img", ".img.gz", ".hdr.gz", ".mgz", ".mgh",
                    ".mnc", ".par", ".rec", ".head", ".brik", ".brik.gz")

NIFTI_LABELS = ("R", "L", "A", "P")


@dataclass
class NiftiNative:
    """What the NIfTI writer needs: the source image and how pixels map to it.

    ``canonical_affine`` maps canonical (i, j, k) voxel indices to RAS mm;
    ``source_affine`` / ``source_header`` belong to the file as read.
    """

    source_affine: np.ndarray
    canonical_affine: np.ndarray
    source_header: Any
    volume_index: int
    n_volumes: int
    canonical_shape: tuple[int, ...]     # (i, j, k) voxels of the canonical volume


def has_nibabel_suffix(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in NIBABEL_SUFFIXES)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return text[:200]


def load_volume(path: Path, *, volume_index: int | None = None,
                memory_budget: MemoryBudget | int | str | None = None, modality: str | None = None) -> Study:
    """A nibabel-readable volume as a Study in the display convention above.

    The header's dimensions and data type are checked against the memory budget
    before any voxel is read (a small .nii.gz can declare a huge volume).
    ``modality``: the user's modality (e.g. ``"CT"``) instead of the inferred one.
    """
    budget = MemoryBudget.resolve(memory_budget)
    user_modality = normalize_modality(modality) if modality else None
    import nibabel as nib  # noqa: PLC0415  (lazy)
    from nibabel.filebasedimages import ImageFileError
    from nibabel.spatialimages import SpatialImage

    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise CorruptStudyError(path, "the file is empty (0 bytes)", hint="Copy the file again from its source.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = nib.load(str(path))
        except ImageFileError as exc:
            raise UnsupportedStudyError(path, f"it is not a volume format MedAdv reads ({_short(exc)})",
                                        hint="Open a .nii/.nii.gz volume, a DICOM file or series, or an image.") from None
        except FileNotFoundError as exc:
            raise _missing_pair(path, exc) from None
        except ImportError as exc:
            raise _missing_module(path, exc) from None
        except (EOFError, OSError) as exc:
            raise CorruptStudyError(path, f"the file ends before its header is complete ({_short(exc)})",
                                    hint="The file is truncated; copy it again from its source.") from None
        except Exception as exc:
            raise CorruptStudyError(path, f"its header cannot be read ({_short(exc)})",
                                    hint="The file is damaged or not what its name says.") from None
        if not isinstance(img, SpatialImage):
            kind = type(img).__name__.replace("Image", "")
            raise UnsupportedStudyError(
                path, f"it is a {kind} file (surface or connectivity data), not an image volume",
                hint="Open an image volume (.nii/.nii.gz) instead.")
        shape = tuple(int(s) for s in img.shape)
        while len(shape) > 4 and shape[-1] == 1:
            shape = shape[:-1]
        if len(shape) > 4:
            raise UnsupportedStudyError(path, f"it has {len(shape)} dimensions {shape}; MedAdv reads 2-D, 3-D and 4-D volumes")
        n_volumes = shape[3] if len(shape) == 4 else 1
        v = 0 if volume_index is None else int(volume_index)
        if not 0 <= v < n_volumes:
            raise UnsupportedStudyError(
                path, f"volume {v} was asked for but the file holds {n_volumes} volume(s) (0 to {n_volumes - 1})",
                hint="Pick a volume index in that range.")
        _check_budget(img, shape, path, budget)          # one volume must fit
        keep_all = n_volumes > 1 and _fits_all(img, shape, budget)
        try:
            if len(img.shape) >= 4 and keep_all:
                data = np.asarray(img.dataobj, dtype=np.float32).reshape(shape)      # (I, J, K, V)
            elif len(img.shape) >= 4:
                index = (slice(None),) * 3 + (v,) + (0,) * (len(img.shape) - 4)
                data = np.asarray(img.dataobj[index], dtype=np.float32)
            else:
                data = np.asarray(img.get_fdata(dtype=np.float32))
        except FileNotFoundError as exc:
            raise _missing_pair(path, exc) from None
        except ImportError as exc:
            raise _missing_module(path, exc) from None
        except (EOFError, ValueError, OSError) as exc:
            raise CorruptStudyError(path, f"the file ends before its voxel data is complete ({_short(exc)})",
                                    hint="The file is truncated; copy it again from its source.") from None
        except Exception as exc:
            raise UnsupportedStudyError(path, f"its voxel data cannot be read ({_short(exc)})") from None
    if np.iscomplexobj(data) or data.dtype.fields is not None:
        raise UnsupportedStudyError(path, "complex or RGB voxel types are not supported")
    if not keep_all:
        while data.ndim < 3:
            data = data[..., None]
    affine = np.asarray(img.affine, dtype=np.float64)
    canonical, canonical_affine = to_canonical(data, affine)
    canonical_shape = tuple(int(s) for s in canonical.shape[:3])
    if keep_all:
        volumes = np.ascontiguousarray(np.moveaxis(canonical_to_display(canonical), -1, 0), dtype=np.float32)
        del data, canonical
        n_bad = _zero_non_finite(volumes)
        pixels = volumes[v]
    else:
        volumes = None
        pixels = np.ascontiguousarray(canonical_to_display(canonical), dtype=np.float32)
        n_bad = _zero_non_finite(pixels)
    zooms = np.sqrt((canonical_affine[:3, :3] ** 2).sum(axis=0))
    zooms = [float(z) if np.isfinite(z) and z > 0 else 1.0 for z in zooms]
    header = header_elements(img)
    if user_modality:
        evidence = ModalityEvidence(user_modality, "user", 1.0, ("set on open",))
    else:
        evidence = infer_modality(img.header, pixels, n_volumes=n_volumes, axis_units=_time_units(img.header))
    modality = evidence.modality
    ct = modality == "CT"
    return Study(
        pixels=pixels,
        spacing=(zooms[2], zooms[1], zooms[0]),
        modality=modality,
        source_format="nifti",
        source_paths=[path],
        presets=list(CT_DEFAULT_PRESETS) if ct else [],
        units="HU" if ct else "",
        description=_description(modality, pixels, v, n_volumes, n_bad),
        pseudonym=pseudonym(str(path.resolve())),
        header=header,
        orientation=NIFTI_LABELS,
        native=NiftiNative(source_affine=affine, canonical_affine=canonical_affine,
                           source_header=img.header, volume_index=v, n_volumes=n_volumes,
                           canonical_shape=canonical_shape),
        geometry=nifti_geometry(canonical_affine, canonical_shape, zooms),
        series_description=_descrip(img.header),
        modality_evidence=evidence,
        volume_index=v,
        n_volumes=n_volumes,
        volume_axis=_volume_axis(img.header, n_volumes) if n_volumes > 1 else None,
        all_volumes=volumes,
    )


def _zero_non_finite(pixels: np.ndarray) -> int:
    """Set NaN/inf voxels to 0 in place; how many there were."""
    bad = ~np.isfinite(pixels)
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        pixels[bad] = 0.0
    return n_bad


def _description(modality: str, pixels: np.ndarray, v: int, n_volumes: int, n_bad: int = 0) -> str:
    n = pixels.shape[0]
    extra = f", volume {v + 1} of {n_volumes}" if n_volumes > 1 else ""
    if n_bad:
        extra += f", {n_bad} non-finite voxels set to 0"
    return f"{modality} {n} slice{'s' if n != 1 else ''} {pixels.shape[1]}x{pixels.shape[2]}{extra}"


def select_volume(study: Study, index: int) -> Study:
    """``study`` showing volume ``index`` (see :meth:`Study.volume`, which checks the index)."""
    import dataclasses

    native = study.native
    if study.all_volumes is not None:
        pixels = study.all_volumes[index]
        return dataclasses.replace(
            study, pixels=pixels, volume_index=index,
            description=_description(study.modality, pixels, index, study.n_volumes),
            native=dataclasses.replace(native, volume_index=index) if isinstance(native, NiftiNative) else native)
    ev = study.modality_evidence
    other = load_volume(study.source_paths[0], volume_index=index,
                        modality=study.modality if ev is not None and ev.source == "user" else None)
    return dataclasses.replace(other, default_slice=study.default_slice,
                               default_slice_reason=study.default_slice_reason, label=study.label)


def _fits_all(img, shape: tuple[int, ...], budget: MemoryBudget) -> bool:
    """Whether every volume of a 4-D file fits the memory budget at once (header only)."""
    try:
        itemsize = int(np.dtype(img.get_data_dtype()).itemsize)
    except Exception:
        itemsize = 8
    values = 1
    for s in shape:
        values *= int(s)
    return need_bytes(values * itemsize, values) <= budget.limit()


def nifti_geometry(canonical_affine: np.ndarray, canonical_shape: tuple[int, ...], zooms: list[float]
                   ) -> PatientGeometry | None:
    """RAS geometry of the display arrangement ``pixels[k, r, c] = canonical[I-1-c, J-1-r, k]``."""
    a = np.asarray(canonical_affine, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        return None
    i, j, k = (int(s) for s in canonical_shape[:3])
    cols, rows = a[:3, 0], a[:3, 1]
    if np.linalg.norm(cols) == 0 or np.linalg.norm(rows) == 0:
        return None
    origins = np.stack([a[:3, :3] @ np.array([i - 1, j - 1, kk], dtype=np.float64) + a[:3, 3] for kk in range(k)])
    return PatientGeometry(frame="RAS", origins=origins, row_direction=-cols / np.linalg.norm(cols),
                           column_direction=-rows / np.linalg.norm(rows),
                           pixel_spacing=(float(zooms[1]), float(zooms[0])), slice_thickness=None)


_TIME_UNITS = {"sec": "s", "msec": "ms", "usec": "us", "hz": "Hz", "ppm": "ppm", "rads": "rad/s"}


def _time_units(header) -> str:
    try:
        return _TIME_UNITS.get(str(header.get_xyzt_units()[1]).lower(), "")
    except Exception:
        return ""


def _volume_axis(header, n_volumes: int) -> VolumeAxis:
    try:
        zooms = header.get_zooms()
        step = float(zooms[3]) if len(zooms) > 3 and np.isfinite(zooms[3]) and zooms[3] > 0 else None
    except Exception:
        step = None
    return VolumeAxis(n=n_volumes, step=step, units=_time_units(header))


def _descrip(header) -> str:
    try:
        return bytes(np.asarray(header["descrip"]).item()).decode("latin-1", "replace").rstrip("\x00").strip()
    except Exception:
        return ""


def _check_budget(img, shape: tuple[int, ...], path: Path, budget: MemoryBudget) -> None:
    """Declared voxels of one volume x bytes per voxel against the memory budget."""
    if any(s < 0 for s in shape):
        raise CorruptStudyError(path, f"its header declares negative dimensions {shape}; the file is damaged")
    try:
        itemsize = int(np.dtype(img.get_data_dtype()).itemsize)
    except Exception:
        itemsize = 8
    spatial = shape[:3]
    voxels = 1
    for s in spatial:
        voxels *= int(s)
    dims = " x ".join(str(int(s)) for s in spatial) or "0"
    budget.check(path, raw_bytes=voxels * itemsize, values=voxels,
                 what=f"its {dims} volume ({8 * itemsize}-bit voxels)")


def _missing_pair(path: Path, exc: FileNotFoundError) -> CorruptStudyError:
    missing = Path(getattr(exc, "filename", "") or "").name or "its data file"
    return CorruptStudyError(path, f"the data file '{missing}' that belongs to this header is missing",
                             hint="Keep the header and image files of a pair side by side.")


def _missing_module(path: Path, exc: ImportError) -> UnsupportedStudyError:
    module = getattr(exc, "name", None) or "an optional package"
    return UnsupportedStudyError(path, f"reading this kind of file needs the Python package '{module}', "
                                       "which is not installed",
                                 hint=f"Install it (pip install {module}) or convert the file to NIfTI.")


def to_canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorient a 3-D array to the closest RAS+ orientation (as ``nib.as_closest_canonical``)."""
    from nibabel import orientations as ornts

    ornt = ornts.io_orientation(affine)
    if np.allclose(ornt, [[0, 1], [1, 1], [2, 1]]):
        return data, affine
    out = ornts.apply_orientation(data, ornt)
    return out, affine @ ornts.inv_ornt_aff(ornt, data.shape)


def from_canonical(data: np.ndarray, source_affine: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_canonical`: canonical array back to the source orientation."""
    from nibabel import orientations as ornts

    ornt = ornts.io_orientation(source_affine)
    if np.allclose(ornt, [[0, 1], [1, 1], [2, 1]]):
        return data
    back = ornts.ornt_transform(ornts.axcodes2ornt(("R", "A", "S")), ornt)
    return ornts.apply_orientation(data, back)


def canonical_to_display(data: np.ndarray) -> np.ndarray:
    """(I, J, K[, V]) RAS+ array -> (K, rows, cols[, V]) with anterior at top, patient right at left."""
    return np.transpose(data, (2, 1, 0, *range(3, data.ndim)))[:, ::-1, ::-1]


def display_to_canonical(pixels: np.ndarray) -> np.ndarray:
    """Inverse of :func:`canonical_to_display`."""
    return np.transpose(pixels[:, ::-1, ::-1], (2, 1, 0))


_CT_WORDS = frozenset({"CT", "HU", "CTA", "NCCT", "CECT", "HRCT", "CBCT"})
_MR_WORDS = frozenset({"MR", "MRI", "T1", "T2", "T1W", "T2W", "FLAIR", "DWI", "ADC", "BOLD", "EPI", "MPRAGE",
                       "SWI", "DTI", "TSE", "GRE", "STIR", "FMRI"})
_PT_WORDS = frozenset({"PET", "SUV", "FDG", "PIB"})
_SAMPLE = 1 << 20


def _words(text: str) -> set[str]:
    import re

    return set(re.findall(r"[A-Z0-9]+", text.upper()))


def infer_modality(header, data: np.ndarray, *, n_volumes: int = 1, axis_units: str = "") -> ModalityEvidence:
    """The modality of a NIfTI (or other nibabel) volume from its header and intensities.

    Cues (each a modality, a weight and a reason in words, never quoting free text):

    * ``intent_code`` other than 0: a statistical, label or vector map, not an
      image: ``OT`` (0.95), decided at once;
    * ``descrip`` naming the modality (CT, HU, CTA...; MR, T1, FLAIR, BOLD,
      dcm2niix's ``TE=``...; PET, SUV, FDG): 0.9;
    * ``scl_inter`` = -1024 (or -1000) with slope 1: the usual storage of CT
      numbers as unsigned values: CT 0.8;
    * ``cal_min`` at or below -500 with ``cal_max`` above 0 (a display range
      reaching into air in HU): CT 0.5;
    * the values (up to 1 M voxels sampled): at least 2 % of them within
      -1100..-900 (air in HU), at least 2 % within -150..150 (soft tissue), none
      below -3100 except one padding value and the 99.5th percentile at most
      4000: CT 0.85 (0.9 when bone, >= 300, is present too);
      non-negative values (0.5th percentile >= -50) with no such air: MR 0.45;
    * a time series (4-D with time units): MR 0.7 (fMRI, DWI, perfusion).

    The modality with the highest weight wins; its confidence is that weight
    plus 0.05 per further agreeing cue (at most 0.99), less half the weight of
    the strongest disagreeing cue. No cue: MR with confidence 0.3 (``source``
    ``"default"``). ``confidence`` >= 0.8 is shown as high, >= 0.5 medium.
    """
    hdr = header
    cues: list[tuple[str, float, str]] = []

    def field(key: str):
        try:
            return np.asarray(hdr[key]).item()
        except Exception:
            return None

    intent = field("intent_code")
    try:
        intent = int(intent) if intent is not None else 0
    except (TypeError, ValueError):
        intent = 0
    if intent:
        return ModalityEvidence("OT", "data", 0.95, (f"intent code {intent}: a statistical, label or vector map",))
    descrip = _descrip(hdr)
    if descrip:
        words = _words(descrip)
        if words & _CT_WORDS:
            cues.append(("CT", 0.9, "the header description names CT"))
        if words & _MR_WORDS or "TE=" in descrip.upper():
            cues.append(("MR", 0.9, "the header description names an MR sequence"))
        if words & _PT_WORDS:
            cues.append(("PT", 0.9, "the header description names PET"))
    try:
        slope, inter = hdr.get_slope_inter()
    except Exception:
        slope, inter = None, None
    if inter is not None and np.isfinite(inter) and (slope is None or not np.isfinite(slope) or abs(slope - 1) < 1e-6) \
            and (abs(inter + 1024) < 0.5 or abs(inter + 1000) < 0.5):
        cues.append(("CT", 0.8, f"stored values shifted by {inter:g} (scl_inter), the usual CT storage"))
    cal_min, cal_max = field("cal_min"), field("cal_max")
    try:
        if cal_min is not None and cal_max is not None and float(cal_min) <= -500 and float(cal_max) > 0:
            cues.append(("CT", 0.5, "its display range (cal_min) reaches into air in HU"))
    except (TypeError, ValueError):
        pass
    cues.extend(_data_cues(data))
    if n_volumes > 1 and axis_units in ("s", "ms", "us"):
        cues.append(("MR", 0.7, "a time series (4-D with time units), as functional or diffusion MR"))
    if not cues:
        return ModalityEvidence("MR", "default", 0.3, ("no CT, PET or map evidence; MR assumed",))
    best: dict[str, list[tuple[float, str]]] = {}
    for m, w, why in cues:
        best.setdefault(m, []).append((w, why))
    ranked = sorted(best.items(), key=lambda kv: -max(w for w, _ in kv[1]))
    modality, own = ranked[0]
    own.sort(key=lambda t: -t[0])
    confidence = min(0.99, own[0][0] + 0.05 * (len(own) - 1))
    reasons = [why for _, why in own]
    if len(ranked) > 1:
        other_m, other = ranked[1]
        w_other = max(w for w, _ in other)
        confidence = max(0.05, confidence - w_other / 2)
        reasons.append(f"but {other_m}: {max(other)[1]}")
    return ModalityEvidence(modality, "data", round(float(confidence), 3), tuple(reasons))


def _data_cues(data: np.ndarray) -> list[tuple[str, float, str]]:
    flat = np.asarray(data).reshape(-1)
    if flat.size > _SAMPLE:
        flat = flat[:: int(np.ceil(flat.size / _SAMPLE))]
    flat = flat[np.isfinite(flat)]
    if flat.size < 64:
        return []
    air = float(np.mean((flat >= -1100) & (flat <= -900)))
    soft = float(np.mean((flat >= -150) & (flat <= 150)))
    bone = float(np.mean(flat >= 300))
    low = flat[flat < -3100]
    padding_only = low.size == 0 or bool(np.all(low == low[0]))
    p_lo, p_hi = (float(v) for v in np.percentile(flat, [0.5, 99.5]))
    if air >= 0.02 and soft >= 0.02 and padding_only and p_hi <= 4000:
        weight = 0.9 if bone >= 0.001 else 0.85
        return [("CT", weight, f"{air:.0%} of voxels near -1000 (air in HU), {soft:.0%} at soft-tissue values")]
    if p_lo >= -50 and air < 0.02:
        return [("MR", 0.45, "non-negative intensities without air at -1000 HU")]
    return []


def header_elements(img) -> list[HeaderElement]:
    """Header fields (NIfTI/Analyze/MGH...) for the tag browser; free-text fields marked PHI."""
    out: list[HeaderElement] = []
    hdr = img.header
    keys = list(hdr.keys()) if hasattr(hdr, "keys") else []
    for key in keys:
        try:
            value = hdr[key]
            arr = np.asarray(value)
            if arr.dtype.kind == "S":
                text = bytes(arr.item()).decode("latin-1", "replace").rstrip("\x00")
            else:
                text = np.array2string(arr, precision=6, separator=" ", threshold=16) if arr.ndim else str(arr.item())
        except Exception as exc:
            text = f"<unreadable: {_short(exc)[:60]}>"
        if len(text) > 160:
            text = text[:157] + "..."
        out.append(HeaderElement(str(key), str(key), "", text, is_phi(str(key)), 0))
    out.append(HeaderElement("affine", "affine", "", np.array2string(np.asarray(img.affine), precision=4), False, 0))
    out.append(HeaderElement("format", "format", "", type(img).__name__, False, 0))
    return out
