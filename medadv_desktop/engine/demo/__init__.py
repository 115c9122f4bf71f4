"""Synthetic demo task: labelled CT patches, a demo study and (in resources/) a demo model.

Everything here is a *synthetic demo task, not for clinical use*: real CT
pixels from scans that ship with pydicom / pydicom-data, with synthetic
lesions inserted.
"""

from medadv_desktop.engine.demo.dataset import (
    DEFAULT_N_TEST, DEFAULT_N_TRAIN, DemoDatasetInfo, demo_dataset_job, write_demo_dataset,
)
from medadv_desktop.engine.demo.dicom_writer import SYNTHETIC_NOTICE
from medadv_desktop.engine.demo.synthesis import (
    CLASS_NAMES, PATCH_SIZE, DemoPatch, Lesion, make_patch, make_split_arrays,
)

__all__ = [
    "CLASS_NAMES", "DEFAULT_N_TEST", "DEFAULT_N_TRAIN", "PATCH_SIZE", "SYNTHETIC_NOTICE",
    "DemoDatasetInfo", "DemoPatch", "Lesion", "demo_dataset_job", "make_patch",
    "make_split_arrays", "write_demo_dataset",
]
