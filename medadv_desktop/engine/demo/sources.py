"""The real CT scans the synthetic demo data are cut from.

Only pixels (in HU) and the pixel spacing are taken from these files; no other
header field is ever copied, so nothing identifying can leak into the demo data.

Sources (all ship offline inside pip packages):

* ``693_UNCR.dcm`` (pydicom-data): 512x512 head CT.
* ``J2K_pixelrep_mismatch.dcm`` (pydicom-data, JPEG 2000): 512x512 head CT at
  skull-base level.
* ``bad_sequence.dcm`` (pydicom-data, JPEG Lossless): 512x512 neck/spine CT.
* ``CT_small.dcm`` (pydicom): 128x128 vertebra CT.

Deliberately *not* used:

* ``eCT_Supplemental.dcm``: despite its CT modality it holds a regional
  cerebral blood flow map (ml/100ml/s), not HU anatomy.
* ``explicit_VR-UN.dcm`` (contrast-enhanced abdominal CT): its enhancing
  vessels and bowel loops are natural round findings of 50-100 HU contrast,
  so "no_finding" patches from it are genuinely ambiguous (a first demo model
  called 75 % of them "lesion").
* ``693_UNCI.dcm``: the same slice as ``693_UNCR.dcm`` after lossy JPEG 2000
  compression at 339:1 (LossyImageCompression 01, "lossy conversion"). Its
  block artifacts form dark, round blobs in normal tissue that look like small
  hypodense findings: after FGSM fine-tuning at 2/255 the demo model called
  30 of 37 held-out "no_finding" patches from it "lesion" (1 of 39 from the
  lossless original), and it adds no anatomy of its own.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np

from medadv_desktop.errors import DatasetError

#: (file name, package) in a fixed order: the order is part of the seed contract.
SOURCE_FILES: tuple[tuple[str, str], ...] = (
    ("693_UNCR.dcm", "pydicom-data"),
    ("J2K_pixelrep_mismatch.dcm", "pydicom-data"),
    ("bad_sequence.dcm", "pydicom-data"),
    ("CT_small.dcm", "pydicom"),
)

#: HU range every source is clipped to (air .. dense bone / metal).
HU_MIN, HU_MAX = -1024.0, 3071.0


@dataclass(frozen=True)
class SourceScan:
    """One real CT slice in Hounsfield units.

    ``hu``: (rows, cols) float32, HU after the Modality LUT, clipped to
    [-1024, 3071]. ``pixel_spacing``: (row, col) spacing in mm.
    """

    name: str
    package: str
    hu: np.ndarray
    pixel_spacing: tuple[float, float]

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.hu.shape[0]), int(self.hu.shape[1])


def _read_source(name: str, package: str) -> SourceScan:
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_rescale

    try:
        path = get_testdata_file(name, download=False)
    except TypeError:  # older signature without ``download``
        path = get_testdata_file(name)
    if path is None:
        raise DatasetError(
            f"The real CT scan '{name}' from the '{package}' package is not installed; "
            "the demo data set is cut from it.",
            hint=f"Install it with 'pip install {package}' (./quickstart.sh setup does this).")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        raw = ds.pixel_array
        hu = apply_rescale(raw.astype(np.float64), ds)
    if hu.ndim != 2:
        hu = hu[0]
    spacing = ds.get("PixelSpacing") or [1.0, 1.0]
    return SourceScan(
        name=name, package=package,
        hu=np.clip(hu, HU_MIN, HU_MAX).astype(np.float32),
        pixel_spacing=(float(spacing[0]), float(spacing[1])),
    )


@functools.lru_cache(maxsize=1)
def load_source_scans() -> tuple[SourceScan, ...]:
    """All source scans, read once per process (a few hundred ms)."""
    return tuple(_read_source(name, pkg) for name, pkg in SOURCE_FILES)
