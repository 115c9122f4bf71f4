"""Acquisition and archive corruptions: how a model holds up to the artefacts scanners and PACS produce.

One module per corruption, registered by name on import, as the attacks are:
``create_corruption("ct_dose", severity=3, seed=0)`` builds one, ``available()``
lists the names, ``default_corruptions("MR")`` those whose physics fits a
modality, and each class's ``schema()`` its parameters (the same
:class:`~medadv_desktop.engine.attacks.spec.ParamSpec` as the attacks, for the
GUI forms and CLI options). :func:`corrupt_study` corrupts a study;
:func:`corrupt_native_batch` / :func:`corrupt_unit_batch` a batch for the
evaluation.

Every corruption works on native units (HU for CT) in float32 arrays of shape
(S, H, W) or (S, H, W, C), returns a new array of the same shape, is the
identity at severity 0, is calibrated in physical terms at severities 1..5
(dose fraction, SNR, FWHM in mm, ghost intensity, compression ratio, ...:
see each docstring and the README table) and is deterministic under its seed.

Library choice (measured; numbers and commands in the README section
"Acquisition-artefact robustness"): the corruptions are MedAdv's own numpy
code plus the codecs the project already ships (Pillow for JPEG,
pylibjpeg-openjpeg for JPEG 2000). TorchIO 1.2.1 (the richest MR artefacts:
motion, ghosting, spike, bias field) pulls SimpleITK, scipy, pydantic, rich,
typer and more: +452 MB installed over torch + numpy, +1.7-2.7 s import after
torch. MONAI 1.6.1 needs only torch and numpy: +16 MB, but +2.1-2.5 s import
after torch, for six of the fifteen corruptions (Rician noise, bias field,
Gibbs, spike, Gaussian blur, gamma), mostly random-range transforms that would
still need MedAdv's physical calibration and seeding around them (its Rician,
Gibbs, spike and bias field were 2-3x slower per 64-pixel image than the code
here), and none of CT dose noise in HU, motion, ghosting, resolution loss,
slice thickness or the compression round trips. This package adds 0.25 s of
import and no dependency; each corruption is a few lines of FFT or matrix
algebra, tested against its documented physical statistic.
"""

import importlib

from medadv_desktop.engine.corruptions.apply import (
    CorruptedStudy,
    corrupt_native_batch,
    corrupt_study,
    corrupt_unit_batch,
)
from medadv_desktop.engine.corruptions.base import (
    COMMON_PARAMS,
    CORRUPTIONS,
    MAX_SEVERITY,
    MODALITY_GROUPS,
    SEVERITIES,
    Corruption,
    CorruptionConfigError,
    CorruptionRecord,
    ImageContext,
    available,
    create_corruption,
    default_corruptions,
    get_corruption,
    modality_group,
    register,
)

#: the built-in corruptions, one module each, registered in this order (the order of available() and of
#: the tables): noise, k-space, resolution, grey scale, archive
BUILTIN = ("ct_dose", "rician", "bias_field", "motion", "ghosting", "spike", "gibbs", "blur", "resolution",
           "slice_thickness", "gamma", "contrast", "jpeg", "jpeg2000", "quantize")
for _module in BUILTIN:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = [
    "BUILTIN", "COMMON_PARAMS", "CORRUPTIONS", "MAX_SEVERITY", "MODALITY_GROUPS", "SEVERITIES", "CorruptedStudy",
    "Corruption", "CorruptionConfigError", "CorruptionRecord", "ImageContext", "available", "corrupt_native_batch",
    "corrupt_study", "corrupt_unit_batch", "create_corruption", "default_corruptions", "get_corruption",
    "modality_group", "register",
]
