"""Study input/output: DICOM, NIfTI and PNG/JPEG/TIFF readers, de-identification, writers.

Public API::

    from medadv_desktop.engine.io import open_path, open_study, Study, LoadReport
    report = open_path("/data/ct_series")        # LoadReport(studies, failures)
    study = open_study("CT_small.dcm")           # first study, or a StudyError
    report = run_job(open_path_job(folder, cancel=token), on_progress)   # GUI worker form

pydicom, nibabel and Pillow are imported only when a file is opened.
"""

from medadv_desktop.engine.io.reader import classify, load_file, open_path, open_path_job, open_study
from medadv_desktop.engine.io.study import (
    CT_DEFAULT_PRESETS, DisplayInfo, HeaderElement, LoadReport, ModalityEvidence, PatientGeometry, Study,
    VolumeAxis, WindowPreset, normalize_modality, with_modality,
)

__all__ = ["CT_DEFAULT_PRESETS", "DisplayInfo", "HeaderElement", "LoadReport", "ModalityEvidence",
           "PatientGeometry", "Study", "VolumeAxis", "WindowPreset", "classify", "load_file", "normalize_modality",
           "open_path", "open_path_job", "open_study", "with_modality"]
