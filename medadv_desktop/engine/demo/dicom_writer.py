"""Writes synthetic CT slices as real DICOM files (CT Image Storage).

Pixels are stored as signed 16-bit ``HU + 1024`` with RescaleSlope 1 and
RescaleIntercept -1024, so a reader that applies the Modality LUT gets HU.
The files carry no date, time or identifying information of any person:
PatientName ``SYNTHETIC^DEMO``, PatientID ``MEDADV-DEMO``, and UIDs derived
deterministically from the generator's seed, so the same seed gives
byte-identical files.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from medadv_desktop.errors import InvalidArgumentError

SYNTHETIC_NOTICE = "MedAdv synthetic demo data - not for clinical use"
PATIENT_NAME = "SYNTHETIC^DEMO"
PATIENT_ID = "MEDADV-DEMO"
RESCALE_INTERCEPT = -1024
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def demo_uid(*parts: object) -> str:
    """A UID derived only from ``parts`` (seed, split, index...): deterministic."""
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["medadv-demo", *(str(p) for p in parts)]))


@dataclass(frozen=True)
class SliceGeometry:
    """Where a slice sits: pixel spacing (row, col) mm, slice thickness mm, position mm."""

    pixel_spacing: tuple[float, float]
    slice_thickness: float = 1.0
    position_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def ct_slice_dataset(hu: np.ndarray, *, study_uid: str, series_uid: str, sop_uid: str,
                     frame_uid: str, geometry: SliceGeometry, instance_number: int = 1,
                     series_number: int = 1, series_description: str = SYNTHETIC_NOTICE,
                     image_comments: str = SYNTHETIC_NOTICE):
    """A pydicom ``FileDataset`` for one CT slice of HU values ((rows, cols) integers)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian

    hu = np.asarray(hu)
    if hu.ndim != 2:
        raise InvalidArgumentError("a CT slice must be 2-D (rows, cols)")
    stored = (hu.astype(np.int32) - RESCALE_INTERCEPT).clip(-32768, 32767).astype("<i2")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(CT_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationVersionName = "MEDADV_DEMO"

    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)   # in memory: no file name
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "MedAdv Desktop (synthetic)"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = SYNTHETIC_NOTICE
    ds.SeriesDescription = series_description
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.PatientIdentityRemoved = "YES"
    ds.BurnedInAnnotation = "NO"
    ds.SliceThickness = f"{geometry.slice_thickness:g}"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "DEMO"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [f"{v:.4f}".rstrip("0").rstrip(".") or "0" for v in geometry.position_mm]
    ds.ImageOrientationPatient = [f"{v:g}" for v in geometry.orientation]
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.ImageComments = image_comments
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(hu.shape[0]), int(hu.shape[1])
    ds.PixelSpacing = [f"{v:.6g}" for v in geometry.pixel_spacing]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.PixelData = stored.tobytes()
    return ds


def dataset_bytes(ds) -> bytes:
    """Serialise a dataset as a DICOM Part 10 file."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
