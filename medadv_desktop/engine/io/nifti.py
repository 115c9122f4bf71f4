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
For 4-D volumes ``volume_index`` picks the volume along the 4th axis.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medadv_desktop.engine.io.budget import MemoryBudget
from medadv_desktop.engine.io.deid import is_phi, pseudonym
from medadv_desktop.engine.io.study import HeaderElement, Study
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
                memory_budget: MemoryBudget | int | str | None = None) -> Study:
    """A nibabel-readable volume as a Study in the display convention above.

    The header's dimensions and data type are checked against the memory budget
    before any voxel is read (a small .nii.gz can declare a huge volume).
    """
    budget = MemoryBudget.resolve(memory_budget)
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
        _check_budget(img, shape, path, budget)
        try:
            if len(img.shape) >= 4:
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
    while data.ndim < 3:
        data = data[..., None]
    affine = np.asarray(img.affine, dtype=np.float64)
    canonical, canonical_affine = to_canonical(data, affine)
    pixels = canonical_to_display(canonical)
    n_bad = int(np.size(pixels) - np.count_nonzero(np.isfinite(pixels)))
    if n_bad:
        pixels = np.nan_to_num(pixels, nan=0.0, posinf=0.0, neginf=0.0)
    zooms = np.sqrt((canonical_affine[:3, :3] ** 2).sum(axis=0))
    zooms = [float(z) if np.isfinite(z) and z > 0 else 1.0 for z in zooms]
    header = header_elements(img)
    modality = _modality(img)
    n = pixels.shape[0]
    extra = f", volume {v + 1} of {n_volumes}" if n_volumes > 1 else ""
    if n_bad:
        extra += f", {n_bad} non-finite voxels set to 0"
    return Study(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        spacing=(zooms[2], zooms[1], zooms[0]),
        modality=modality,
        source_format="nifti",
        source_paths=[path],
        presets=[],
        units="HU" if modality == "CT" else "",
        description=f"{modality} {n} slice{'s' if n != 1 else ''} {pixels.shape[1]}x{pixels.shape[2]}{extra}",
        pseudonym=pseudonym(str(path.resolve())),
        header=header,
        orientation=NIFTI_LABELS,
        native=NiftiNative(source_affine=affine, canonical_affine=canonical_affine,
                           source_header=img.header, volume_index=v, n_volumes=n_volumes,
                           canonical_shape=tuple(int(s) for s in canonical.shape)),
    )


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
    """(I, J, K) RAS+ array -> (K, rows, cols) with anterior at top, patient right at left."""
    return np.transpose(data, (2, 1, 0))[:, ::-1, ::-1]


def display_to_canonical(pixels: np.ndarray) -> np.ndarray:
    """Inverse of :func:`canonical_to_display`."""
    return np.transpose(pixels[:, ::-1, ::-1], (2, 1, 0))


def _modality(img) -> str:
    """"CT" when the description says so, "OT" for statistical maps, else "MR"."""
    hdr = img.header
    try:
        descrip = bytes(np.asarray(hdr["descrip"]).item()).decode("latin-1").upper()
    except Exception:
        descrip = ""
    if " CT" in f" {descrip}" or descrip.startswith("CT"):
        return "CT"
    try:
        intent = int(np.asarray(hdr["intent_code"]).item())
    except Exception:
        intent = 0
    return "OT" if intent else "MR"


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
