"""The corruption contract: image context, parameter schema, base class, record, registry.

A corruption degrades a study's pixels *in their native units* (HU for CT,
the scanner's own values for MR and X-ray) the way an acquisition or an
archive degrades them. It is the physically right place: noise, k-space and
compression act on what the scanner and the PACS store, before the model
card's intensity mapping (window, min-max) turns the study into the [0, 1]
image the model sees.

A subclass sets ``name``, ``label``, ``description``, ``modalities`` (the
modality groups it is meant for, see :data:`MODALITY_GROUPS`), ``params``
(physical parameters that override the severity table; default ``None``
means "from the severity") and implements :meth:`Corruption.physical` (the
physical parameters at this severity for this image) and
:meth:`Corruption._corrupt` (the work, on a float32 ``(S, C, H, W)`` array).

Severity 0 is the identity (a float32 copy); severities 1..5 are calibrated in
physical terms (dose fraction, SNR, FWHM in mm, compression ratio, ...),
documented in each corruption's docstring and in the README table. All
randomness comes from a generator seeded by ``(seed, corruption name)``: the
same seed gives the same result on every machine. The package imports no
torch (parameters use the torch-free :class:`~medadv_desktop.engine.attacks.spec.ParamSpec`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from medadv_desktop.engine.attacks.spec import ParamSpec
from medadv_desktop.errors import AttackConfigError, ModelInputError

SEVERITIES = (0, 1, 2, 3, 4, 5)
MAX_SEVERITY = 5

#: modality groups: which corruptions apply, and how native units are stored (see :func:`modality_group`)
MODALITY_GROUPS = ("CT", "MR", "XR", "OT")

#: DICOM modalities of projection X-ray imaging (computed / digital radiography, mammography, fluoroscopy, ...)
XRAY_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "MG", "PX", "IO", "RF", "XA"})

#: CT storage range in HU: 12 bits stored with rescale intercept -1024, as CT scanners write them
CT_STORAGE_RANGE = (-1024.0, 3071.0)


def modality_group(modality: str) -> str:
    """``CT``, ``MR``, ``XR`` (projection X-ray: CR, DX, MG, ...) or ``OT`` (anything else)."""
    m = (modality or "").upper()
    if m == "CT":
        return "CT"
    if m == "MR":
        return "MR"
    if m in XRAY_MODALITIES:
        return "XR"
    return "OT"


class CorruptionConfigError(AttackConfigError):
    """A corruption, severity or corruption parameter is unknown, out of range or does not fit the image.

    A subclass of :class:`AttackConfigError` so that front ends which already
    report parameter errors (``Parameter 'severity': ...``) report these alike.
    """


@dataclass(frozen=True)
class ImageContext:
    """What a corruption needs to know about an image besides its pixels.

    ``spacing`` is (slice, row, col) in mm, as in :class:`~medadv_desktop.engine.io.study.Study`;
    ``units`` "HU" for CT. Build one from a study with :meth:`from_study`.
    """

    modality: str = "OT"
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    units: str = ""

    @property
    def group(self) -> str:
        return modality_group(self.modality)

    @property
    def is_hu(self) -> bool:
        return self.group == "CT" or self.units.upper() == "HU"

    @classmethod
    def from_study(cls, study: Any) -> ImageContext:
        spacing = tuple(float(s) if s and np.isfinite(s) and s > 0 else 1.0 for s in study.spacing)
        return cls(str(study.modality or "OT"), spacing, str(study.units or ""))  # type: ignore[arg-type]


@dataclass(frozen=True)
class CorruptionRecord:
    """What was done to an image, in physical terms: for result files, reports and the viewer.

    ``parameters`` are the physical parameters used (e.g. ``dose_fraction``,
    ``added_noise_sd_hu``); ``measured`` what the corruption measured while
    running (e.g. ``compression_ratio`` achieved, the JPEG ``quality``).
    """

    corruption: str
    label: str
    severity: int
    seed: int
    modality: str
    units: str
    parameters: dict[str, Any] = field(default_factory=dict)
    measured: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "corruption": self.corruption, "label": self.label, "severity": self.severity, "seed": self.seed,
            "modality": self.modality, "units": self.units,
            "parameters": _jsonable(self.parameters), "measured": _jsonable(self.measured),
        }


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, (np.floating, float)):
            out[k] = round(float(v), 6)
        elif isinstance(v, (np.integer, int)) and not isinstance(v, bool):
            out[k] = int(v)
        elif isinstance(v, (list, tuple)):
            out[k] = [round(float(x), 6) if isinstance(x, (float, np.floating)) else x for x in v]
        else:
            out[k] = v
    return out


COMMON_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("severity", "int", 1, 0, MAX_SEVERITY, "",
              "0: no change; 1 (mild) .. 5 (severe), calibrated in physical terms (see the corruption's table)."),
    ParamSpec("seed", "int", 0, 0, None, "", "Random seed: the same seed gives the same corrupted image."),
)


class Corruption:
    """Base class. Construct with severity, seed and optional physical overrides; call :meth:`apply`."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: modality groups the corruption is meant for (its physics); :func:`default_corruptions` uses it
    modalities: ClassVar[tuple[str, ...]] = MODALITY_GROUPS
    #: True: needs at least two slices (e.g. slice thickness)
    volume_only: ClassVar[bool] = False
    #: True: the corruption is defined in HU (refused on studies whose values are not HU)
    needs_hu: ClassVar[bool] = False
    #: True: one event for the whole volume (3-D physics, e.g. motion), not one per slice
    three_d: ClassVar[bool] = False
    #: DICOM Lossy Image Compression Method of a lossy compression round trip (ISO_10918_1, ISO_15444_1);
    #: a written corrupted study then says LossyImageCompression 01 with the ratio achieved
    lossy_method: ClassVar[str | None] = None
    #: severity 1..5 of the corruption's main physical parameter (documentation, README table)
    severity_table: ClassVar[dict[str, tuple[float, ...]]] = {}
    #: the unit of the values in ``severity_table``
    severity_unit: ClassVar[str] = ""
    params: ClassVar[tuple[ParamSpec, ...]] = ()

    def __init__(self, severity: int = 1, seed: int = 0, **params: Any) -> None:
        specs = {p.name: p for p in self.schema()}
        unknown = set(params) - set(specs)
        if unknown:
            raise CorruptionConfigError(
                f"unknown parameter for {self.label or self.name}; known: {', '.join(specs)}",
                parameter=sorted(unknown)[0])
        self.severity = int(_validated(specs["severity"], severity))
        self.seed = int(_validated(specs["seed"], seed))
        self.overrides: dict[str, Any] = {}
        for spec in self.params:
            value = params.get(spec.name, spec.default)
            self.overrides[spec.name] = None if value is None else _validated(spec, value)

    @classmethod
    def schema(cls) -> tuple[ParamSpec, ...]:
        return COMMON_PARAMS + cls.params

    @classmethod
    def table_for(cls, group: str) -> tuple[float, ...]:
        """Severity 1..5 values of the main parameter for a modality group."""
        return cls.severity_table.get(group) or cls.severity_table["default"]

    def level(self, context: ImageContext) -> float:
        """The main physical parameter at this severity (severity >= 1)."""
        return float(self.table_for(context.group)[self.severity - 1])

    # -- the work -------------------------------------------------------------
    def physical(self, x: np.ndarray, context: ImageContext) -> dict[str, Any]:
        """The physical parameters at this severity for this image ``(S, C, H, W)``."""
        raise NotImplementedError

    def _corrupt(self, x: np.ndarray, context: ImageContext, p: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        """Corrupt a float32 ``(S, C, H, W)`` array; returns the array and measured values."""
        raise NotImplementedError

    def rng(self, salt: int = 0) -> np.random.Generator:
        """The corruption's own generator: depends only on (seed, name, salt)."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, zlib.crc32(self.name.encode()), salt]))

    def check(self, pixels: np.ndarray, context: ImageContext) -> None:
        """Refuse an image the corruption is not defined for, with a reason a user can act on."""
        if self.needs_hu and not context.is_hu:
            raise CorruptionConfigError(
                f"{self.label} is defined in Hounsfield units and this study is {context.modality or 'unknown'} "
                f"(units '{context.units or 'unknown'}')", parameter="corruption",
                hint=f"Use it on CT studies; for {context.group} see default_corruptions('{context.modality}').")
        if self.volume_only and pixels.shape[0] < 2:
            raise CorruptionConfigError(f"{self.label} needs a volume (two or more slices); this image has one slice",
                                        parameter="corruption")
        if self.needs_hu and pixels.ndim == 4 and pixels.shape[3] > 1:
            raise CorruptionConfigError(f"{self.label} needs a greyscale CT image, not a colour one",
                                        parameter="corruption")

    def apply(self, pixels: np.ndarray, context: ImageContext | None = None,
              rng: np.random.Generator | None = None) -> tuple[np.ndarray, CorruptionRecord]:
        """Corrupt ``pixels`` (S, H, W) or (S, H, W, C) in native units.

        Returns a new float32 array of the same shape (the input is never
        changed) and the :class:`CorruptionRecord`. ``rng`` replaces the
        corruption's own seeded generator (the batch function passes one per
        sample).
        """
        context = context or ImageContext()
        arr = np.asarray(pixels)
        if arr.ndim not in (3, 4) or arr.size == 0:
            raise ModelInputError(
                f"A corruption needs an image of shape (slices, rows, cols[, channels]); got {arr.shape}.")
        if not np.isfinite(arr).all():
            raise ModelInputError("The image contains NaN or infinite values; it cannot be corrupted.")
        self.check(arr, context)
        x = np.ascontiguousarray(arr[:, None] if arr.ndim == 3 else np.moveaxis(arr, -1, 1), dtype=np.float32)
        params: dict[str, Any] = {}
        measured: dict[str, Any] = {}
        if self.severity == 0:
            out = x.copy()
        else:
            params = self.physical(x, context)
            out, measured = self._corrupt(x, context, params, rng if rng is not None else self.rng())
            out = np.asarray(out, dtype=np.float32)
        out = out[:, 0] if arr.ndim == 3 else np.moveaxis(out, 1, -1)
        record = CorruptionRecord(self.name, self.label, self.severity, self.seed, context.modality, context.units,
                                  params, measured)
        return np.ascontiguousarray(out, dtype=np.float32), record

    def describe(self, context: ImageContext | None = None) -> str:
        """One line: label, severity and the main physical parameter."""
        if self.severity == 0:
            return f"{self.label}, severity 0 (no change)"
        group = (context or ImageContext()).group
        value = self.table_for(group)[self.severity - 1]
        unit = self.severity_unit
        sep = "" if not unit or unit.startswith(":") else " "          # a ratio reads "340:1", not "340 :1"
        return f"{self.label}, severity {self.severity} ({value:g}{sep}{unit})"


def _validated(spec: ParamSpec, value: Any) -> Any:
    try:
        return spec.validate(value)
    except AttackConfigError as exc:
        raise CorruptionConfigError(str(exc).split(": ", 1)[-1], parameter=spec.name) from None


# -- registry -----------------------------------------------------------------
CORRUPTIONS: dict[str, type[Corruption]] = {}


def register(cls: type[Corruption]) -> type[Corruption]:
    CORRUPTIONS[cls.name] = cls
    return cls


def _load_builtin() -> None:
    if not CORRUPTIONS:
        import medadv_desktop.engine.corruptions  # noqa: F401  (registers on import)


def available() -> list[str]:
    """Names of all corruptions, in registration order."""
    _load_builtin()
    return list(CORRUPTIONS)


def get_corruption(name: str) -> type[Corruption]:
    _load_builtin()
    try:
        return CORRUPTIONS[str(name).strip().lower().replace("-", "_")]
    except KeyError:
        raise CorruptionConfigError(f"no corruption named '{name}'; available: {', '.join(CORRUPTIONS)}",
                                    parameter="corruption") from None


def create_corruption(name: str, severity: int = 1, seed: int = 0, **params: Any) -> Corruption:
    return get_corruption(name)(severity=severity, seed=seed, **params)


def default_corruptions(modality: str, *, volume: bool = False) -> list[str]:
    """The corruptions whose physics fits a modality (CT, MR, X-ray, other), in registration order.

    ``volume``: include those that need two or more slices (slice thickness).
    """
    _load_builtin()
    group = modality_group(modality)
    return [name for name, cls in CORRUPTIONS.items() if group in cls.modalities and (volume or not cls.volume_only)]
