"""The bundled demo study: a small synthetic CT *series* the GUI opens on start.

``write_demo_study(out_dir)`` writes ``resources/demo_study/``: 14 axial
64x64 slices (one SeriesInstanceUID, ImagePositionPatient stepping 5 mm along
the slice normal) cut from consecutive, overlapping regions of the real head
CT ``693_UNCR.dcm`` (pydicom-data): slice ``k`` is the crop whose top-left
corner is ``(row0 + 4 k, col0)`` px, so scrolling moves through the head.
Two synthetic spherical findings are inserted in source-image coordinates
(so they move with the anatomy): a hyperdense one over slices 2-6 and a
hypodense one over slices 9-11; the in-plane radius on slice ``k`` is
``R * sqrt(1 - ((k - k_c) / h)^2)``. A slice is labelled "lesion" when its
in-plane radius is at least 4 px (the smallest finding of the training data).

``labels.csv`` beside the slices gives the ground truth per slice. Everything
says "synthetic demo task, not for clinical use".
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medadv_desktop.engine.demo.dataset import staged_output_dir
from medadv_desktop.engine.demo.dicom_writer import (
    SliceGeometry, ct_slice_dataset, dataset_bytes, demo_uid,
)
from medadv_desktop.engine.demo.sources import HU_MAX, HU_MIN, load_source_scans
from medadv_desktop.engine.demo.synthesis import (
    LESION_MARGIN, LESION_RADIUS_PX, PATCH_SIZE, SPLIT_IDS, Lesion, insert_lesion, source_indices,
)
from medadv_desktop.errors import DatasetError

STUDY_SOURCE = "693_UNCR.dcm"
N_SLICES = 14
SLICE_SPACING_MM = 5.0
ROW0, COL0, ROW_STEP = 150, 300, 4
STUDY_DESCRIPTION = "MedAdv synthetic demo data (demo study) - not for clinical use"


@dataclass(frozen=True)
class SphericalFinding:
    """A synthetic finding spanning slices ``k_center - half_extent`` .. ``+ half_extent``.

    ``center_rc``: (row, col) in source-image pixels; ``radius_px``: in-plane
    radius on the central slice; ``delta_hu``: contrast to local tissue.
    """

    k_center: int
    half_extent: float          # slices from the centre to where the radius reaches 0
    center_rc: tuple[float, float]
    radius_px: float
    delta_hu: float

    def radius_on(self, k: int) -> float:
        t = (k - self.k_center) / self.half_extent
        return float(self.radius_px * np.sqrt(1.0 - t * t)) if abs(t) < 1 else 0.0


FINDINGS: tuple[SphericalFinding, ...] = (
    SphericalFinding(k_center=4, half_extent=3.0, center_rc=(198.0, 330.0), radius_px=8.0, delta_hu=65.0),
    SphericalFinding(k_center=10, half_extent=2.0, center_rc=(222.0, 316.0), radius_px=7.0, delta_hu=-60.0),
)


@dataclass
class DemoStudySlice:
    path: str                   # relative to the study folder
    instance_number: int
    slice_index: int            # 0-based position along the slice normal
    label: str                  # "no_finding" | "lesion"
    lesion_radius_px: float     # in-plane radius of the finding on this slice (0 if none)
    lesion_delta_hu: float


@dataclass
class DemoStudyInfo:
    out_dir: Path
    seed: int
    slices: list[DemoStudySlice] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.slices]


def demo_study_slices(seed: int = 0) -> list[tuple[np.ndarray, DemoStudySlice, tuple[int, int]]]:
    """The slices as (int16 HU (64, 64), ground truth, crop top-left) in slice order."""
    scans = {s.name: s for s in load_source_scans()}
    index = {ix.scan.name: ix for ix in source_indices()}[STUDY_SOURCE]
    hu = scans[STUDY_SOURCE].hu
    p = PATCH_SIZE
    out = []
    for k in range(N_SLICES):
        r0, c0 = ROW0 + ROW_STEP * k, COL0
        patch = hu[r0:r0 + p, c0:c0 + p].astype(np.float32)
        radius, delta = 0.0, 0.0
        for j, f in enumerate(FINDINGS):
            rk = f.radius_on(k)
            if rk <= 0.5:
                continue
            rc = (f.center_rc[0] - r0, f.center_rc[1] - c0)
            inside = LESION_MARGIN <= rc[0] <= p - LESION_MARGIN and LESION_MARGIN <= rc[1] <= p - LESION_MARGIN
            if not inside or not index.lesion_ok[int(f.center_rc[0]), int(f.center_rc[1])]:
                raise DatasetError("demo study finding does not sit on soft tissue inside the slice")
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_IDS["study"], j, k]))
            patch, _ = insert_lesion(patch, Lesion(rc, (rk, rk), 0.0, f.delta_hu), rng)
            radius, delta = max(radius, rk), f.delta_hu if rk >= radius else delta
        label = "lesion" if radius >= LESION_RADIUS_PX[0] else "no_finding"
        pixels = np.clip(np.rint(patch), HU_MIN, HU_MAX).astype(np.int16)
        info = DemoStudySlice(path=f"slice_{k + 1:03d}.dcm", instance_number=k + 1, slice_index=k,
                              label=label, lesion_radius_px=round(radius, 2), lesion_delta_hu=delta)
        out.append((pixels, info, (r0, c0)))
    return out


def write_demo_study(out_dir: str | Path, *, seed: int = 0) -> DemoStudyInfo:
    """Write the demo CT series (DICOM) plus ``labels.csv`` into a new or empty folder.

    No README is written into the folder: every file there except labels.csv
    is a slice, so the study reader lists nothing else as unreadable.
    """
    out_dir = Path(out_dir)
    scan = {s.name: s for s in load_source_scans()}[STUDY_SOURCE]
    ps = scan.pixel_spacing
    info = DemoStudyInfo(out_dir=out_dir, seed=int(seed))
    study_uid, series_uid = demo_uid(seed, "study", "study"), demo_uid(seed, "study", "series")
    frame_uid = demo_uid(seed, "study", "frame")
    with staged_output_dir(out_dir) as stage:
        for pixels, sl, (r0, c0) in demo_study_slices(seed):
            geometry = SliceGeometry(pixel_spacing=ps, slice_thickness=SLICE_SPACING_MM,
                                     position_mm=(c0 * ps[1], r0 * ps[0], sl.slice_index * SLICE_SPACING_MM))
            ds = ct_slice_dataset(pixels, study_uid=study_uid, series_uid=series_uid,
                                  sop_uid=demo_uid(seed, "study", "sop", sl.slice_index), frame_uid=frame_uid,
                                  geometry=geometry, instance_number=sl.instance_number,
                                  series_description=STUDY_DESCRIPTION)
            (stage / sl.path).write_bytes(dataset_bytes(ds))
            info.slices.append(sl)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(("path", "label", "slice_index", "instance_number", "lesion_radius_px", "lesion_delta_hu"))
        for s in info.slices:
            w.writerow((s.path, s.label, s.slice_index, s.instance_number, f"{s.lesion_radius_px:g}",
                        f"{s.lesion_delta_hu:g}"))
        (stage / "labels.csv").write_text(buf.getvalue(), encoding="utf-8")
    return info
